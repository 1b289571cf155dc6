"""Classic gap fillers: exact on what they should be exact on, measured voxels untouched."""

from __future__ import annotations

import numpy as np
import pytest

from braggsynth.score import baselines
from braggsynth.simulate.detector import gap_planes


def ramp(shape=(12, 40, 36)):
    z, y, x = np.indices(shape, dtype=float)
    return 1.0 + 0.2 * z + 0.5 * y - 0.3 * x


@pytest.mark.parametrize("orientation", ["horizontal", "vertical", "cross"])
def test_linear_fill_is_exact_on_a_linear_ramp(orientation):
    volume = ramp()
    mask = gap_planes(volume.shape, orientation, (20, 17), 6)
    filled = baselines.linear_fill(np.where(mask, -99.0, volume), mask)
    np.testing.assert_allclose(filled, volume, atol=1e-12)


def test_linear_fill_extends_a_gap_at_the_edge_with_the_nearest_value():
    volume = ramp()
    mask = gap_planes(volume.shape, "horizontal", (1, 0), 4)  # rows 0:3
    filled = baselines.linear_fill(volume, mask)
    np.testing.assert_allclose(filled[:, :3, :], np.broadcast_to(volume[:, 3:4, :], (12, 3, 36)))


def test_linear_fill_of_a_batch_equals_the_fill_of_each_volume():
    rng = np.random.default_rng(0)
    batch = rng.random((3, 8, 20, 20))
    masks = np.stack([gap_planes((8, 20, 20), o, (10, 9), 4) for o in ("vertical", "horizontal", "cross")])
    together = baselines.linear_fill(batch, masks, axes=(2, 3))
    for volume, mask, filled in zip(batch, masks, together):
        np.testing.assert_allclose(filled, baselines.linear_fill(volume, mask), atol=1e-12)


def one_pass_along_lines(volume, mask, axis):
    """One pass of linear_fill along one axis, voxel by voxel: the reference of its grouped computation."""
    filled = np.full(volume.shape, np.nan)
    for line in np.ndindex(*np.delete(volume.shape, axis)):
        index = (*line[:axis], slice(None), *line[axis:])
        known = np.flatnonzero(~mask[index])
        for position in np.flatnonzero(mask[index]):
            before, after = known[known < position], known[known > position]
            if len(before) and len(after):
                low, high = volume[index][before[-1]], volume[index][after[0]]
                filled[index][position] = low + (high - low) * (position - before[-1]) / (after[0] - before[-1])
    return filled


def test_linear_fill_of_an_irregular_mask_interpolates_each_line_between_its_nearest_known_voxels():
    rng = np.random.default_rng(3)
    volume = rng.random((5, 9, 11))
    mask = rng.random(volume.shape) < 0.3
    mask[:, 4:7] = True  # a plane across y, so that lines along y share a pattern and others do not
    for axis in (1, 2):
        filled = baselines.linear_fill(volume, mask, axes=(axis,))
        reference = one_pass_along_lines(volume, mask, axis)
        first_pass = ~np.isnan(reference)
        assert first_pass.sum() > 50
        np.testing.assert_array_equal(filled[first_pass], reference[first_pass])
        np.testing.assert_array_equal(filled[~mask], volume[~mask])


def test_smoothed_linear_fill_is_exact_on_a_constant_and_averages_noise():
    volume = np.full((12, 40, 40), 3.0)
    mask = gap_planes(volume.shape, "cross", (20, 20), 6)
    filled = baselines.smoothed_linear_fill(np.where(mask, -9.0, volume), mask)
    np.testing.assert_allclose(filled, volume, atol=1e-12)
    rng = np.random.default_rng(1)
    truth = np.full((16, 32, 32), 5.0)
    noisy = truth + rng.normal(0, 1, truth.shape)
    mask = gap_planes(truth.shape, "vertical", (16, 16), 4)
    plain = np.abs(baselines.linear_fill(noisy, mask) - truth)[mask].mean()
    smoothed = np.abs(baselines.smoothed_linear_fill(noisy, mask) - truth)[mask].mean()
    assert smoothed < 0.6 * plain


