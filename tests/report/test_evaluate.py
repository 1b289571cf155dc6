"""Evaluation: test-split and whole-volume runs, measured files scored on their held-out half, the crop
protocol, the report."""

from __future__ import annotations

import csv
import os

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # before TensorFlow loads: fast CPU 3D convolutions

import h5py
import keras
import numpy as np
import pytest
from synthetic_patches import fringe_volume, write_fringe_dataset

from braggsynth.data import measured
from braggsynth.learn.model import build_model, prefill_of
from braggsynth.report import evaluate
from braggsynth.score.baselines import BASELINES


@pytest.fixture(scope="module")
def models():
    keras.utils.set_random_seed(0)
    return {"model": build_model(base_filters=4, depth=2)}


def test_evaluate_patches_scores_every_method_against_counts_and_expected(models, tmp_path):
    path = tmp_path / "fringes.h5"
    write_fringe_dataset(path, counts=(1, 1, 12), gap_widths=(3, 6))
    rows = evaluate.evaluate_patches(path, models, batch_size=8, progress=False)
    methods = ["model", *BASELINES]
    for truth in ("counts", "expected"):
        chosen = [r for r in rows if r["scope"] == f"test patches vs {truth}"]
        assert [(r["method"], r["gap_width_px"]) for r in chosen] == [(m, w) for m in methods for w in (3, 6, "all")]
        by = {(r["method"], r["gap_width_px"]): r for r in chosen}
        assert sum(by[("model", w)]["samples"] for w in (3, 6)) == by[("model", "all")]["samples"] == 12
        assert np.isnan(by[("zero", "all")]["pcc_mean"])
        # an untrained residual model is its prefill
        prefilled = by[(prefill_of(models["model"]), "all")]["pcc_mean"]
        assert by[("model", "all")]["pcc_mean"] == pytest.approx(prefilled, abs=1e-6)
    expected = {r["method"]: r for r in rows if r["scope"] == "test patches vs expected" and r["gap_width_px"] == "all"}
    counts = {r["method"]: r for r in rows if r["scope"] == "test patches vs counts" and r["gap_width_px"] == "all"}
    # smoothing helps against the noise-free truth more than against one noisy draw
    assert (expected["smoothed_linear"]["pcc_mean"] - expected["linear"]["pcc_mean"]
            > counts["smoothed_linear"]["pcc_mean"] - counts["linear"]["pcc_mean"])


def test_max_patches_takes_patches_spread_over_the_split_with_their_own_gap_widths(models, tmp_path):
    assert evaluate.evaluated_positions(5).tolist() == [0, 1, 2, 3, 4]
    assert evaluate.evaluated_positions(5, 9).tolist() == [0, 1, 2, 3, 4]
    assert evaluate.evaluated_positions(12, 4).tolist() == [0, 3, 6, 9]
    assert evaluate.evaluated_positions(10, 3).tolist() == [0, 3, 6]
    with pytest.raises(ValueError, match="max_patches"):
        evaluate.evaluated_positions(10, 0)
    path = tmp_path / "fringes.h5"
    write_fringe_dataset(path, counts=(1, 1, 12), gap_widths=(3, 6))
    with h5py.File(path, "r") as h5:
        widths = h5["test"]["gap_width_px"][()][[0, 3, 6, 9]]
    rows = evaluate.evaluate_patches(path, models, batch_size=2, max_patches=4, progress=False, baselines=())
    samples = {r["gap_width_px"]: r["samples"] for r in rows if r["scope"] == "test patches vs counts"}
    assert samples == {**{int(w): int(np.sum(widths == w)) for w in np.unique(widths)}, "all": 4}


def test_a_prefill_scored_as_a_baseline_too_is_computed_once_and_gives_the_same_fills(models):
    rng = np.random.default_rng(3)
    volumes = rng.random((5, 32, 32, 32)).astype(np.float32)
    masks = np.zeros(volumes.shape, bool)
    masks[:, :, 13:19] = True
    trained = build_model(base_filters=4, depth=2)  # a correction that is not zero: the model is not its prefill
    trained.get_layer("correction").set_weights([w + 0.3 for w in trained.get_layer("correction").get_weights()])
    chosen = {**models, "trained": trained}
    found = evaluate.fill_methods(["model", "trained", *BASELINES], volumes, masks, chosen)
    assert list(found) == ["model", "trained", *BASELINES]
    for method, (filled, seconds) in found.items():
        alone = evaluate.fill_batch(method, volumes, masks, chosen)
        assert np.array_equal(filled, alone), method
        assert seconds > 0
    method = prefill_of(trained)
    assert found["trained"][0] is not found[method][0] and not np.allclose(found["trained"][0], found[method][0])
    assert found["trained"][1] > found[method][1]  # a model is charged its prefill


def test_measured_volumes_score_only_the_held_out_half_and_only_measured_gap_voxels():
    rng = np.random.default_rng(4)
    intensity = rng.poisson(fringe_volume((80, 72, 72), rng)).astype(np.float64)
    excluded = np.zeros(intensity.shape, bool)
    excluded[:, 10, :] = True  # a dead row
    volumes = evaluate.measured_volumes(intensity, name="scan", gap_widths_px=(3, 9), offsets_px=(0, 4),
                                        box=(64, 64, 64), excluded=excluded)
    assert len(volumes) == 2 * 2 * 2
    fit = measured.fit_region(intensity.shape)
    for volume in volumes:
        assert volume["intensity"].shape == (64, 64, 64)
        scored = volume["scored"]
        assert scored.any() and not (scored & ~volume["gap_mask"]).any()
    # map the crop back: find it in the file and check that no scored voxel was ever a training voxel
    first = volumes[0]
    where = [(z, y, x) for z in range(0, 17) for y in range(0, 9) for x in range(0, 9)
             if np.array_equal(intensity[z:z + 64, y:y + 64, x:x + 64], first["intensity"])]
    assert len(where) == 1
    z, y, x = where[0]
    crop = (slice(z, z + 64), slice(y, y + 64), slice(x, x + 64))
    for volume in volumes:
        assert not (volume["scored"] & fit[crop]).any()
        assert not (volume["scored"] & excluded[crop]).any()
        assert (volume["gap_mask"] & excluded[crop]).sum() == excluded[crop].sum()


