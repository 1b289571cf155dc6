import h5py
import numpy as np
import pytest
import tifffile

from braggsynth import io
from braggsynth.data import measured, patches
from braggsynth.simulate import detector

REFERENCE = "S11_modes_252_210_200_prebinning_1_2_2.h5"


@pytest.fixture
def volume():
    rng = np.random.default_rng(0)
    data = rng.poisson(50.0, (6, 10, 12)).astype(np.float32)
    mask = np.zeros(data.shape, dtype=bool)
    mask[:, 4:6, :] = True
    return data, mask


def test_cxi_round_trip_with_mask(tmp_path, volume):
    data, mask = volume
    io.write_cxi_intensity(tmp_path / "scan.cxi", data, mask, record={"source": "test"})
    intensity, read_mask = io.read_measured(tmp_path / "scan.cxi")
    assert intensity.dtype == np.float32 and np.array_equal(intensity, data)
    assert np.array_equal(read_mask, mask)
    with h5py.File(tmp_path / "scan.cxi") as h5:
        assert h5["cxi_version"][()] == 160 and h5["entry_1/instrument_1/detector_1/mask"].dtype == np.uint32


def test_hdf5_keys_root_mask_and_2d_detector_mask(tmp_path, volume):
    data, mask = volume
    with h5py.File(tmp_path / "root.h5", "w") as h5:
        h5["scan/frames"] = data.astype(np.uint32)
        h5["mask"] = mask[0].astype(np.int8) * 3  # one detector mask for every frame, nonzero = masked
    intensity, read_mask = io.read_measured(tmp_path / "root.h5", key="scan/frames")
    assert np.array_equal(intensity, data) and np.array_equal(read_mask, mask)
    with h5py.File(tmp_path / "nomask.h5", "w") as h5:
        h5["entry_1/data_1/data"] = data
    assert io.read_measured(tmp_path / "nomask.h5")[1] is None


def test_numpy_and_tiff_readers(tmp_path, volume):
    data, mask = volume
    np.save(tmp_path / "scan.npy", data.astype(np.int32))
    np.savez(tmp_path / "scan.npz", data=data, mask=mask)
    np.savez(tmp_path / "other.npz", frames=data, bad=mask)
    tifffile.imwrite(tmp_path / "scan.tif", data.astype(np.uint16))
    assert np.array_equal(io.read_measured(tmp_path / "scan.npy")[0], data)
    intensity, read_mask = io.read_measured(tmp_path / "scan.npz")
    assert np.array_equal(intensity, data) and np.array_equal(read_mask, mask)
    intensity, read_mask = io.read_measured(tmp_path / "other.npz", key="frames", mask_key="bad")
    assert np.array_equal(intensity, data) and np.array_equal(read_mask, mask)
    intensity, read_mask = io.read_measured(tmp_path / "scan.tif")
    assert intensity.shape == data.shape and np.array_equal(intensity, data) and read_mask is None


def test_non_finite_voxels_become_masked(tmp_path, volume):
    data, _ = volume
    data = data.copy()
    data[1, 2, 3] = np.nan
    np.save(tmp_path / "nan.npy", data)
    intensity, mask = io.read_measured(tmp_path / "nan.npy")
    assert mask.sum() == 1 and mask[1, 2, 3] and intensity[1, 2, 3] == 0


