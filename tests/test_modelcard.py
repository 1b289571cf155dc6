"""Shipping a pretraining run's model: float32 weights, a card that matches the file."""

from __future__ import annotations

import csv
import json
import os

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # before TensorFlow loads: fast CPU 3D convolutions

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from synthetic_patches import write_fringe_dataset  # noqa: E402

from braggsynth import model as gapmodel, modelcard, training  # noqa: E402


def fake_run(folder):
    """A run folder laid out as `make pretrain` leaves it, with a tiny model trained in bfloat16."""
    results = folder / "results"
    data = results / "dataset" / "patches.h5"
    data.parent.mkdir(parents=True)
    write_fringe_dataset(data, counts=(16, 8, 8), gap_widths=(3, 4), patch_size=16)
    checkpoints = results / "model" / "all" / "checkpoints-x" / "dataset-y"
    training.train(data, checkpoints, epochs=1, base_filters=4, depth=1, precision="bfloat16", verbose=0)
    (results / "model" / "all" / "best.keras").write_bytes((checkpoints / training.BEST_MODEL).read_bytes())
    (results / "dataset" / "card.json").write_text(json.dumps({"patches": 32, "sources": 3, "seed": 0}))
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


def test_ship_names_what_a_run_folder_lacks(tmp_path):
    with pytest.raises(OSError, match="no trained model"):
        modelcard.ship(tmp_path, tmp_path / "m.keras")