def test_whole_volume_evaluation_crop_protocol_and_report(models, tmp_path):
    rng = np.random.default_rng(5)
    expected = fringe_volume((64, 64, 64), rng)
    counts = rng.poisson(expected).astype(np.float64)
    volumes = evaluate.measured_volumes(counts, name="scan", gap_widths_px=(6,), offsets_px=(0,))
    volumes.append({"scope": "held-out patterns vs counts", "name": "sim", "gap_width_px": 6, "intensity": counts,
                    "expected": expected, "gap_mask": volumes[0]["gap_mask"]})
    rows, example = evaluate.evaluate_volumes(volumes, models, progress=False)
    scopes = {r["scope"] for r in rows}
    assert scopes == {"measured scan", "held-out patterns vs counts", "held-out patterns vs counts vs expected"}
    assert np.array_equal(example["predictions"]["model"][~example["mask"]], example["truth"][~example["mask"]])
    crops = evaluate.evaluate_crops(counts, models, name="scan", rng=np.random.default_rng(0), crops=12,
                                    gap_widths_px=(3,), progress=False)
    assert {r["method"] for r in crops} == {"model", *BASELINES}
    assert all(r["samples"] == 12 and np.isfinite(r["pcc_binned"]) for r in crops if r["method"] != "zero")
    evaluate.write_report(tmp_path / "report.md", tmp_path / "metrics.csv", tmp_path / "slices.png",
                          rows=rows + crops, example=example, model_names=["model"])
    text = (tmp_path / "report.md").read_text()
    assert "## Models against the best baseline (PCC)" in text and "## Crops scan" in text
    assert "PCC (20 bins)" in text and "slices.png" in text
    with open(tmp_path / "metrics.csv") as handle:
        assert len(list(csv.DictReader(handle))) == len(rows) + len(crops)
    assert (tmp_path / "slices.png").stat().st_size > 10_000


def test_verdicts_compare_each_model_with_the_best_baseline():
    rows = [{"scope": "s", "gap_width_px": 3, "method": m, "pcc_mean": v}
            for m, v in (("model", 0.9), ("linear", 0.8), ("biharmonic", 0.95))]
    (line,) = evaluate.verdicts(rows, ["model"])
    assert "NOT above" in line and "biharmonic 0.9500" in line and "-0.0500" in line


def test_wide_gaps_are_bands_of_rows_scored_with_a_64_voxel_model_beside_the_baselines():
    rng = np.random.default_rng(6)
    counts = rng.poisson(fringe_volume((64, 96, 96), rng)).astype(np.float32)
    simulated = [{"scope": "held-out patterns vs counts", "name": "p", "intensity": counts, "expected": None,
                  "gap_mask": np.zeros(counts.shape, bool), "gap_width_px": 6}]
    measured_files = [("scan", rng.poisson(fringe_volume((128, 96, 96), rng)).astype(np.float32), None)]
    volumes = evaluate.wide_gap_volumes(simulated, measured_files, gap_widths_px=(38, 41), offsets_px=(0,), seed=1)
    assert [v["scope"] for v in volumes] == ["held-out patterns vs counts (wide gaps)"] * 2 + \
        ["measured scan (wide gaps)"] * 4
    for volume, width in zip(volumes[:2], (38, 41)):
        rows = np.flatnonzero(volume["gap_mask"][0].all(axis=1))
        assert len(rows) == width and abs(rows.mean() - 48) <= 8.5 and volume["gap_mask"][:, rows].all()
    keras.utils.set_random_seed(0)
    wide = {"wide": build_model(patch_size=64, base_filters=2, depth=3)}
    rows, _ = evaluate.evaluate_volumes(volumes[:2], wide, progress=False)
    by = {(r["method"], r["gap_width_px"]): r for r in rows}
    assert set(m for m, _ in by) == {"wide", *BASELINES}
    # an untrained residual model is its prefill, on wide gaps too
    assert by[("wide", 38)]["pcc_mean"] == pytest.approx(by[(prefill_of(wide["wide"]), 38)]["pcc_mean"], abs=1e-5)


def test_a_run_of_24_voxel_patches_is_evaluated_end_to_end_crops_included(tmp_path):
    """Every protocol works at the run's patch size (the crop protocol too: its crops take the model's size)."""
    rng = np.random.default_rng(7)
    write_fringe_dataset(tmp_path / "patches.h5", counts=(1, 1, 6), gap_widths=(3, 6), patch_size=24)
    keras.utils.set_random_seed(0)
    models = {"model": build_model(patch_size=24, base_filters=2, depth=2)}
    intensity = rng.poisson(fringe_volume((64, 72, 72), rng)).astype(np.float32)
    rows = evaluate.evaluate(tmp_path / "patches.h5", models, tmp_path / "report", measured_files=[("scan", intensity,
                             None)], gap_widths=(3, 6), offsets_px=(0,), crops=4, progress=False)
    crops = [r for r in rows if r["scope"] == "crops scan" and r["method"] == "model"]
    assert [r["samples"] for r in crops if r["gap_width_px"] != "all"] == [4, 4]
    assert "random 24^3 crops" in (tmp_path / "report" / "report.md").read_text()
