"""Validate the automatic choice of the gap mode where the answer is known: simulated patterns (a run's
validation split, never its test split) phased with the gap free, forced to the shipped model's fill and
inside its calibrated interval, scored against their true objects; beside them the mode
:func:`braggsynth.phase.reconstruction.choose_mode` picks from the scan alone, for each number of hidden columns.

For each pattern, gap width and position it prints the real-space modulus PCC of each mode (mean of
``--starts`` starts), what each choice picked and where that leaves it against free pixels; then, per
number of hidden columns, how often the choice fell below free pixels by more than the spread of the starts,
and its mean gain over free pixels.

Usage (after ``make``)::

    python benchmarks/bench_mode_choice.py \\
        --patterns results/detector/cube/shard0000/0000_00.h5:results/peaks/cube/shard0000/0000_00.h5
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patterns", nargs="+", metavar="RECORDING:PEAK", required=True)
    parser.add_argument("--widths", type=int, nargs="+", default=[3, 6, 12])
    parser.add_argument("--positions", nargs="+", default=["through", "off"])
    parser.add_argument("--holdouts", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--crop", type=int, default=64)
    parser.add_argument("--starts", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    args = parser.parse_args()

    from braggsynth import io
    from braggsynth.learn import model, uncertainty
    from braggsynth.models import SHIPPED_MODEL
    from braggsynth.phase import phasing, reconstruction
    from braggsynth.report import realspace

    fill_function = reconstruction.model_fill(
        model.load_model(SHIPPED_MODEL), uncertainty.read_calibration(SHIPPED_MODEL.with_suffix(".calibration.json")))
    options = {"sequence": phasing.DEFAULT_SEQUENCE}
    modes = ("free", "forced", "interval")
    outcomes = {h: [] for h in args.holdouts}
    print("| pattern | gap (px) | position | photons in gap | " + " | ".join(modes) + " | "
          + " | ".join(f"{h} px hidden: chose, vs free" for h in args.holdouts) + " |")
    print("|---|---:|---|---:|" + "---:|" * len(modes) + "---|" * len(args.holdouts))
    with realspace.ParallelRunner(args.workers) as runner:
        for pair in args.patterns:
            recording, peak = pair.split(":")
            case = realspace.simulated_case(f"{Path(recording).parents[1].name}/{Path(recording).stem}",
                                            io.read_detector_pattern(recording)["counts"],
                                            io.read_peak(peak)["amplitude"], args.crop)
            counts = case.counts.astype(np.float64)
            peak_x = realspace.peak_position(counts)[2]
            for width in args.widths:
                for position in args.positions:
                    gap = realspace.gap_at(counts.shape, peak_x, width, position)
                    fill = fill_function(np.where(gap, 0.0, counts), gap)
                    jobs = []
                    for mode in modes:
                        values, unknown, bounds = reconstruction.phase_inputs(counts, gap, mode=mode, fill=fill)
                        jobs += [{"intensity": values, "unknown": unknown, "bounds": bounds,
                                  "seed": reconstruction.start_seed(args.seed, start), **options}
                                 for start in range(args.starts)]
                    found = runner(jobs)
                    pcc = {mode: [phasing.compare(r.obj, case.reference)["modulus_pcc"]
                                  for r in found[i * args.starts:(i + 1) * args.starts]]
                           for i, mode in enumerate(modes)}
                    cells = []
                    for holdout in args.holdouts:
                        choice = reconstruction.choose_mode(counts, gap, fill_function, holdout_px=holdout,
                                                            seed=args.seed, runner=runner, **options)
                        difference = np.mean(pcc[choice.mode]) - np.mean(pcc["free"])
                        spread = max(np.std(pcc[choice.mode]), np.std(pcc["free"]))
                        outcomes[holdout].append((difference, spread, width, position))
                        cells.append(f"{choice.mode}, {difference:+.3f}")
                    share = reconstruction.gap_photon_share(counts, gap)
                    print(f"| {case.name} | {width} | {position} | {100 * share:.0f} % | "
                          + " | ".join(f"{np.mean(pcc[m]):.3f} ± {np.std(pcc[m]):.3f}" for m in modes) + " | "
                          + " | ".join(cells) + " |", flush=True)
    print("\n| hidden columns | cases | below free beyond the spread | mean gain over free | "
          "mean gain, 12 px or more through the maximum |")
    print("|---:|---:|---:|---:|---:|")
    for holdout, found in outcomes.items():
        below = sum(d < -s for d, s, _, _ in found)
        wide = [d for d, _, w, p in found if w >= 12 and p == "through"]
        print(f"| {holdout} | {len(found)} | {below} | {np.mean([d for d, *_ in found]):+.3f} | "
              f"{np.mean(wide) if wide else float('nan'):+.3f} |")


if __name__ == "__main__":
    main()
