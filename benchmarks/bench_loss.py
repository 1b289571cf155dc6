"""The loss that serves phasing (issue 17, item 2): the shipped model trained on, for the same epochs, with the
gap MSE in normalised log space alone and with the amplitude term of
:class:`braggsynth.training.GapAmplitudeLoss`, scored on the validation split (never the test split) in both
spaces, with the shipped model as it is and the best baseline in the same run.

Scores over the gap voxels: PCC in normalised log(I + 1); the amplitude R-factor sum |sqrt(I_fill) -
sqrt(I_true)| / sum sqrt(I_true) in counts (:func:`braggsynth.metrics.amplitude_r_factor`) over the whole gap
and over its brightest tenth (where a forced fill wrecks a reconstruction), against counts and expected counts.

Usage (a dataset whose splits hold ``bounds``, e.g. the default run's after ``make``; about 10 minutes)::

    python benchmarks/bench_loss.py --dataset results/dataset/patches.h5 --epochs 5 --weights 0 1 4

With ``--weights`` and no number, nothing is trained: the shipped model and the ``--models`` given are scored
(a pretraining's model against the one shipped before, say; ``--split test`` for a final figure, never to choose)::

    python benchmarks/bench_loss.py --dataset runs/pretrain/results/dataset/patches.h5 --weights \
        --models runs/pretrain/results/model/all/best.keras
"""

from __future__ import annotations

import argparse
import time

import h5py
import numpy as np


def scores(fills, truths, masks, bounds) -> dict:
    """Mean over patches of log-space PCC and amplitude R-factors (whole gap, brightest tenth) in counts."""
    from braggsynth import metrics, patches

    pcc = metrics.gap_metrics(fills, truths, masks)["pcc"]
    whole, bright = [], []
    for fill, truth, mask, (low, high) in zip(fills, truths, masks, bounds):
        fill_counts, true_counts = patches.denormalise(fill, low, high), patches.denormalise(truth, low, high)
        whole.append(metrics.amplitude_r_factor(fill_counts, true_counts, mask))
        top = mask & (true_counts >= np.quantile(true_counts[mask], 0.9))
        bright.append(metrics.amplitude_r_factor(fill_counts, true_counts, top))
    return {"log PCC": np.nanmean(pcc), "amplitude R": np.nanmean(whole), "amplitude R, brightest 10 %":
            np.nanmean(bright)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--weights", type=float, nargs="*", default=[0.0, 1.0, 4.0],
                        help="amplitude weights (0: the gap MSE alone); none: train nothing")
    parser.add_argument("--models", nargs="*", default=[], help="other models to score as they are")
    parser.add_argument("--split", default="validation", choices=["validation", "test"])
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--model", help="starting model (default: the shipped one)")
    args = parser.parse_args()

    from braggsynth import baselines, model, training  # before keras: braggsynth.model turns on oneDNN

    import keras

    split = training.PatchBatches(args.dataset, args.split, 32, with_bounds=True)
    inputs, masks, counts, expected = split.read(split.indices, ("input", "mask", "target", "expected"))
    split.close()
    with h5py.File(args.dataset, "r") as h5:
        bounds = h5[f"{args.split}/bounds"][()]
    rows = {"smoothed_linear (best baseline)": baselines.fill_batch("smoothed_linear", inputs, masks)}
    start = model.load_model(args.model)
    rows["model as shipped"] = model.fill_patches(start, inputs, masks)
    for path in args.models:
        rows[path] = model.fill_patches(model.load_model(path), inputs, masks)
    for weight in args.weights:
        keras.utils.set_random_seed(0)
        net = model.load_model(args.model)
        loss = training.GapAmplitudeLoss(weight) if weight > 0 else training.GapMSE()
        net.compile(optimizer=keras.optimizers.Adam(args.learning_rate), loss=loss)
        batches = training.PatchBatches(args.dataset, "train", 16, prefill=model.prefill_of(net), shuffle=True,
                                        augment=True, seed=0, with_bounds=weight > 0)
        began = time.perf_counter()
        net.fit(batches, epochs=args.epochs, verbose=0)
        batches.close()
        name = f"trained {args.epochs} epochs, " + (f"amplitude weight {weight:g}" if weight else "gap MSE alone")
        rows[name] = model.fill_patches(net, inputs, masks)
        print(f"{name}: {time.perf_counter() - began:.0f} s", flush=True)
    print(f"\n{args.split} split, {len(inputs)} patches\n")
    for truth_name, truth in (("counts", counts), ("expected", expected)):
        print(f"**against {truth_name}**\n\n| fill | log PCC | amplitude R | amplitude R, brightest 10 % |\n"
              "|---|---:|---:|---:|")
        for name, fills in rows.items():
            found = scores(fills, truth, masks, bounds)
            print(f"| {name} | " + " | ".join(f"{value:.4f}" for value in found.values()) + " |")
        print()


if __name__ == "__main__":
    main()
