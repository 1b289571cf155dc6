"""Every kind of file braggsynth writes opens in PyNX and cdiutils as it is: CXI 1.6 paths, a CXI pixel mask,
the geometry carried from input to output, units and NX_class everywhere."""

from __future__ import annotations

import json
import subprocess
import sys

import h5py
import numpy as np
import pytest

from braggsynth import io
from braggsynth.cli import main
from braggsynth.simulate import detector, frames, scattering, shapes

DETECTOR = "entry_1/instrument_1/detector_1"
SETTINGS = {"oversampling": [3.0, 3.5], "oversampling_per_axis": True, "max_rotation_deg": 180.0,
            "frame": "detector", "detector_fraction": 1.0,
            "detector_frame": {"energy_kev": [8.0, 10.0], "pixel_size_um": [55.0, 75.0],
                               "in_plane_angle_deg": [-15.0, 15.0]}}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """One file of each kind: a detector-frame peak, its recording, a measured intensity, the recording
    inpainted and phased by the commands; with the gap mask and the peak's geometry."""
    import keras

    from braggsynth.learn.model import build_model, save_model

    folder = tmp_path_factory.mktemp("cxi")
    atoms = shapes.build_particle({"kind": "octahedron", "element": "Au"}, size_nm=4.0)
    g = scattering.reciprocal_vector((1, 1, 1), atoms.info["lattice_constant"])
    geometry = frames.draw_pattern(np.random.default_rng(4), atoms.positions, g, SETTINGS)
    amplitude = scattering.bragg_peak(atoms.positions, g, geometry.basis, (32, 32, 32))
    io.write_peak(folder / "peak.h5", amplitude=amplitude, reflection=(1, 1, 1), reflection_vector=g,
                  geometry=geometry, backend="finufft", tolerance=1e-6, amplitude_dtype="complex64",
                  natoms=len(atoms), record={})
    counts = np.random.default_rng(1).poisson(1e5 * np.abs(amplitude) ** 2 / np.abs(amplitude).max() ** 2)
    gap = detector.gap_planes(counts.shape, "vertical", (0, 14), 4)
    io.write_detector_pattern(folder / "recording.h5", gapped=np.where(gap, 0, counts), mask=gap, counts=counts,
                              expected=counts, record={}, geometry=io.read_geometry(folder / "peak.h5"))
    io.write_cxi_intensity(folder / "measured.cxi", np.where(gap, 0, counts), gap)
    keras.utils.set_random_seed(0)
    model = save_model(build_model(base_filters=4, depth=2), folder / "tiny.keras")
    for argv in (["inpaint", str(folder / "recording.h5"), str(folder / "inpainted.cxi"), "--model", str(model)],
                 ["inpaint", str(folder / "recording.h5"), str(folder / "inpainted_gap_as_mask.cxi"), "--model",
                  str(model), "--gap-as-mask"],
                 ["phase", str(folder / "recording.h5"), str(folder / "reconstruction.cxi"), "--gaps", "free",
                  "--starts", "1", "--sequence", "10*ER+20*HIO+10*ER", "--crop", "24"]):
        assert main(argv) == 0
    return folder, gap


KINDS = ("peak.h5", "recording.h5", "measured.cxi", "inpainted.cxi", "inpainted_gap_as_mask.cxi",
         "reconstruction.cxi")
WITH_GEOMETRY = ("peak.h5", "recording.h5", "inpainted.cxi", "inpainted_gap_as_mask.cxi", "reconstruction.cxi")


@pytest.mark.parametrize("name", KINDS)
def test_pynx_finds_the_intensity_and_the_mask_where_it_reads_them(files, name):
    folder, gap = files
    with h5py.File(folder / name, "r") as h5:
        assert h5["cxi_version"][()] == 160
        data = h5[f"{DETECTOR}/data"]
        assert data.ndim == 3 and data.dtype == np.float32 and data.attrs["axes"] == "rocking_angle:y:x"
        assert data.attrs["units"] in ("counts", "dimensionless")
        if name == "peak.h5":
            assert "mask" not in h5[DETECTOR]  # a peak has no unmeasured voxel
            return
        mask = h5[f"{DETECTOR}/mask"][()]
        assert mask.dtype == np.uint32 and set(np.unique(mask)) <= {0, io.PIXEL_IS_MISSING}
        expected = (np.zeros_like(gap) if name == "inpainted.cxi" else gap[io_crop(h5)]
                    if name == "reconstruction.cxi" else gap)
        assert np.array_equal(mask != 0, expected)
        if name.startswith("inpainted"):
            assert np.array_equal(h5["entry_1/data_1/filled"][()] != 0, gap)
            assert np.all(data[()][gap] > 0)  # the filled values, where PyNX reads the intensity
        # a search of the file for a mask by name finds the pixel mask, whichever link it meets first
        # (a reconstruction's image_1/mask is its support, as PyNX writes it)
        found = []
        h5.visit_links(lambda path: found.append(path) if "mask" in path.rsplit("/", 1)[-1] else None)
        for path in found:
            if path != "entry_1/image_1/mask":
                assert np.array_equal(h5[path][()], mask), path


