"""Fine-tuning on the scan itself: windows that may hold its real gaps, held-back windows apart from the
training ones, and a small scan with a gap through its centre (issue 17, item 6)."""

from __future__ import annotations

import numpy as np
import pytest
from synthetic_patches import central_gap_scan

from braggsynth.learn import finetune


def test_the_split_axis_is_the_rocking_axis_else_the_longer_detector_axis():
    assert finetune.split_axis((64, 64, 64), 32) == 0
    assert finetune.split_axis((40, 64, 96), 32) == 2
    with pytest.raises(ValueError, match=r"a scan of shape \(40, 40, 48\) holds no two 32\^3 windows apart"):
        finetune.split_axis((40, 40, 48), 32)


def test_windows_of_a_small_scan_hold_its_central_gap_unknown_and_never_score_it():
    scan, gap = central_gap_scan()
    found = finetune.scan_windows(scan, gap, np.random.default_rng(0), patch_size=32, windows=64, held_back=16)
    assert found["axis"] == 0
    for name, start_ok in (("train", lambda z: z + 32 <= 32), ("held_back", lambda z: z >= 32)):
        windows = found[name]
        assert len(windows["input"]) > 0 and all(start_ok(z) for z in windows["corner"][:, 0])
        for corner, mask, scored in zip(windows["corner"], windows["mask"], windows["scored"]):
            box = tuple(slice(c, c + 32) for c in corner)
            assert np.all(mask[gap[box]]) and not np.any(scored & gap[box]) and np.all(mask[scored])
        assert windows["scored"].any()


def test_a_64_cubed_scan_with_a_gap_through_its_centre_is_fine_tuned():
    """Refused before (no 32^3 window of the first half was clear of the gap); now it trains and scores."""
    import keras

    from braggsynth.learn.model import build_model

    keras.utils.set_random_seed(0)
    scan, gap = central_gap_scan()
    result = finetune.finetune(build_model(base_filters=4, depth=2), scan, gap, steps=3, batch_size=4, windows=16,
                               held_back=8, progress=False)
    assert result.train_windows == 16 and result.held_back_windows == 8
    assert np.isfinite(result.pcc_before) and np.isfinite(result.pcc_after) and result.pcc_after != result.pcc_before


def test_a_scan_without_gaps_is_given_artificial_gaps_of_the_widths_asked_for():
    scan, _ = central_gap_scan()
    none = np.zeros(scan.shape, dtype=bool)
    with pytest.raises(ValueError, match="no stripe"):
        finetune.scan_windows(scan, none, np.random.default_rng(0), patch_size=32)
    found = finetune.scan_windows(scan, none, np.random.default_rng(0), patch_size=32, windows=16, held_back=8,
                                  gap_widths=[6])
    for mask in np.concatenate([found["train"]["mask"], found["held_back"]["mask"]]):
        assert min(mask.any(axis=(0, 1)).sum(), mask.any(axis=(0, 2)).sum()) == 6  # one 6 px plane, normal to x or y
