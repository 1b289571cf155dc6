"""The loss that serves phasing (issue 17, item 2): the shipped model trained on, for the same epochs, with the
gap MSE in normalised log space alone and with the amplitude term of
:class:`braggsynth.learn.training.GapAmplitudeLoss`, scored on the validation split (never the test split) in both
spaces, with the shipped model as it is and the best baseline in the same run.

Scores over the gap voxels: PCC in normalised log(I + 1); the amplitude R-factor sum |sqrt(I_fill) -
sqrt(I_true)| / sum sqrt(I_true) in counts (:func:`braggsynth.score.metrics.amplitude_r_factor`) over the whole gap
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
from functools import partial

import h5py
import numpy as np
from tqdm import tqdm


def scores(fills, truths, masks, bounds) -> dict:
    """Per patch: log-space PCC and amplitude R-factors (whole gap, brightest tenth) in counts."""
    from braggsynth.data import patches
    from braggsynth.score import metrics

    pcc = metrics.gap_metrics(fills, truths, masks)["pcc"]
    whole, bright = [], []
    for fill, truth, mask, (low, high) in zip(fills, truths, masks, bounds):
        fill_counts, true_counts = patches.denormalise(fill, low, high), patches.denormalise(truth, low, high)
        whole.append(metrics.amplitude_r_factor(fill_counts, true_counts, mask))
        top = mask & (true_counts >= np.quantile(true_counts[mask], 0.9))
        bright.append(metrics.amplitude_r_factor(fill_counts, true_counts, top))
    return {"log PCC": np.asarray(pcc), "amplitude R": np.asarray(whole),
            "amplitude R, brightest 10 %": np.asarray(bright)}


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
    parser.add_argument("--chunk", type=int, default=128, help="patches scored at a time (memory)")
    args = parser.parse_args()

    import keras

    from braggsynth.learn import model, training
    from braggsynth.score import baselines  # before keras: braggsynth.learn.model turns on oneDNN

    with h5py.File(args.dataset, "r") as h5:
        bounds = h5[f"{args.split}/bounds"][()]
    start = model.load_model(args.model)
    fills = {"smoothed_linear (best baseline)": partial(baselines.fill_batch, "smoothed_linear"),
             "model as shipped": partial(model.fill_patches, start)}  # each: (inputs, masks) -> fills
    for path in args.models:
        fills[path] = partial(model.fill_patches, model.load_model(path))
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
        fills[name] = partial(model.fill_patches, net)
        print(f"{name}: {time.perf_counter() - began:.0f} s", flush=True)
    # Scored a chunk of patches at a time: a split of 64^3 patches and its fills do not fit in memory.
    found = {(truth, name): [] for truth in ("counts", "expected") for name in fills}
    split = training.PatchBatches(args.dataset, args.split, 32, with_bounds=True)
    for first in tqdm(range(0, len(split.indices), args.chunk), desc=f"scoring the {args.split} split"):
        chunk = split.indices[first:first + args.chunk]
        inputs, masks, counts, expected = split.read(chunk, ("input", "mask", "target", "expected"))
        for name, fill in fills.items():
            filled = fill(inputs, masks)
            for truth_name, truth in (("counts", counts), ("expected", expected)):
                found[truth_name, name].append(scores(filled, truth, masks, bounds[chunk]))
    split.close()
    print(f"\n{args.split} split, {len(split.indices)} patches\n")
    for truth_name in ("counts", "expected"):
        print(f"**against {truth_name}**\n\n| fill | log PCC | amplitude R | amplitude R, brightest 10 % |\n"
              "|---|---:|---:|---:|")
        for name in fills:
            chunks = found[truth_name, name]
            means = [np.nanmean(np.concatenate([c[key] for c in chunks])) for key in chunks[0]]
            print(f"| {name} | " + " | ".join(f"{value:.4f}" for value in means) + " |")
        print()


if __name__ == "__main__":
    main()
