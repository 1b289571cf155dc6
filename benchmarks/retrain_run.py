"""A finished pretraining's recipe trained again with one setting changed, for as many epochs as the run had.

Issue 17, item 2: the shipped 32^3 model was warm-started from the model shipped before and trained with the
amplitude term of the loss (``train.amplitude_weight: 1``). Its counterfactual is the same start, data, seed
and epochs with the log-space MSE alone (``--set amplitude_weight=0``); ``benchmarks/bench_loss.py`` (amplitude
R) and ``benchmarks/bench_real_space.py --models`` (real space) then compare the two on validation data.

The run's settings are read from ``RUN/config.yaml`` (keys ``model`` and ``train`` with the schema's
defaults), its warm start from ``RUN/initial.keras`` when the config names one, and its epoch count from
``RUN/results/model/all/history.csv``; the time limit is dropped, so a slower or shared machine trains the
same epochs. Usage (the 32^3 pretraining, about as long as it took)::

    python benchmarks/retrain_run.py runs/pretrain runs/pretrain-w0 --set amplitude_weight=0
"""

from __future__ import annotations

import argparse
import csv
import os
from pathlib import Path

from recipe import set_settings, validated_config

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")


def run_settings(run: Path) -> tuple[dict, int]:
    """The keyword arguments of braggsynth.learn.training.train that rule train gave this run, and its seed."""
    config = validated_config(run / "config.yaml")  # the schema's defaults filled in, as the workflow does
    settings = {**config["model"], **config["train"]}
    if settings.pop("per_gap_width"):
        raise SystemExit(f"{run / 'config.yaml'}: train.per_gap_width is true; this script retrains model 'all' only")
    if settings["initial_model"] is not None:
        settings["initial_model"] = str(run / settings["initial_model"])
    return settings, config["seed"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a finished run's folder (config.yaml, results/)")
    parser.add_argument("output", type=Path, help="folder of the new training (resumable)")
    parser.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", help="settings changed (YAML values)")
    args = parser.parse_args()

    from braggsynth.cli import setup_logging
    from braggsynth.learn import training
    setup_logging()
    settings, seed = run_settings(args.run)
    set_settings(settings, args.set)
    with open(args.run / "results" / "model" / "all" / "history.csv", newline="") as handle:
        settings["epochs"] = len(list(csv.DictReader(handle)))
    settings["time_limit_minutes"] = None
    print(f"training {args.output} for {settings['epochs']} epochs, seed {seed}: {settings}", flush=True)
    training.train(args.run / "results" / "dataset" / "patches.h5", args.output, seed=seed, verbose=2, **settings)


if __name__ == "__main__":
    main()