def test_masked_smoothing_never_reads_gap_values():
    rng = np.random.default_rng(2)
    volume = rng.random((6, 16, 16))
    mask = gap_planes(volume.shape, "cross", (8, 8), 3)
    a = baselines.masked_smoothing(np.where(mask, 1e6, volume), mask)
    b = baselines.masked_smoothing(np.where(mask, -1e6, volume), mask)
    np.testing.assert_array_equal(a, b)


def test_biharmonic_fill_recovers_a_smooth_surface():
    z, y, x = np.indices((3, 40, 40), dtype=float)
    volume = 0.002 * (y - 18) ** 2 + 0.001 * (x - 25) ** 2
    mask = gap_planes(volume.shape, "cross", (20, 20), 4)
    filled = baselines.biharmonic_fill(volume, mask)
    error = np.abs(filled - volume)[mask]
    assert error.max() < 0.03 * np.ptp(volume)  # largest where the gap meets the frame's edge
    assert np.median(error) < 0.003 * np.ptp(volume)
    assert np.array_equal(filled[~mask], volume[~mask])


def test_baseline_fill_names_an_unknown_method():
    with pytest.raises(ValueError, match="'spline'"):
        baselines.baseline_fill("spline", np.zeros((2, 2, 2)), np.zeros((2, 2, 2), bool))


def test_biharmonic_fill_gives_the_numbers_of_scikit_image_frame_by_frame():
    """Frames with one gap are solved together as channels: the same numbers as one call per frame."""
    from skimage.restoration import inpaint_biharmonic

    rng = np.random.default_rng(4)
    volume = rng.random((12, 24, 28))
    mask = np.zeros(volume.shape, dtype=bool)
    mask[..., 9:15] = True  # a plane through every frame
    mask[3:6, 4:7, :] = True  # and a band of rows in three frames only
    mask[8] = True  # a frame all gap stays as it was
    expected = np.where(mask, 0.0, volume)
    for z in range(len(volume)):
        if mask[z].any() and not mask[z].all():
            expected[z] = inpaint_biharmonic(expected[z], mask[z])
    assert np.array_equal(baselines.biharmonic_fill(volume, mask), expected)


def test_inverse_distance_fill_is_pynx_mask_interp_computed_directly():
    rng = np.random.default_rng(2)
    volume = rng.uniform(1, 100, (12, 20, 22))
    mask = np.zeros(volume.shape, bool)
    mask[:, :, 9:14] = True
    filled = baselines.inverse_distance_fill(volume, mask, half_window_px=3, power=2)
    for z, y, x in [(0, 0, 9), (5, 10, 11), (11, 19, 13)]:
        weights, values = [], []
        for dz in range(-3, 4):
            for dy in range(-3, 4):
                for dx in range(-3, 4):
                    zz, yy, xx = z + dz, y + dy, x + dx
                    if 0 <= zz < 12 and 0 <= yy < 20 and 0 <= xx < 22 and not mask[zz, yy, xx]:
                        weights.append(1 / (dz * dz + dy * dy + dx * dx))
                        values.append(volume[zz, yy, xx])
        assert filled[z, y, x] == pytest.approx(np.dot(weights, values) / np.sum(weights), rel=1e-9)
    assert np.array_equal(filled[~mask], volume[~mask])
    assert np.allclose(baselines.inverse_distance_fill(np.full(volume.shape, 7.0), mask, 3)[mask], 7.0)
    wide = np.zeros(volume.shape, bool)
    wide[:, :, 2:20] = True  # column 11 is 9 px from the nearest measured one: nothing within reach
    assert np.isnan(baselines.inverse_distance_fill(volume, wide, half_window_px=8)[0, 0, 11])
