"""Scores over the gap: PCC, SSIM (equal to scikit-image's), MAE, binned means."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter
from skimage.metrics import structural_similarity as skimage_ssim

from braggsynth.score import metrics


def test_pcc_is_invariant_to_affine_maps_and_undefined_for_a_constant():
    rng = np.random.default_rng(0)
    truth = rng.random((16, 16, 16))
    mask = np.zeros(truth.shape, bool)
    mask[:, :, 6:10] = True
    assert metrics.pcc(2 * truth + 1, truth, mask) == pytest.approx(1.0)
    assert metrics.pcc(-truth, truth, mask) == pytest.approx(-1.0)
    assert np.isnan(metrics.pcc(np.zeros_like(truth), truth, mask))


def test_ssim_matches_scikit_image():
    rng = np.random.default_rng(3)
    a = gaussian_filter(rng.random((24, 30, 27)), 2)
    a = (a - a.min()) / (a.max() - a.min())
    b = np.clip(a + 0.05 * rng.standard_normal(a.shape), 0, 1)
    expected = skimage_ssim(a, b, data_range=1, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
    assert metrics.structural_similarity(a, b) == pytest.approx(expected, abs=1e-9)
    assert metrics.structural_similarity(a, a) == pytest.approx(1.0, abs=1e-12)


def test_gap_metrics_score_the_gap_only():
    rng = np.random.default_rng(0)
    truth = rng.random((2, 16, 16, 16))
    mask = np.zeros(truth.shape, bool)
    mask[:, :, 6:10] = True
    perfect = metrics.gap_metrics(np.where(mask, truth, 0.0), truth, mask)
    np.testing.assert_allclose(perfect["pcc"], 1.0)
    np.testing.assert_allclose(perfect["mae"], 0.0)
    worse = metrics.gap_metrics(np.where(mask, 0.5, truth), truth, mask)
    assert np.all(worse["ssim"] < 1) and np.all(worse["mae"] > 0)
    empty = metrics.gap_metrics(truth, truth, np.zeros_like(mask))
    assert np.all(np.isnan(empty["pcc"]))


def test_binned_mean_weighs_bins_not_samples():
    keys = np.array([0.0, 0.1, 0.2, 0.3, 10.0])
    values = np.array([1.0, 1.0, 1.0, 1.0, 0.0])
    edges, means, overall = metrics.binned_mean(values, keys, bins=2)
    np.testing.assert_allclose(edges, [0, 5, 10])
    np.testing.assert_allclose(means, [1.0, 0.0])
    assert overall == pytest.approx(0.5)


@pytest.mark.parametrize("gap", ["plane", "cross", "border"])
def test_the_gap_ssim_is_the_whole_maps_mean_over_the_gap(gap):
    """gap_metrics computes SSIM on the box the gap's windows reach: the numbers of the whole map."""
    rng = np.random.default_rng(3)
    truth = rng.random((3, 40, 24, 32))
    filled = truth + 0.2 * rng.random(truth.shape)
    mask = np.zeros(truth.shape, dtype=bool)
    if gap == "plane":
        mask[..., 13:19] = True
    elif gap == "cross":
        mask[..., 14:17] = True
        mask[:, :, 10:13] = True
    else:  # partly inside the 5-voxel border that the map leaves out
        mask[:, 2:9, :, 24:] = True
    whole = metrics.ssim_map(filled, truth)
    inner = mask[:, 5:-5, 5:-5, 5:-5]
    expected = [whole[i][inner[i]].mean() for i in range(len(mask))]
    assert np.array_equal(metrics.gap_metrics(filled, truth, mask)["ssim"], expected)
