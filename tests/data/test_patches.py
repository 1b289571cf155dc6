import numpy as np
import pytest

from braggsynth.data import patches
from braggsynth.simulate import detector


def poisson_volume(seed=0, shape=(48, 48, 48)):
    rng = np.random.default_rng(seed)
    z, y, x = np.indices(shape) - np.array(shape)[:, None, None, None] // 2
    intensity = (np.sinc(z / 6) * np.sinc(y / 7) * np.sinc(x / 5)) ** 2
    return rng.poisson(1e5 * intensity + 0.3).astype(np.int32)


def test_normalisation_looks_only_at_non_gap_voxels_and_is_invertible():
    rng = np.random.default_rng(1)
    patch = rng.poisson(rng.uniform(0, 300, (16, 16, 16))).astype(np.float64)
    gap = patches.gap_through_centre(16, 4, "cross")
    x, (low, high) = patches.normalise(patch, gap)
    assert x.dtype == np.float32
    assert np.all(x[gap] == 0)
    assert x[~gap].min() == 0.0 and x[~gap].max() == pytest.approx(1.0)
    assert (low, high) == (np.log1p(patch[~gap].min()), np.log1p(patch[~gap].max()))
    changed = patch.copy()
    changed[gap] = rng.uniform(0, 1e7, gap.sum())  # hide anything in the gap
    x2, bounds2 = patches.normalise(changed, gap)
    assert np.array_equal(x, x2) and bounds2 == (low, high)
    back = patches.denormalise(x, low, high)
    assert np.allclose(back[~gap], patch[~gap], rtol=2e-5, atol=1e-3)
    target = patches.scale(changed, low, high)  # the truth in the gap, on the same scale
    assert target[gap].max() > 1.0
    assert np.allclose(patches.denormalise(target, low, high)[gap], changed[gap], rtol=1e-4)


def test_normalisation_rejects_a_patch_it_cannot_scale():
    with pytest.raises(ValueError, match="covers the whole patch"):
        patches.normalise(np.ones((4, 4, 4)), np.ones((4, 4, 4), dtype=bool))
    with pytest.raises(ValueError, match=">= 0 outside the gap"):
        patches.normalise(-np.ones((4, 4, 4)), np.zeros((4, 4, 4), dtype=bool))


@pytest.mark.parametrize("width", [3, 6, 9, 12])
def test_gap_through_the_centre(width):
    s = 32
    horizontal = patches.gap_through_centre(s, width, "horizontal")
    vertical = patches.gap_through_centre(s, width, "vertical")
    rows = np.flatnonzero(horizontal[0, :, 0])
    assert np.array_equal(rows, np.arange(16 - width // 2, 16 - width // 2 + width))
    assert abs((rows[0] + rows[-1]) / 2 - (s - 1) / 2) <= 0.5  # centred within half a pixel
    assert np.array_equal(horizontal, np.broadcast_to(horizontal[:1, :, :1], (s, s, s)))  # plane normal to y
    assert np.array_equal(vertical, np.transpose(horizontal, (0, 2, 1)))  # plane normal to x
    assert np.array_equal(patches.gap_through_centre(s, width, "cross"), horizontal | vertical)


def test_patches_follow_the_intensity():
    intensity = np.zeros((40, 40, 64))
    intensity[:, :, :32] = np.e**2 - 1  # weight log(1 + I) = 2
    intensity[:, :, 32:56] = np.e - 1  # weight 1; x >= 56 has no signal
    corners = patches.sample_patch_corners(intensity, np.random.default_rng(2), 3000, patch_size=8)
    centres = corners + 4
    assert np.all(corners >= 0) and np.all(corners + 8 <= np.array(intensity.shape))
    assert np.all(centres[:, 2] < 56)
    # centres x in [4, 60]: 28 at weight 2, 24 at weight 1
    left = np.mean(centres[:, 2] < 32)
    assert abs(left - 56 / 80) < 0.03


def test_masked_voxels_never_fall_inside_a_patch():
    counts = poisson_volume()
    mask = detector.gap_mask(counts.shape, "maxipix", "cross", offset_px=(5, -3))
    mask[30:, 40, 2] = True  # a few hot pixels
    rng = np.random.default_rng(3)
    made = patches.make_patches(np.where(mask, 0, counts), rng, count=60, patch_size=16, excluded=mask)
    for z, y, x in made["corner"]:
        assert not mask[z:z + 16, y:y + 16, x:x + 16].any()
    with pytest.raises(ValueError, match="cannot draw 100000 patches"):
        patches.sample_patch_corners(counts, rng, 100000, 16, excluded=mask)


def test_made_patches_hold_their_gap_and_truth():
    counts = poisson_volume(4)
    widths = (3, 6, 9, 12)
    made = patches.make_patches(counts, np.random.default_rng(4), count=200, gap_widths_px=widths,
                                cross_probability=0.2)
    n, s = 200, 32
    assert made["input"].shape == made["target"].shape == made["mask"].shape == (n, s, s, s)
    assert made["input"].dtype == made["target"].dtype == np.float32
    assert set(np.unique(made["gap_width_px"])) == set(widths)
    assert abs(np.mean(made["orientation"] == detector.ORIENTATIONS.index("cross")) - 0.2) < 0.07
    for i in range(n):
        z, y, x = made["corner"][i]
        truth = counts[z:z + s, y:y + s, x:x + s]
        expected = patches.gap_through_centre(s, int(made["gap_width_px"][i]),
                                              detector.ORIENTATIONS[made["orientation"][i]])
        assert np.array_equal(made["mask"][i], expected)
        gap = made["mask"][i]
        assert np.all(made["input"][i][gap] == 0)
        assert np.array_equal(made["input"][i][~gap], made["target"][i][~gap])
        low, high = made["bounds"][i]
        assert np.allclose(patches.denormalise(made["target"][i], low, high), truth, rtol=1e-4, atol=1e-3)