def io_crop(h5):
    return tuple(slice(start, stop) for start, stop in h5["entry_1/result_1/crop"][()])


@pytest.mark.parametrize("name", KINDS)
def test_every_group_has_its_nx_class_and_every_dimensional_value_its_units(files, name):
    folder, _ = files
    with h5py.File(folder / name, "r") as h5:
        groups = [h5[path] for path in _names(h5) if isinstance(h5[path], h5py.Group)]
        assert groups and all("NX_class" in group.attrs for group in groups), \
            [group.name for group in groups if "NX_class" not in group.attrs]
        entry = h5["entry_1"]
        for key, units in io.GEOMETRY_UNITS.items():
            if units and key in entry:
                assert entry[key].attrs["units"] == units, key
        if name in WITH_GEOMETRY:
            drawn = entry["result_1/detector_frame"]
            assert {key: drawn[key].attrs["units"] for key in ("energy_kev", "pixel_size_m", "delta_deg")} \
                == {"energy_kev": "keV", "pixel_size_m": "m", "delta_deg": "degree"}


def _names(h5) -> list[str]:
    names = []
    h5.visit(names.append)
    return names


@pytest.mark.parametrize("name", ("recording.h5", "inpainted.cxi", "reconstruction.cxi"))
def test_the_geometry_of_the_input_is_carried_to_every_output(files, name):
    folder, _ = files
    expected, carried = io.read_geometry(folder / "peak.h5"), io.read_geometry(folder / name)
    assert expected.keys() == carried.keys() and expected["frame"] == "detector"
    for key in ("instrument_1/source_1/energy", "instrument_1/detector_1/distance",
                "instrument_1/detector_1/x_pixel_size", "result_1/q_basis", "result_1/detector_frame/delta_deg"):
        assert np.array_equal(carried[key], expected[key]), key


def test_a_reconstruction_is_laid_out_as_pynx_writes_one(files):
    """cdiutils reads a PyNX result's object at entry_1/data_1/data and its support at entry_1/image_1/support."""
    folder, _ = files
    with h5py.File(folder / "reconstruction.cxi", "r") as h5:
        obj = h5["entry_1/data_1/data"][()]
        assert obj.dtype == np.complex64 and obj.shape == (24, 24, 24)
        assert np.array_equal(obj, h5["entry_1/image_1/data"][()])
        assert 0 < h5["entry_1/image_1/support"][()].sum() < obj.size
        assert h5["entry_1/result_1/crop"].shape == (3, 2) and list(h5["entry_1/result_1/scan_shape"]) == [32] * 3


CDIUTILS_READS = """
import json, sys
import numpy as np
from cdiutils.io import load_cxi
out = {}
for path in sys.argv[1:]:
    everything = load_cxi(path)
    named = {key: load_cxi(path, key) for key in ("mask", "q_basis", "support")}
    out[path] = {"keys": sorted(everything),
                 **{key: np.asarray(value).tolist() for key, value in named.items() if not isinstance(value, dict)}}
print(json.dumps(out))
"""


def test_cdiutils_loads_every_file_and_finds_the_mask_and_the_q_basis(files):
    """cdiutils' load_cxi, whole and by name (its search waited forever on the files of issue 18)."""
    pytest.importorskip("cdiutils", reason="cdiutils (an optional test dependency) is not installed")
    folder, gap = files
    paths = [str(folder / name) for name in KINDS]
    result = subprocess.run([sys.executable, "-c", CDIUTILS_READS, *paths], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    read = json.loads(result.stdout.strip().splitlines()[-1])
    q_basis = io.read_geometry(folder / "peak.h5")["result_1/q_basis"]
    for name in KINDS:
        got = read[str(folder / name)]
        assert "mask" in got or name == "peak.h5", name
        if name in WITH_GEOMETRY:
            assert np.allclose(got["q_basis"], q_basis, rtol=0, atol=0), name
        assert "data" in got["keys"] or "instrument_1" in got["keys"], (name, got["keys"])
    assert np.array_equal(np.asarray(read[str(folder / "recording.h5")]["mask"]) != 0, gap)
    assert not np.any(read[str(folder / "inpainted.cxi")]["mask"])
    assert np.array_equal(np.asarray(read[str(folder / "inpainted_gap_as_mask.cxi")]["mask"]) != 0, gap)
    assert np.asarray(read[str(folder / "reconstruction.cxi")]["support"]).shape == (24, 24, 24)
