"""Inpainting of whole volumes: window placement, bit-exact measured voxels, blending, CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # before TensorFlow loads: fast CPU 3D convolutions

import h5py
import keras
import numpy as np
import pytest

from braggsynth import io
from braggsynth.cli import main
from braggsynth.data.patches import gap_through_centre
from braggsynth.inpaint import gap_windows, inpaint
from braggsynth.learn.model import build_model
from braggsynth.score.baselines import linear_fill
from braggsynth.simulate.detector import gap_planes

SHAPE = (45, 70, 53)


@pytest.fixture(scope="module")
def tiny_model():
    keras.utils.set_random_seed(0)
    return build_model(base_filters=4, depth=2)


def linear_model(batch):
    """A stand-in for the network: 1D linear interpolation across the gap of each normalised window."""
    return np.stack([linear_fill(window[..., 0], window[..., 1] > 0.5) for window in batch])


def cross(shape=SHAPE, centre=(30, 20), width=6):
    return gap_planes(shape, "cross", centre, width)


def test_windows_cover_every_gap_voxel_of_a_cross_and_stay_inside():
    mask = cross()
    corners = gap_windows(mask, stride=16)
    covered = np.zeros_like(mask)
    for z, y, x in corners:
        assert 0 <= z <= SHAPE[0] - 32 and 0 <= y <= SHAPE[1] - 32 and 0 <= x <= SHAPE[2] - 32
        covered[z:z + 32, y:y + 32, x:x + 32] = True
    assert covered[mask].all()


def test_windows_put_a_stripe_where_training_patches_have_their_gap():
    mask = gap_planes((40, 96, 64), "horizontal", (50, 0), 6)
    corners = gap_windows(mask, stride=16)
    assert set(corners[:, 1]) == {50 - 16}
    window = mask[:32, 34:66, :32]
    assert np.array_equal(window, gap_through_centre(32, 6, "horizontal"))
    assert sorted(set(corners[:, 2])) == [0, 16, 32]
    assert sorted(set(corners[:, 0])) == [0, 8]


def test_stride_one_gives_the_dense_sliding_window():
    mask = gap_planes((40, 64, 48), "vertical", (0, 24), 6)
    assert len(gap_windows(mask, stride=1)) == (40 - 31) * (64 - 31)


def test_a_gap_too_wide_for_the_window_is_refused():
    with pytest.raises(ValueError, match="wider"):
        gap_windows(gap_planes((40, 96, 64), "horizontal", (48, 0), 38))


def test_inpaint_leaves_measured_voxels_bit_for_bit_and_fills_a_cross(tiny_model):
    rng = np.random.default_rng(1)
    volume = rng.gamma(1.0, 50.0, SHAPE).astype(np.float32)
    mask = cross()
    volume[mask] = np.nan  # whatever a gap holds is ignored
    result = inpaint(volume, mask, tiny_model, batch_size=8, progress=False)
    assert result.dtype == np.float32 and result.shape == SHAPE
    assert np.array_equal(result[~mask], volume[~mask])
    assert np.all(np.isfinite(result[mask])) and np.all(result[mask] >= 0)


def test_inpaint_with_exact_windows_is_exact_after_blending():
    z, y, x = np.indices(SHAPE)
    volume = np.expm1(2.0 + 0.05 * y - 0.03 * x + 0.01 * z)  # log(I + 1) linear: linear fill is exact
    mask = cross()
    result = inpaint(volume, mask, linear_model, patch_size=32, stride=8, progress=False)
    np.testing.assert_allclose(result[mask], volume[mask], rtol=1e-5)


def test_the_spread_says_where_overlapping_windows_disagree():
    z, y, x = np.indices(SHAPE)
    volume = np.expm1(2.0 + 0.05 * y - 0.03 * x + 0.01 * z)
    mask = cross()
    exact, spread, _, _ = inpaint(volume, mask, linear_model, patch_size=32, stride=8, progress=False,
                                  with_spread=True)
    plain = inpaint(volume, mask, linear_model, patch_size=32, stride=8, progress=False)
    np.testing.assert_allclose(exact, plain, rtol=1e-5)  # float64 sums with the spread, float32 without
    assert spread.dtype == np.float32 and np.all(spread[~mask] == 0)
    defined = np.isfinite(spread[mask])
    assert defined.mean() > 0.5 and np.nanmax(spread[mask]) < 1e-4  # identical windows: no spread
    rng = np.random.default_rng(0)

    def disagreeing_model(batch):  # each window off by its own amount, 0.05 of the normalised range
        return linear_model(batch) + rng.normal(0.0, 0.05, (len(batch), 1, 1, 1))

    spread = inpaint(volume, mask, disagreeing_model, patch_size=32, stride=8, progress=False, with_spread=True).spread
    assert np.array_equal(np.isfinite(spread[mask]), defined)  # NaN exactly where one window fills a voxel
    assert np.nanmedian(spread[mask]) > 0.01


def test_inpaint_fills_gaps_at_the_volume_edge_and_small_volumes(tiny_model):
    rng = np.random.default_rng(2)
    volume = rng.gamma(1.0, 50.0, (20, 40, 36))
    mask = gap_planes(volume.shape, "cross", (1, 34), 4)  # rows 0:3 and columns 32:36, both at an edge
    result = inpaint(volume, mask, tiny_model, progress=False)
    assert np.array_equal(result[~mask], volume[~mask])
    assert np.all(np.isfinite(result[mask]))


def test_inpaint_checks_its_arguments(tiny_model):
    volume = np.ones((40, 40, 40))
    with pytest.raises(ValueError, match="gap_mask shape"):
        inpaint(volume, np.zeros((40, 40, 39), bool), tiny_model)
    volume[0, 0, 0] = -1
    with pytest.raises(ValueError, match=">= 0 outside the gap"):
        inpaint(volume, gap_planes(volume.shape, "vertical", (0, 20), 4), tiny_model)


def test_cli_writes_an_inpainted_cxi_file(tiny_model, tmp_path):
    rng = np.random.default_rng(3)
    intensity = rng.gamma(1.0, 50.0, (36, 48, 40)).astype(np.float32)
    mask = gap_planes(intensity.shape, "vertical", (0, 20), 6)
    io.write_cxi_intensity(tmp_path / "measured.cxi", intensity, mask)
    tiny_model.save(tmp_path / "model.keras")
    assert main(["inpaint", str(tmp_path / "measured.cxi"), str(tmp_path / "out.cxi"),
                 "--model", str(tmp_path / "model.keras"), "--stride", "8"]) == 0
    with h5py.File(tmp_path / "out.cxi", "r") as h5:
        data = h5["entry_1/data_1"]
        assert data.attrs["inpainted"] and data.attrs["inpainted_voxels"] == mask.sum()
        assert np.array_equal(data["filled"][()].astype(bool), mask)
        assert not data["mask"][()].any()  # phasing programs use the filled values
        filled = data["data"][()]
    assert np.array_equal(filled[~mask], intensity[~mask])
    filled_again, still_masked = io.read_measured(tmp_path / "out.cxi")
    assert not still_masked.any() and np.array_equal(filled_again, filled)


def test_cli_fills_with_the_shipped_model_by_default_and_beats_zero_fill(tmp_path):
    """``braggsynth inpaint IN OUT`` (the installed command, no --model) on a noisy fringe pattern."""
    from synthetic_patches import fringe_volume

    from braggsynth.data import patches
    from braggsynth.score import metrics

    rng = np.random.default_rng(8)
    truth = rng.poisson(fringe_volume((48, 64, 64), rng, max_counts=1e4)).astype(np.float32)
    mask = gap_planes(truth.shape, "cross", (32, 30), 6)
    io.write_cxi_intensity(tmp_path / "scan.cxi", np.where(mask, 0, truth), mask)
    command = [str(Path(sys.executable).parent / "braggsynth"), "inpaint", str(tmp_path / "scan.cxi"),
               str(tmp_path / "filled.cxi")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    filled, _ = io.read_measured(tmp_path / "filled.cxi")
    with h5py.File(tmp_path / "filled.cxi", "r") as h5:
        assert h5["entry_1/data_1"].attrs["inpainting_model"].endswith("inpainting.keras")
    _, (low, high) = patches.normalise(truth, mask)
    scaled = [patches.scale(v, low, high)[None] for v in (filled, np.where(mask, 0, truth), truth)]
    model_scores = metrics.gap_metrics(scaled[0], scaled[2], mask[None])
    zero_scores = metrics.gap_metrics(scaled[1], scaled[2], mask[None])
    assert model_scores["pcc"][0] > 0.8
    assert model_scores["mae"][0] < zero_scores["mae"][0]
    assert model_scores["ssim"][0] > zero_scores["ssim"][0]


def test_calibrated_bounds_hold_the_fill_and_widen_with_the_calibration():
    from braggsynth.learn import uncertainty

    z, y, x = np.indices(SHAPE)
    volume = np.expm1(2.0 + 0.05 * y - 0.03 * x + 0.01 * z)
    mask = cross()
    rng = np.random.default_rng(1)
    fills = rng.random((40, 32, 32, 32)).astype(np.float32)
    gaps = np.zeros(fills.shape, bool)
    gaps[:, :, :, 13:19] = True
    narrow = uncertainty.calibrate(fills, fills + rng.normal(0, 0.01, fills.shape), gaps)
    wide = uncertainty.calibrate(fills, fills + rng.normal(0, 0.1, fills.shape), gaps)
    found = {name: inpaint(volume, mask, linear_model, patch_size=32, stride=8, progress=False, calibration=c)
             for name, c in (("narrow", narrow), ("wide", wide))}
    plain = inpaint(volume, mask, linear_model, patch_size=32, stride=8, progress=False)
    for result in found.values():
        np.testing.assert_allclose(result.filled, plain, rtol=1e-5)
        assert np.all(result.lower <= result.filled + 1e-6) and np.all(result.upper >= result.filled - 1e-6)
        assert np.array_equal(result.lower[~mask], volume[~mask]) and np.array_equal(result.upper[~mask], volume[~mask])
    ratio = {name: np.median(np.log(r.upper[mask] / r.lower[mask])) for name, r in found.items()}
    assert 5 < ratio["wide"] / ratio["narrow"] < 20
