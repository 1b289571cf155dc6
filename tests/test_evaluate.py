"""Evaluation: metrics, classic baselines, test-split and whole-pattern runs, report."""

from __future__ import annotations

import csv
import os

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # before TensorFlow loads: fast CPU 3D convolutions

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from synthetic_patches import fringe_volume, write_fringe_dataset  # noqa: E402

from braggsynth import evaluate  # noqa: E402
from braggsynth.detector import gap_planes  # noqa: E402
from braggsynth.model import build_model  # noqa: E402


@pytest.fixture(scope="module")
def tiny_model():
    keras.utils.set_random_seed(0)
    return build_model(base_filters=4, depth=2, dilation_rates=((4, 2),))


def ramp(shape=(12, 40, 36)):
    z, y, x = np.indices(shape, dtype=float)
    return 1.0 + 0.2 * z + 0.5 * y - 0.3 * x


@pytest.mark.parametrize("orientation", ["horizontal", "vertical", "cross"])
def test_linear_baseline_is_exact_on_a_linear_ramp(orientation):
    volume = ramp()
    mask = gap_planes(volume.shape, orientation, (20, 17), 6)
    filled = evaluate.linear_fill(np.where(mask, -99.0, volume), mask)
    np.testing.assert_allclose(filled, volume, atol=1e-12)


def test_linear_baseline_extends_a_gap_at_the_edge_with_the_nearest_value():
    volume = ramp()
    mask = gap_planes(volume.shape, "horizontal", (1, 0), 4)  # rows 0:3
    filled = evaluate.linear_fill(volume, mask)
    np.testing.assert_allclose(filled[:, :3, :], np.broadcast_to(volume[:, 3:4, :], (12, 3, 36)))


def test_biharmonic_baseline_recovers_a_smooth_surface():
    z, y, x = np.indices((3, 40, 40), dtype=float)
    volume = 0.002 * (y - 18) ** 2 + 0.001 * (x - 25) ** 2
    mask = gap_planes(volume.shape, "cross", (20, 20), 4)
    filled = evaluate.biharmonic_fill(volume, mask)
    error = np.abs(filled - volume)[mask]
    assert error.max() < 0.03 * np.ptp(volume)  # largest where the gap meets the frame's edge
    assert np.median(error) < 0.003 * np.ptp(volume)
    assert np.array_equal(filled[~mask], volume[~mask])


def test_pcc_and_gap_metrics_sanity():
    rng = np.random.default_rng(0)
    truth = rng.random((2, 16, 16, 16))
    mask = np.zeros(truth.shape, bool)
    mask[:, :, 6:10] = True
    assert evaluate.pcc(2 * truth + 1, truth, mask) == pytest.approx(1.0)
    assert evaluate.pcc(-truth, truth, mask) == pytest.approx(-1.0)
    assert np.isnan(evaluate.pcc(np.zeros_like(truth), truth, mask))
    perfect = evaluate.gap_metrics(truth, truth, mask)
    np.testing.assert_allclose(perfect["pcc"], 1.0)
    np.testing.assert_allclose(perfect["ssim"], 1.0, atol=1e-6)
    np.testing.assert_allclose(perfect["mae"], 0.0)
    worse = evaluate.gap_metrics(np.where(mask, 0.5, truth), truth, mask)
    assert np.all(worse["ssim"] < 1) and np.all(worse["mae"] > 0)


def test_evaluate_patches_gives_a_row_per_method_and_gap_width(tiny_model, tmp_path):
    path = tmp_path / "fringes.h5"
    write_fringe_dataset(path, counts=(1, 1, 12), gap_widths=(3, 6))
    rows = evaluate.evaluate_patches(path, tiny_model, batch_size=8, progress=False)
    methods = ["model", *evaluate.BASELINES]
    assert [(r["method"], r["gap_width_px"]) for r in rows] == [(m, w) for m in methods for w in (3, 6, "all")]
    by = {(r["method"], r["gap_width_px"]): r for r in rows}
    assert sum(by[("model", w)]["patches"] for w in (3, 6)) == by[("model", "all")]["patches"] == 12
    assert np.isnan(by[("zero", "all")]["pcc_mean"])
    for method in ("linear", "biharmonic"):
        assert by[(method, "all")]["pcc_mean"] > 0.8  # smooth fringes: interpolation in log space works
        assert by[(method, "all")]["mae_mean"] < by[("zero", "all")]["mae_mean"]
    assert evaluate.best_baseline(rows) in ("linear", "biharmonic")


def test_whole_pattern_evaluation_and_report(tiny_model, tmp_path):
    rng = np.random.default_rng(4)
    truth = fringe_volume((36, 48, 44), rng)
    mask = gap_planes(truth.shape, "cross", (24, 20), 6)
    rows, example = evaluate.evaluate_volumes(
        [{"name": "fringes", "intensity": truth, "gap_mask": mask, "gap_width_px": 6}], tiny_model, progress=False)
    assert [r["method"] for r in rows] == ["model", *evaluate.BASELINES]
    assert all(np.isfinite(r["ssim"]) and np.isfinite(r["mae"]) for r in rows)
    assert np.array_equal(example["predictions"]["model"][~mask], truth[~mask])
    patch_rows = [{"scope": "test patches", "gap_width_px": "all", "method": m, "patches": 3,
                   **{f"{k}_{s}": 0.5 for k in evaluate.METRICS for s in ("mean", "std")},
                   "seconds_per_patch": 0.01} for m in ["model", *evaluate.BASELINES]]
    evaluate.write_report(tmp_path / "report.md", tmp_path / "metrics.csv", tmp_path / "slices.png",
                          patch_rows=patch_rows, volume_rows=rows, example=example)
    text = (tmp_path / "report.md").read_text()
    assert "| gap (px) | method |" in text and "## Whole patterns" in text and "slices.png" in text
    with open(tmp_path / "metrics.csv") as handle:
        assert len(list(csv.DictReader(handle))) == len(patch_rows) + len(rows)
    assert (tmp_path / "slices.png").stat().st_size > 10_000
