"""Calibrated intervals around a fill: residual quantiles per depth and level, their coverage on other data."""

import json

import numpy as np
import pytest

from braggsynth.learn import uncertainty


def patches(rng, count=30, sigma_edge=0.02, sigma_middle=0.08):
    """Fills and truths of 32^3 patches with an 8 px gap plane: the truth is the fill plus noise whose
    spread grows from the gap's edge to its middle, as a model's error does."""
    fills = rng.random((count, 32, 32, 32)).astype(np.float32)
    gaps = np.zeros(fills.shape, bool)
    gaps[..., 12:20] = True
    depth = uncertainty.gap_depth(gaps)
    sigma = np.where(depth >= 3, sigma_middle, sigma_edge)
    return fills, fills + rng.normal(0, 1, fills.shape) * sigma, gaps


def test_gap_depth_counts_pixels_to_the_nearest_measured_voxel():
    gaps = np.zeros((1, 8, 8, 8), bool)
    gaps[..., 2:6] = True
    depth = uncertainty.gap_depth(gaps)[0]
    assert depth[0, 0, 2] == 1 and depth[0, 0, 3] == 2 and depth[0, 0, 4] == 2 and depth[0, 0, 0] == 0


def test_intervals_cover_other_patches_as_often_as_they_say():
    rng = np.random.default_rng(0)
    calibration = uncertainty.calibrate(*patches(rng))
    coverage = uncertainty.coverage(calibration, *patches(rng))
    assert coverage[0.68] == pytest.approx(0.68, abs=0.02) and coverage[0.95] == pytest.approx(0.95, abs=0.01)


def test_intervals_widen_in_the_middle_of_the_gap():
    rng = np.random.default_rng(1)
    calibration = uncertainty.calibrate(*patches(rng))
    low, high = uncertainty.offsets(calibration, np.array([1.0, 4.0]), np.array([0.5, 0.5]), 0.68)
    width = high - low
    assert width[1] == pytest.approx(4 * width[0], rel=0.2)  # sigma 0.08 against 0.02
    assert width[0] == pytest.approx(2 * 0.02, rel=0.15)


def test_a_model_that_is_wrong_more_often_than_its_calibration_says_is_seen():
    rng = np.random.default_rng(2)
    calibration = uncertainty.calibrate(*patches(rng))
    coverage = uncertainty.coverage(calibration, *patches(rng, sigma_edge=0.04, sigma_middle=0.16))
    assert coverage[0.68] < 0.45 and coverage[0.95] < 0.75


def test_a_calibration_file_round_trips_and_a_bad_one_names_itself(tmp_path):
    rng = np.random.default_rng(3)
    calibration = uncertainty.calibrate(*patches(rng, count=4), source="test")
    uncertainty.write_calibration(calibration, tmp_path / "c.json")
    assert uncertainty.read_calibration(tmp_path / "c.json") == json.loads(json.dumps(calibration))
    (tmp_path / "bad.json").write_text('{"quantiles": 1}')
    with pytest.raises(ValueError, match="bad.json: not a braggsynth calibration"):
        uncertainty.read_calibration(tmp_path / "bad.json")
    with pytest.raises(ValueError, match="interval level 0.5"):
        uncertainty.offsets(calibration, np.ones(2), np.ones(2), 0.5)
