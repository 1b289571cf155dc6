"""Compare inpainting-model designs on the same data with the same training time, and print the table.

Each design (the prefill the network starts from, what it learns in the gap:
photon counts or the simulation's expected counts; or its capacity: width,
depth and batch size, issue 17 item 5) is trained from scratch for the same
number of minutes on the same dataset with :func:`braggsynth.learn.training.train`,
then all are scored in one run beside every baseline:

- on the validation split (never the test split: choosing a design is tuning),
  against counts and against expected counts;
- on each measured file given, with artificial gap planes through its peak,
  scored on the half of the rocking axis that training *used*
  (:func:`braggsynth.data.measured.fit_region`, read by flipping the file along z),
  so the held-out half stays unseen by every choice.

Usage::

    python benchmarks/compare_designs.py runs/pretrain/results/dataset/patches.h5 runs/designs \\
        --minutes 7 --measured runs/pretrain/results/measured/*/intensity.h5

The capacity designs, with the shipped loss (the amplitude term, w = 1) and precision::

    python benchmarks/compare_designs.py runs/pretrain/results/dataset/patches.h5 runs/capacity --minutes 10 \\
        --designs "16 filters, depth 2" "24 filters, depth 2" "16 filters, depth 3" "16 filters, depth 2, batch 32" \\
        --amplitude-weight 1 --precision bfloat16

Each model is kept as ``<output>/<design>/best.keras``: ``benchmarks/bench_loss.py --weights --models ...``
scores them in the amplitude domain.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

# name -> arguments of braggsynth.learn.training.train (the others: the shipped model's)
PREFILL_DESIGNS = {
    "zero-filled input, counts": {"prefill": "zero", "target": "counts"},
    "linear prefill, counts": {"prefill": "linear", "target": "counts"},
    "linear prefill, expected": {"prefill": "linear", "target": "expected"},
    "smoothed prefill, counts": {"prefill": "smoothed_linear", "target": "counts"},
}
DESIGNS = {
    **PREFILL_DESIGNS,
    "16 filters, depth 2": {"base_filters": 16, "depth": 2},
    "24 filters, depth 2": {"base_filters": 24, "depth": 2},
    "16 filters, depth 3": {"base_filters": 16, "depth": 3},
    "16 filters, depth 2, batch 32": {"base_filters": 16, "depth": 2, "batch_size": 32},
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset")
    parser.add_argument("output")
    parser.add_argument("--minutes", type=float, default=7.0, help="training time per design")
    parser.add_argument("--measured", nargs="*", default=[], help="measured CXI intensities")
    parser.add_argument("--designs", nargs="+", default=list(PREFILL_DESIGNS), choices=list(DESIGNS))
    parser.add_argument("--patches-per-epoch", type=int, default=2048)
    parser.add_argument("--precision", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--amplitude-weight", type=float, default=0.0, help="w of the loss's amplitude term")
    parser.add_argument("--max-patches", type=int, default=1000, help="validation patches scored")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from braggsynth import io
    from braggsynth.cli import setup_logging
    from braggsynth.learn import model, training
    from braggsynth.report import evaluate

    setup_logging()
    output = Path(args.output)
    models = {}
    for name in args.designs:
        folder = output / name.replace(" ", "_").replace(",", "")
        history = training.train(args.dataset, folder, epochs=1000, time_limit_minutes=args.minutes,
                                 patches_per_epoch=args.patches_per_epoch, amplitude_weight=args.amplitude_weight,
                                 precision=args.precision, seed=args.seed, patience=1000, verbose=0,
                                 **DESIGNS[name])
        models[name] = model.load_model(folder / training.BEST_MODEL)
        print(f"{name}: {models[name].count_params()} parameters, {len(history)} epochs, "
              f"{len(history) * args.patches_per_epoch / history[-1]['seconds']:.1f} patches/s "
              "(validation included), "
              f"best val_loss {min(r['val_loss'] for r in history):.5f}", file=sys.stderr)
    rows = evaluate.evaluate_patches(args.dataset, models, split="validation", max_patches=args.max_patches)
    volumes = []
    for path in args.measured:
        intensity, mask = io.read_measured(path)
        flipped = None if mask is None else mask[::-1]
        volumes += evaluate.measured_volumes(intensity[::-1], name=f"{Path(path).parent.name} (fit half)",
                                             excluded=flipped)
    rows += evaluate.evaluate_volumes(volumes, models, progress=False)[0]

    widths = sorted({r["gap_width_px"] for r in rows if r["gap_width_px"] != "all"})
    scopes = list(dict.fromkeys(r["scope"] for r in rows))
    print(f"Designs trained {args.minutes:g} min each ({args.precision}) on {args.dataset}; PCC per gap width "
          f"({', '.join(map(str, widths))} px), validation patches and measured fit halves.\n")
    print("| method | " + " | ".join(scopes) + " |")
    print("|---|" + "---|" * len(scopes))
    for method in list(models) + list(evaluate.BASELINES):
        cells = []
        for scope in scopes:
            by = {r["gap_width_px"]: r["pcc_mean"] for r in rows if r["scope"] == scope and r["method"] == method}
            cells.append(" / ".join(f"{by[w]:.3f}" for w in widths if w in by))
        print(f"| {method} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
