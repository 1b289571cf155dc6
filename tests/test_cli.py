"""``braggsynth inpaint`` and ``braggsynth finetune`` as a beamline user runs them: masks from what the user has,
one-line errors that never cost data, a fine-tuning that helps."""

from __future__ import annotations

import subprocess
import sys

import h5py
import numpy as np
import pytest
import tifffile
from conftest import BRAGGSYNTH, gap_pcc, one_line_error, read_filled
from synthetic_patches import fringe_volume

from braggsynth import io
from braggsynth.cli import main
from braggsynth.data import patches
from braggsynth.simulate import detector


def maxipix_scan(shape=(48, 64, 64), seed=8, max_counts=1e4):
    """Noisy fringe counts with a MAXIPIX cross (6 px) and its mask."""
    rng = np.random.default_rng(seed)
    truth = rng.poisson(fringe_volume(shape, rng, max_counts=max_counts)).astype(np.float32)
    mask = detector.gap_planes(shape, "cross", (shape[1] // 2 - 2, shape[2] // 2 + 3), 6)
    return truth, mask


def test_a_tiff_scan_without_mask_is_filled_from_one_command(tmp_path):
    """The installed command on a MAXIPIX-like TIFF stack with zero gap stripes: gaps found, filled, reported."""
    truth, mask = maxipix_scan()
    tifffile.imwrite(tmp_path / "scan.tif", np.where(mask, 0, truth).astype(np.uint16))
    result = subprocess.run([BRAGGSYNTH, "inpaint", str(tmp_path / "scan.tif"), str(tmp_path / "filled.cxi")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "a 6 px horizontal gap at y = 27-32 and a 6 px vertical gap at x = 32-37 (found in the data)" \
        in result.stderr
    assert "oneDNN" not in result.stderr and "absl" not in result.stderr  # no TensorFlow start-up noise
    filled_line, share_line = result.stdout.strip().splitlines()[-2:]
    assert filled_line.startswith(f"filled {int(mask.sum()):,} voxels with inpainting.keras; its 68 % interval "
                                  "beside it; window spread median")
    assert filled_line.endswith(f"wrote {tmp_path / 'filled.cxi'}")
    filled, filled_mask, spread, attrs = read_filled(tmp_path / "filled.cxi")
    assert np.array_equal(filled_mask, mask) and attrs["inpaint" + "ed_voxels"] == mask.sum()
    assert np.array_equal(filled[~mask], truth[~mask])
    assert gap_pcc(filled, truth, mask) > 0.8
    assert np.all(spread[~mask] == 0) and np.nanmax(spread[mask]) > 0 and np.all(np.nan_to_num(spread) >= 0)
    share = filled[mask].sum() / filled.sum()
    assert share_line.startswith(f"the gaps hold {100 * share:.1f} % of the photons (by the fill)")
    assert "--choose-mode" in share_line
    with h5py.File(tmp_path / "filled.cxi", "r") as h5:
        lower, upper = h5["entry_1/data_1/inpainted_lower"][()], h5["entry_1/data_1/inpainted_upper"][()]
        assert h5["entry_1/data_1/inpainted_lower"].attrs["level"] == pytest.approx(0.68)
    # (a calibrated interval need not hold the fill: where the model runs low, both bounds lie above it)
    assert np.all(upper[mask] >= lower[mask]) and np.mean(upper[mask] > lower[mask]) > 0.99
    assert np.array_equal(lower[~mask], truth[~mask]) and np.array_equal(upper[~mask], truth[~mask])
    # the shipped model's calibrated interval holds the truth about as often as it says
    inside = np.mean((truth[mask] >= lower[mask]) & (truth[mask] <= upper[mask]))
    assert 0.45 < inside < 0.9


@pytest.mark.parametrize("suffix", [".npy", ".npz", ".h5", ".tif"])
@pytest.mark.parametrize("frames", [False, True])
def test_a_mask_file_of_any_format_and_shape(tmp_path, suffix, frames, tiny_model_path):
    truth, mask = maxipix_scan((36, 48, 40))
    mask_array = mask[0] if frames else mask
    np.save(tmp_path / "scan.npy", np.where(mask, 0, truth))  # zeros in the gap, but the mask file decides
    path = tmp_path / f"mask{suffix}"
    if suffix == ".npy":
        np.save(path, mask_array)
    elif suffix == ".npz":
        np.savez(path, bad_pixels=mask_array.astype(np.uint8))
    elif suffix == ".h5":
        with h5py.File(path, "w") as h5:
            h5["mask"] = mask_array.astype(np.uint8)
    else:
        tifffile.imwrite(path, mask_array.astype(np.uint8))
    assert main(["inpaint", str(tmp_path / "scan.npy"), str(tmp_path / "out.cxi"), "--mask", str(path),
                 "--model", tiny_model_path]) == 0
    filled, filled_mask, _, _ = read_filled(tmp_path / "out.cxi")
    assert np.array_equal(filled_mask, mask) and np.all(np.isfinite(filled))


def test_a_detector_preset_and_region_of_interest_give_the_mask(tmp_path, tiny_model_path, capsys):
    truth, _ = maxipix_scan((36, 48, 40))
    mask = detector.frame_gaps("maxipix", (230, 240), truth.shape)  # rows 255:261 -> 25:31, columns -> 15:21
    tifffile.imwrite(tmp_path / "scan.tif", np.where(mask, 7, truth))  # gap pixels not even zero
    assert main(["inpaint", str(tmp_path / "scan.tif"), str(tmp_path / "out.cxi"), "--detector", "maxipix",
                 "--roi", "230", "240", "--model", tiny_model_path]) == 0
    assert "a 6 px horizontal gap at y = 25-30 and a 6 px vertical gap at x = 15-20 (maxipix gaps" \
        in capsys.readouterr().err
    assert np.array_equal(read_filled(tmp_path / "out.cxi")[1], mask)


def test_eiger_sentinels_in_an_hdf5_file_are_found(tmp_path, tiny_model_path, capsys):
    truth, _ = maxipix_scan((36, 48, 40))
    counts = truth.astype(np.uint32)
    mask = detector.gap_planes(counts.shape, "horizontal", (24, 0), 12)
    counts[mask] = np.iinfo(np.uint32).max
    with h5py.File(tmp_path / "scan.h5", "w") as h5:
        h5["entry_1/data_1/data"] = counts
    assert main(["inpaint", str(tmp_path / "scan.h5"), str(tmp_path / "out.cxi"), "--model", tiny_model_path]) == 0
    assert "a 12 px horizontal gap at y = 18-29 (found in the data)" in capsys.readouterr().err
    filled, filled_mask, _, _ = read_filled(tmp_path / "out.cxi")
    assert np.array_equal(filled_mask, mask) and filled.max() < 1e6


def test_help_answers_without_importing_tensorflow():
    code = ("import sys\nfrom braggsynth.cli import main\n"
            "for command in ('inpaint', 'finetune', 'phase'):\n"
            "    try:\n        main([command, '--help'])\n"
            "    except SystemExit as done:\n        assert done.code == 0\n"
            "try:\n    main(['inpaint', 'a.tif', 'b.cxi', '--batch-size', '0'])\nexcept SystemExit as done:\n"
            "    assert done.code == 2\n"
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'deep learning imported'\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "--detector {eiger2m,eiger4m,maxipix}" in result.stdout and "fine-tuned model" in result.stdout
    assert "--gaps MODE" in result.stdout and "3*(20*ER+180*HIO)+20*ER" in result.stdout


@pytest.mark.parametrize("value", ["-1", "0"])
def test_a_batch_size_below_one_is_refused(tmp_path, capsys, value):
    line = one_line_error(capsys, ["inpaint", "scan.cxi", str(tmp_path / "out.cxi"), "--batch-size", value], 2)
    assert line == f"braggsynth inpaint: error: argument --batch-size: must be >= 1, got {value} " \
                   "(see braggsynth inpaint --help)"


def test_writing_over_the_scan_is_refused_and_the_scan_is_kept(tmp_path, capsys):
    truth, mask = maxipix_scan((36, 48, 40))
    io.write_cxi_intensity(tmp_path / "same.cxi", np.where(mask, 0, truth), mask)
    before = (tmp_path / "same.cxi").read_bytes()
    line = one_line_error(capsys, ["inpaint", str(tmp_path / "same.cxi"), str(tmp_path / "." / "same.cxi")])
    assert line.endswith("same.cxi: is the scan itself; write the result to another file")
    assert (tmp_path / "same.cxi").read_bytes() == before


def test_an_npy_scan_without_mask_is_searched_for_gaps_and_says_what_to_give(tmp_path, capsys):
    np.save(tmp_path / "scan.npy", np.random.default_rng(0).poisson(50.0, (36, 48, 40)).astype(np.float32))
    line = one_line_error(capsys, ["inpaint", str(tmp_path / "scan.npy"), str(tmp_path / "out.cxi")])
    assert "scan.npy: has no mask and no gap stripe of zeros, NaN or sentinels was found; give the gaps with " \
           "--mask FILE or --detector NAME --roi Y0 X0" in line


def test_a_model_file_that_is_no_keras_archive_says_so(tmp_path, capsys):
    truth, mask = maxipix_scan((36, 48, 40))
    io.write_cxi_intensity(tmp_path / "scan.cxi", np.where(mask, 0, truth), mask)
    (tmp_path / "model.keras").write_text("not a model")
    line = one_line_error(capsys, ["inpaint", str(tmp_path / "scan.cxi"), str(tmp_path / "out.cxi"),
                                   "--model", str(tmp_path / "model.keras")])
    assert "model.keras: not a Keras model archive as braggsynth training writes" in line
    line = one_line_error(capsys, ["inpaint", str(tmp_path / "scan.cxi"), str(tmp_path / "out.cxi"),
                                   "--model", str(tmp_path / "missing.keras")])
    assert line.endswith("missing.keras: no such model file")
    assert not (tmp_path / "out.cxi").exists()


def test_an_all_nan_volume_and_a_negative_voxel_name_the_file(tmp_path, capsys):
    np.save(tmp_path / "nan.npy", np.full((8, 40, 40), np.nan, np.float32))
    line = one_line_error(capsys, ["inpaint", str(tmp_path / "nan.npy"), str(tmp_path / "out.cxi")])
    assert line == f"braggsynth inpaint: error: {tmp_path / 'nan.npy'}: no measured voxel (every voxel is NaN, -1 " \
                   "or the type's largest value)"
    truth, mask = maxipix_scan((36, 48, 40))
    truth[5, 5, 5] = -3.0
    io.write_cxi_intensity(tmp_path / "negative.cxi", np.where(mask, 0, truth), mask)
    line = one_line_error(capsys, ["inpaint", str(tmp_path / "negative.cxi"), str(tmp_path / "out.cxi")])
    assert f"{tmp_path / 'negative.cxi'}[entry_1/instrument_1/detector_1/data]: 1 voxels outside the gaps are " \
           "negative (down to -3)" in line


def test_debug_shows_the_traceback(tmp_path):
    np.save(tmp_path / "nan.npy", np.full((8, 40, 40), np.nan, np.float32))
    with pytest.raises(io.DataFileError, match="no measured voxel"):
        main(["inpaint", str(tmp_path / "nan.npy"), str(tmp_path / "out.cxi"), "--debug"])


def simulated_scan(shape, seed: int, max_counts: float = 1e5) -> np.ndarray:
    """Poisson counts (photons) of the 111 Bragg peak of an unrelaxed 9 nm Au octahedron, oversampling 3."""
    from braggsynth.simulate import scattering, shapes

    rng = np.random.default_rng(seed)
    atoms = shapes.build_particle({"kind": "octahedron", "element": "Au"}, size_nm=9.0)
    basis = scattering.grid_basis(atoms.positions, 3.0, scattering.random_rotation(rng, 20.0))
    reflection = scattering.reciprocal_vector((1, 1, 1), atoms.info["lattice_constant"])
    peak = scattering.intensity(scattering.bragg_peak(atoms.positions, reflection, basis, shape, backend="finufft"))
    return rng.poisson(peak * (max_counts / peak.max())).astype(np.uint32)


def test_an_eiger_scan_with_a_38_px_gap_is_filled_by_the_wide_model_above_biharmonic(tmp_path, capsys):
    """EIGER-like: uint32 counts of a simulated peak, a 38 px band of module-gap rows holding 2^32 - 1, no mask."""
    from braggsynth.models import SHIPPED_WIDE_MODEL
    from braggsynth.score.baselines import biharmonic_fill
    if not SHIPPED_WIDE_MODEL.is_file():
        pytest.fail(f"the package ships no wide-gap model at {SHIPPED_WIDE_MODEL}")
    truth = simulated_scan((64, 128, 96), seed=11)
    mask = detector.gap_planes(truth.shape, "horizontal", (60, 0), 38)
    with h5py.File(tmp_path / "eiger.h5", "w") as h5:
        h5["entry_1/data_1/data"] = np.where(mask, np.iinfo(np.uint32).max, truth)
    assert main(["inpaint", str(tmp_path / "eiger.h5"), str(tmp_path / "filled.cxi")]) == 0
    out, err = capsys.readouterr()
    assert "a 38 px horizontal gap at y = 41-78 (found in the data)" in err
    assert f"filled {int(mask.sum()):,} voxels with inpainting_wide.keras" in out
    filled, filled_mask, _, _ = read_filled(tmp_path / "filled.cxi")
    assert np.array_equal(filled_mask, mask)
    normalised, (low, high) = patches.normalise(truth, mask)
    biharmonic = patches.denormalise(biharmonic_fill(normalised, mask), low, high)
    model_pcc, biharmonic_pcc = gap_pcc(filled, truth, mask), gap_pcc(biharmonic, truth, mask)
    print(f"38 px EIGER gap, PCC: wide model {model_pcc:.4f}, biharmonic {biharmonic_pcc:.4f}")
    assert model_pcc > biharmonic_pcc


def foreign_models(folder) -> dict:
    """Keras models a user might give --model that are not braggsynth inpainting models (issue 18)."""
    import keras

    inputs = keras.Input((32, 32, 32, 2))
    unrelated = keras.Model(inputs, keras.layers.Conv3D(1, 3, padding="same")(inputs))
    one_by_one = keras.Sequential([keras.Input((32, 32, 32, 2)), keras.layers.Conv3D(1, 1)])
    dense = keras.Sequential([keras.Input((10,)), keras.layers.Dense(4)])
    paths = {}
    for name, model in (("unrelated", unrelated), ("one_by_one", one_by_one), ("dense", dense)):
        paths[name] = folder / f"{name}.keras"
        model.save(paths[name])
    return paths


def test_a_model_that_is_not_a_braggsynth_inpainting_model_is_refused_in_one_line(tmp_path, capsys):
    truth, mask = maxipix_scan((36, 48, 40))
    io.write_cxi_intensity(tmp_path / "scan.cxi", np.where(mask, 0, truth), mask)
    expected = {"unrelated": "its output is 'Conv3D', not the ResidualFill of its input",
                "one_by_one": "a Sequential model, expected the functional U-Net braggsynth builds",
                "dense": "a Sequential model, expected the functional U-Net braggsynth builds"}
    for name, path in foreign_models(tmp_path).items():
        for command in ("inpaint", "finetune"):
            output = tmp_path / ("out.cxi" if command == "inpaint" else "out.keras")
            line = one_line_error(capsys, [command, str(tmp_path / "scan.cxi"), str(output), "--model", str(path)])
            assert f"{path}: not a braggsynth inpainting model: {expected[name]}" in line, line
            assert not output.exists()


def tiny_model_with_correction(folder, bias: float) -> str:
    """The tiny residual model with its correction shifted by ``bias`` (normalised log units) everywhere."""
    import keras

    from braggsynth.learn.model import build_model, save_model

    keras.utils.set_random_seed(0)
    model = build_model(base_filters=4, depth=2)
    kernel, offset = model.get_layer("correction").get_weights()
    model.get_layer("correction").set_weights([kernel, np.full_like(offset, bias)])
    return str(save_model(model, folder / f"shifted_{bias}.keras"))


def test_inpaint_never_writes_negative_or_non_finite_counts(tmp_path, capsys):
    truth, mask = maxipix_scan((36, 48, 40))
    io.write_cxi_intensity(tmp_path / "scan.cxi", np.where(mask, 0, truth), mask)
    assert main(["inpaint", str(tmp_path / "scan.cxi"), str(tmp_path / "low.cxi"),
                 "--model", tiny_model_with_correction(tmp_path, -5.0)]) == 0
    filled = read_filled(tmp_path / "low.cxi")[0]
    assert filled[mask].min() == 0.0 and np.isfinite(filled).all()
    line = one_line_error(capsys, ["inpaint", str(tmp_path / "scan.cxi"), str(tmp_path / "nan.cxi"),
                                   "--model", tiny_model_with_correction(tmp_path, np.nan)])
    assert f"the model's fill is not finite in {int(mask.sum()):,} of the {int(mask.sum()):,} gap voxels; " \
           "nothing written" in line
    assert not (tmp_path / "nan.cxi").exists()


def test_a_folder_given_as_the_scan_or_the_output_says_so(tmp_path, capsys):
    (tmp_path / "scans").mkdir()
    line = one_line_error(capsys, ["inpaint", str(tmp_path / "scans"), str(tmp_path / "out.cxi")])
    assert line.endswith(f"{tmp_path / 'scans'}: is a folder, not a scan file; give the file (HDF5/CXI, .npy, .npz "
                         "or TIFF)")
    np.save(tmp_path / "scan.npy", np.ones((36, 48, 40), np.float32))
    (tmp_path / "out.cxi").mkdir()
    line = one_line_error(capsys, ["inpaint", str(tmp_path / "scan.npy"), str(tmp_path / "out.cxi")])
    assert line.endswith(f"{tmp_path / 'out.cxi'}: is a folder; give the output's file name")


def test_an_existing_output_is_replaced_with_a_notice_and_stale_partials_are_removed(tmp_path, capsys,
                                                                                   tiny_model_path):
    truth, mask = maxipix_scan((36, 48, 40))
    io.write_cxi_intensity(tmp_path / "scan.cxi", np.where(mask, 0, truth), mask)
    (tmp_path / "out.cxi").write_bytes(b"an earlier result")
    stale = tmp_path / ".out.cxi.k2j4h1.part"  # what a kill -9 during the write leaves
    stale.write_bytes(b"half a file")
    other = tmp_path / ".other.cxi.a1.part"
    other.write_bytes(b"another output's")
    assert main(["inpaint", str(tmp_path / "scan.cxi"), str(tmp_path / "out.cxi"), "--model", tiny_model_path]) == 0
    err = capsys.readouterr().err
    assert f"{tmp_path / 'out.cxi'}: removed .out.cxi.k2j4h1.part, left by an interrupted write" in err
    assert f"{tmp_path / 'out.cxi'}: exists; it is replaced once the new file is complete" in err
    assert not stale.exists() and other.exists() and h5py.is_hdf5(tmp_path / "out.cxi")


def test_a_stride_wider_than_the_window_and_a_missing_scan_fail_before_the_model_loads(tmp_path, tiny_model_path):
    truth, mask = maxipix_scan((36, 48, 40))
    io.write_cxi_intensity(tmp_path / "scan.cxi", np.where(mask, 0, truth), mask)
    code = ("import sys\nfrom braggsynth.cli import main\n"
            f"assert main(['inpaint', {str(tmp_path / 'scan.cxi')!r}, {str(tmp_path / 'out.cxi')!r}, '--model', "
            f"{tiny_model_path!r}, '--stride', '1000']) == 1\n"
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'deep learning imported'\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip().splitlines()[-1] == "braggsynth inpaint: error: --stride 1000: at most the " \
                                                     "model's window, 32 voxels"
    result = subprocess.run([BRAGGSYNTH, "finetune", str(tmp_path / "missing.h5"), str(tmp_path / "tuned.keras")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip() == f"braggsynth finetune: error: {tmp_path / 'missing.h5'}: no such file"


