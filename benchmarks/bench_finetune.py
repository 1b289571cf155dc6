"""Does fine-tuning on the scan (``braggsynth finetune``, ``inpaint --finetune``) lift the shipped model on a raw
measured scan, against the baselines, in one run?

For each scan: the shipped 32^3 model is fine-tuned on windows of the scan's first half of the rocking axis
(:func:`braggsynth.learn.finetune.finetune`, its defaults unless told), then the shipped model, the fine-tuned
one and every baseline fill the artificial gap planes of the evaluation (:func:`braggsynth.report.evaluate.
measured_volumes`: vertical and horizontal, offsets -6/0/+6 px, 3/6/9/12 px), scored on the second half only
(PCC of log(I + 1) over the scored gap voxels, the model card's "measured" table). Fine-tuning never reads the
second half; its held-back score (second-half windows) is printed, not used to choose anything here.

    python benchmarks/bench_finetune.py ../shared/data/S1398_pynx_norm_128_300_294_1_1_1.cxi \
        runs/pretrain/results/measured/s11_dim/intensity.h5

A file without gaps (a run's S11 transform) is fine-tuned on artificial gaps of ``--widths``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scans", nargs="+", type=Path)
    parser.add_argument("--steps", type=int, nargs="+", default=None,
                        help="fine-tuning steps to try, one model each (default: finetune's)")
    parser.add_argument("--learning-rate", type=float, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--widths", type=int, nargs="+", default=[3, 6, 9, 12],
                        help="artificial gap widths (px) to fine-tune a scan without gaps on (a run's S11 intensity)")
    args = parser.parse_args()

    from braggsynth import io
    from braggsynth.data.scans import read_scan
    from braggsynth.learn import finetune, model
    from braggsynth.models import SHIPPED_MODEL
    from braggsynth.report import evaluate

    steps = args.steps or [finetune.DEFAULT_STEPS]
    rate = args.learning_rate or finetune.DEFAULT_LEARNING_RATE
    for path in args.scans:
        name = path.parent.name if path.stem == "intensity" else path.stem  # a run's measured file, or a scan
        scan = read_scan(path, require_gap=False)
        widths = None if scan.mask.any() else args.widths  # a gap-free file: the evaluation's widths
        models = {"shipped": model.load_model(SHIPPED_MODEL)}
        for count in steps:
            tuned = model.load_model(SHIPPED_MODEL)
            started = time.perf_counter()
            result = finetune.finetune(tuned, scan.intensity, scan.mask | scan.masked, steps=count,
                                       learning_rate=rate, seed=args.seed, progress=False, gap_widths=widths)
            print(f"{name}: fine-tuned {count} steps in {time.perf_counter() - started:.0f} s on "
                  f"{result.train_windows} first-half windows; held-back (second half) PCC "
                  f"{result.pcc_before:.4f} -> {result.pcc_after:.4f}", flush=True)
            models[f"fine-tuned {count}"] = tuned
        intensity, mask = io.read_measured(path)[:2]  # as the evaluation reads a run's measured files
        volumes = evaluate.measured_volumes(intensity, name=name, excluded=mask)
        rows, _ = evaluate.evaluate_volumes(volumes, models, progress=False)
        rows = [r for r in rows if r["gap_width_px"] != "all" and not r["scope"].endswith("vs expected")]
        scored = sorted({r["gap_width_px"] for r in rows})
        print(f"\n{name}, scored half, PCC log(I + 1) over the gap voxels, per width (px) "
              + " / ".join(map(str, scored)))
        print("| method | " + " | ".join(f"{w} px" for w in scored) + " |")
        print("|---|" + "---:|" * len(scored))
        for method in dict.fromkeys(r["method"] for r in rows):
            cells = [next((r["pcc_mean"] for r in rows if r["method"] == method and r["gap_width_px"] == w),
                          float("nan")) for w in scored]
            print(f"| {method} | " + " | ".join(f"{c:.4f}" for c in cells) + " |")


if __name__ == "__main__":
    main()
