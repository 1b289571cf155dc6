"""Gap stripes of masks, detector layouts, and gaps found in a scan's own values."""

from __future__ import annotations

import numpy as np
import pytest
from synthetic_patches import fringe_volume

from braggsynth.simulate import detector, gaps


def scan_with(mask, rng, *, noise=True, max_counts=1e5, dtype=np.float32, fill=0):
    """A fringe scan (photons) whose gap voxels hold ``fill``."""
    expected = fringe_volume(mask.shape, rng, max_counts=max_counts)
    counts = rng.poisson(expected) if noise else np.round(expected)
    return np.where(mask, fill, counts).astype(dtype)


@pytest.mark.parametrize("name, roi", [("maxipix", (200, 220)), ("eiger4m", (490, 1000)), ("eiger2m", (500, 230)),
                                       ("eiger", None)])
@pytest.mark.parametrize("noise", [False, True])
def test_finds_the_gap_stripes_of_every_preset(name, roi, noise):
    shape = (24, 96, 80)
    if roi is None:  # a preset known by its gap widths only: its cross through the frame
        mask = detector.gap_mask(shape, name, "cross", offset_px=(3, -5))
    else:
        mask = detector.frame_gaps(name, roi, shape)
    assert mask.any() and not mask.all()
    data = scan_with(mask, np.random.default_rng(1), noise=noise)
    found = gaps.find_gaps(data)
    assert np.array_equal(found.mask, mask)
    assert found.stripes == gaps.gap_stripes(mask)


def test_frame_gaps_place_the_preset_gaps_in_the_region_of_interest():
    mask = detector.frame_gaps("eiger4m", (500, 1000), (4, 64, 64))
    assert gaps.gap_stripes(mask) == [(1, 13, 52), (2, 29, 41)]  # rows 513:552, columns 1029:1041
    with pytest.raises(ValueError, match="does not fit in the 2167 x 2070 px frame of eiger4m"):
        detector.frame_gaps("eiger4m", (2150, 0), (4, 64, 64))
    with pytest.raises(ValueError, match="no frame layout"):
        detector.frame_gaps("eiger", (0, 0), (4, 64, 64))


@pytest.mark.parametrize("dtype, sentinel", [(np.float32, np.nan), (np.int32, -1), (np.uint32, 2**32 - 1),
                                             (np.uint16, 2**16 - 1), (np.float64, 2.0**32 - 1)])
def test_sentinel_stripes_are_gaps_even_where_the_signal_is_weak(dtype, sentinel):
    mask = detector.gap_planes((16, 48, 48), "horizontal", (40, 0), 6)  # near the edge, far from the peak
    data = scan_with(mask, np.random.default_rng(2), max_counts=50, dtype=dtype, fill=sentinel)
    found = gaps.find_gaps(data)
    assert found.stripes == [(1, 37, 43)]
    assert np.array_equal(found.mask, mask)


def test_single_sentinel_pixels_are_masked_but_are_not_stripes():
    data = scan_with(np.zeros((8, 40, 40), bool), np.random.default_rng(3), dtype=np.uint32)
    data[3, 10, 11] = np.iinfo(np.uint32).max
    found = gaps.find_gaps(data)
    assert found.stripes == [] and found.mask.sum() == 1 and found.mask[3, 10, 11]


def test_zeros_that_may_be_low_counts_are_not_taken_for_a_gap():
    rng = np.random.default_rng(4)
    data = rng.poisson(0.002, (16, 48, 48)).astype(np.float32)  # a dim scan: most rows are zero throughout
    data[:, 20:26, :] = 0
    found = gaps.find_gaps(data)
    assert found.stripes == [] and not found.mask.any()
    bright = scan_with(detector.gap_planes((16, 48, 48), "vertical", (0, 0), 8), rng)  # zeros at the frame's edge
    assert gaps.find_gaps(bright).stripes == []
    assert gaps.find_gaps(bright).doubtful == [(2, 0, 4)]


def test_describe_names_widths_orientations_and_pixels():
    assert gaps.describe([(2, 120, 126)]) == "a 6 px vertical gap at x = 120-125"
    assert gaps.describe([(1, 10, 48), (2, 3, 15)]) == ("a 38 px horizontal gap at y = 10-47 and "
                                                         "a 12 px vertical gap at x = 3-14")
    assert gaps.describe([]) == "no gap"
