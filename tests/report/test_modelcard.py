"""Shipping a pretraining run's model: float32 weights, a card that matches the file."""

from __future__ import annotations

import csv
import json
import os

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # before TensorFlow loads: fast CPU 3D convolutions

import numpy as np
import pytest
from synthetic_patches import write_fringe_dataset

from braggsynth.learn import model as gapmodel
from braggsynth.learn import training
from braggsynth.report import modelcard


def fake_run(folder):
    """A run folder laid out as `make pretrain` leaves it, with a tiny model trained in bfloat16."""
    results = folder / "results"
    data = results / "dataset" / "patches.h5"
    data.parent.mkdir(parents=True)
    write_fringe_dataset(data, counts=(16, 8, 8), gap_widths=(3, 4), patch_size=16)
    checkpoints = results / "model" / "all" / "checkpoints-x" / "dataset-y"
    training.train(data, checkpoints, epochs=1, base_filters=4, depth=1, precision="bfloat16", verbose=0)
    (results / "model" / "all" / "best.keras").write_bytes((checkpoints / training.BEST_MODEL).read_bytes())
    (results / "dataset" / "card.json").write_text(json.dumps({"patches": 32, "sources": 3, "seed": 0,
                                                                   "by_gap_width_px": {"3": 16, "4": 16}}))
    metrics = results / "evaluation" / "all" / "metrics.csv"
    metrics.parent.mkdir(parents=True)
    with open(metrics, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["scope", "gap_width_px", "method", "pcc_mean", "pcc_binned"])
        writer.writeheader()
        for method, value in (("model", 0.9), ("linear", 0.8), ("shipped", 0.7)):
            writer.writerow({"scope": "test patches vs counts", "gap_width_px": 3, "method": method,
                             "pcc_mean": value, "pcc_binned": ""})
    (folder / "config.yaml").write_text("seed: 0\n")
    return folder


def add_calibration_and_real_space(folder, *, shipped: bool = True):
    """What a run with rule evaluate's calibration and rule real_space leaves beside the model (with the
    shipped model's versions, as in a 32^3 run, or without, as in a 64^3 one)."""
    results = folder / "results"
    calibration = {"space": "normalised log(I + 1)", "quantiles_at": [0.025, 0.16, 0.84, 0.975], "patches": 40,
                   "source": "patches.h5, validation split", "coverage_test": {"0.68": 0.66, "0.95": 0.94},
                   "test_patches": 24}
    (results / "model" / "all" / "best.calibration.json").write_text(json.dumps(calibration))
    fields = ["pattern", "kind", "gap_width_px", "position", "photon_share", "version", "mode", "start",
              "modulus_pcc", "phase_rms_rad", "error", "error_drop", "choice"]
    with open(results / "evaluation" / "all" / "real_space.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        for version, mode, pcc in (("gap-free", "free", (0.96, 0.98)), ("free", "free", (0.60, 0.64)),
                                   ("zero", "zero", (0.5, 0.5)), ("forced: linear", "forced", (0.7, 0.8)),
                                   ("forced: model", "forced", (0.85, 0.87)),
                                   ("forced: shipped", "forced", (0.80, 0.82)),
                                   ("auto: model", "interval", (0.9, 0.9))):
            if "shipped" in version and not shipped:
                continue
            for start, value in enumerate(pcc):
                writer.writerow({"pattern": "cube/0001_00", "kind": "simulated", "gap_width_px": 6,
                                 "position": "through", "photon_share": 0.7, "version": version, "mode": mode,
                                 "start": start, "modulus_pcc": value, "phase_rms_rad": 0.3, "error": 0.1,
                                 "error_drop": 0.0, "choice": ""})
    return calibration


def test_ship_writes_a_float32_model_and_a_card_that_matches_it(tmp_path):
    run = fake_run(tmp_path / "run")
    destination = modelcard.ship(run, tmp_path / "models" / "inpainting.keras")
    net = gapmodel.load_model(destination)
    assert all(layer.dtype_policy.name == "float32" for layer in net.layers)
    trained = gapmodel.load_model(run / "results" / "model" / "all" / "best.keras")
    for shipped, original in zip(net.get_weights(), trained.get_weights()):
        np.testing.assert_array_equal(shipped, original)
    card = json.loads(destination.with_suffix(".json").read_text())
    assert card["model"]["parameters"] == net.count_params()
    assert card["training"]["settings"]["precision"] == "bfloat16"
    assert card["metrics"] == {"test patches vs counts": {"3": {"this model": 0.9, "linear": 0.8}}}
    assert card["recipe"] == "seed: 0\n" and card["licence"] == "BSD-3-Clause"
    text = destination.with_suffix(".md").read_text()
    assert "| this model | 0.9000 |" in text
    assert "gap planes of 3-4 px" in text  # the dataset's widths, not those of the last table (3 px only)


def test_ship_names_what_a_run_folder_lacks(tmp_path):
    with pytest.raises(OSError, match="no trained model"):
        modelcard.ship(tmp_path, tmp_path / "m.keras")


def test_the_card_gives_the_coverage_of_the_shipped_calibration_and_the_real_space_table(tmp_path):
    run = fake_run(tmp_path / "run")
    calibration = add_calibration_and_real_space(run)
    destination = modelcard.ship(run, tmp_path / "models" / "inpainting.keras")
    assert json.loads(destination.with_suffix(".calibration.json").read_text()) == calibration
    card = json.loads(destination.with_suffix(".json").read_text())
    assert card["coverage"]["levels"] == {"0.68": 0.66, "0.95": 0.94} and card["coverage"]["test_patches"] == 24
    by_version = {row["version"]: row for row in card["real_space"]}
    assert by_version["forced: model"]["modulus_pcc_mean"] == pytest.approx(0.86)
    assert by_version["forced: model"]["samples"] == 2
    text = destination.with_suffix(".md").read_text()
    assert "68% interval: 66.0%, 95% interval: 94.0%" in text
    assert "this model, forced" in text and "model shipped before, forced" in text
    assert "| 0.860 ± 0.010 |" in text and "0.750 ± 0.050 (linear)" in text
    assert "0.900 ± 0.000 (interval)" in text  # the recommended mode, with the mode it chose


def test_the_real_space_table_of_a_run_without_the_shipped_model_has_no_empty_columns(tmp_path):
    run = fake_run(tmp_path / "run")
    add_calibration_and_real_space(run, shipped=False)
    text = modelcard.ship(run, tmp_path / "models" / "inpainting.keras").with_suffix(".md").read_text()
    header = next(line for line in text.splitlines() if "this model, forced" in line)
    assert "model shipped before" not in header and header.count("|") == 16  # 15 columns: PyNX recipes, narrowed


def test_a_card_without_calibration_or_real_space_says_so(tmp_path):
    destination = modelcard.ship(fake_run(tmp_path / "run"), tmp_path / "models" / "inpainting.keras")
    card = json.loads(destination.with_suffix(".json").read_text())
    assert card["coverage"] is None and card["real_space"] is None
    assert not destination.with_suffix(".calibration.json").exists()
    text = destination.with_suffix(".md").read_text()
    assert "No calibrated interval" in text and "Not measured in the run" in text
    assert "The weights started at random." in text