def bad_files(folder, volume):
    data, mask = volume
    (folder / "junk.h5").write_bytes(b"this is not HDF5")
    io.write_cxi_intensity(folder / "good.cxi", data)
    np.save(folder / "flat.npy", data[0])
    np.savez(folder / "mismatch.npz", data=data, mask=mask[:, :5])
    np.save(folder / "objects.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    (folder / "junk.tif").write_bytes(b"II*\x00garbage")
    return [
        ("absent.h5", {}, "no such file"),
        ("junk.h5", {}, "cannot be read as HDF5"),
        ("good.cxi", {"key": "entry_1/data_1/nope"}, "no dataset 'entry_1/data_1/nope'"),
        ("good.cxi", {"mask_key": "bad_pixels"}, "no mask dataset 'bad_pixels'"),
        ("flat.npy", {}, r"shape \(10, 12\), expected 3D"),
        ("mismatch.npz", {}, r"mask shape \(6, 5, 12\) does not match data shape \(6, 10, 12\)"),
        ("objects.npy", {}, "cannot be read as numpy without pickle"),
        ("junk.tif", {}, "cannot be read as TIFF"),
        ("scan.mat", {}, "unknown format '.mat'"),
    ]


def test_bad_files_give_one_line_naming_the_file(tmp_path, volume):
    (tmp_path / "scan.mat").write_bytes(b"")
    for name, kwargs, message in bad_files(tmp_path, volume):
        with pytest.raises(io.DataFileError, match=message) as error:
            io.read_measured(tmp_path / name, **kwargs)
        text = str(error.value)
        assert text.startswith(str(tmp_path / name)) and "\n" not in text, text


def test_peak_from_object_of_a_known_box():
    obj = np.zeros((4, 6, 8), dtype=np.complex64)
    obj[1:3, 2:4, 3:6] = 2.0
    peak = measured.peak_from_object(obj, (16, 16, 16))
    assert peak.shape == (16, 16, 16)
    assert peak[8, 8, 8] == pytest.approx(peak.max()) == pytest.approx((2.0 * 12) ** 2)  # |sum of the object|^2
    assert peak.sum() == pytest.approx(16**3 * np.sum(np.abs(obj) ** 2))  # Parseval
    assert np.allclose(measured.peak_from_object(obj[None].repeat(2, axis=0), (16, 16, 16)), 2 * peak)
    with pytest.raises(ValueError, match="at least the object's"):
        measured.peak_from_object(obj, (16, 4, 16))


def test_reference_reconstruction_makes_a_measured_like_peak_and_patches(shared_data, tmp_path):
    with h5py.File(shared_data / REFERENCE) as h5:
        obj = h5["entry_1/image_1/data"][()]
    assert obj.shape == (1, 91, 116, 113)
    peak = measured.peak_from_object(obj, (128, 128, 128))
    centre = np.array(np.unravel_index(np.argmax(peak), peak.shape))
    assert np.all(np.abs(centre - 64) <= 3), centre  # the Bragg position sits at the centre
    assert peak.sum() == pytest.approx(128**3 * np.sum(np.abs(obj.astype(np.complex128)) ** 2), rel=1e-6)
    rng = np.random.default_rng(6)
    recorded = detector.simulate_detector(peak, rng, detector="eiger", max_counts_range=(1e5, 1e5),
                                          background=0.5, orientation_probabilities={"cross": 1})
    io.write_cxi_intensity(tmp_path / "S11_like.cxi", recorded.gapped, recorded.mask)
    intensity, mask = io.read_measured(tmp_path / "S11_like.cxi")
    assert np.array_equal(mask, recorded.mask)
    made = patches.make_patches(intensity, rng, count=40, excluded=mask)
    for z, y, x in made["corner"]:
        assert not mask[z:z + 32, y:y + 32, x:x + 32].any()
    assert np.all(np.isfinite(made["input"])) and made["input"].max() == pytest.approx(1.0)


def test_read_object_names_file_and_key(tmp_path):
    from braggsynth import io as bio

    path = tmp_path / "object.cxi"
    with bio.atomic_h5(path) as h5:
        h5["entry_1/image_1/data"] = np.ones((1, 4, 5, 6), dtype=np.complex64)
        h5["real"] = np.ones((4, 5, 6))
    assert bio.read_object(path).shape == (1, 4, 5, 6)
    with pytest.raises(bio.DataFileError, match="object.cxi: no dataset 'missing'"):
        bio.read_object(path, "missing")
    with pytest.raises(bio.DataFileError, match=r"object.cxi\[real\]: float64 array .* is not a complex 3D object"):
        bio.read_object(path, "real")
