"""How much of a gap the data cannot decide (issue 27): unconstrained modes per scan, gap width and position.

For each measured file (its gap-free reconstruction: the best of ``--starts`` free phasings of the
``--crop``^3 cube around the maximum, voxels of its own mask left free) and each simulated peak (its true
object, support where |object| > 10 % of its maximum), the share of the gap's power in modes the data do
not see (:func:`braggsynth.phase.unconstrained.unconstrained_modes`, lambda > 0.9 and > 0.5) for gap planes
normal to x of ``--widths`` px through the maximum and off it (:func:`braggsynth.report.realspace.gap_at`),
with the analysis' time. Usage::

    python benchmarks/bench_unconstrained.py --measured ../shared/data/S1398_pynx_norm_128_300_294_1_1_1.cxi \\
        --peaks results/peaks/cube/shard0000/0000_00.h5 results/peaks/octahedron/shard0000/0000_00.h5
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--measured", nargs="*", type=Path, default=[], help="measured intensity files")
    parser.add_argument("--peaks", nargs="*", type=Path, default=[], help="simulated peak files (with amplitude)")
    parser.add_argument("--crop", type=int, default=64)
    parser.add_argument("--starts", type=int, default=2)
    parser.add_argument("--widths", type=int, nargs="+", default=[3, 6, 12, 38])
    args = parser.parse_args()

    from braggsynth import io
    from braggsynth.phase import reconstruction
    from braggsynth.phase.unconstrained import unconstrained_modes
    from braggsynth.report import realspace

    cases = []
    for path in args.measured:
        intensity, mask = io.read_measured(path)[:2]
        counts, unmeasured = realspace.crop_around_peak(intensity, args.crop, mask, unmeasured=mask)
        unmeasured = np.zeros(counts.shape, bool) if unmeasured is None else unmeasured
        values, unknown, bounds = reconstruction.phase_inputs(counts, unmeasured, mode="free")
        t0 = time.perf_counter()
        found = reconstruction.run_in_turn([{"intensity": values, "unknown": unknown, "bounds": bounds,
                                             "seed": reconstruction.start_seed(1, s)} for s in range(args.starts)])
        best = min(found, key=lambda r: r.error)
        print(f"{path.name}: gap-free reconstruction, best of {args.starts} in {time.perf_counter() - t0:.0f} s",
              flush=True)
        cases.append((path.name, counts, best.obj, best.support))
    for path in args.peaks:
        amplitude = io.read_peak(path)["amplitude"]
        case = realspace.simulated_case(f"{path.parents[1].name}/{path.stem}", np.abs(amplitude) ** 2, amplitude,
                                        args.crop)
        cases.append((case.name, case.counts, case.reference, realspace.reference_support(case.reference)))

    print("| case | gap (px) | position | hidden share (lambda > 0.9) | > 0.5 | hidden modes | most a line | "
          "analysis (s) |")
    print("|---|---:|---|---:|---:|---:|---:|---:|")
    for name, counts, obj, support in cases:
        peak_x = int(np.unravel_index(int(np.argmax(counts)), counts.shape)[2])
        for width in args.widths:
            for position in ("through", "off"):
                try:
                    gap = realspace.gap_at(counts.shape, peak_x, width, position)
                except ValueError:
                    continue
                t0 = time.perf_counter()
                found = unconstrained_modes(obj, support, gap)
                print(f"| {name} | {width} | {position} | {found.hidden_share:.3f} | {found.half_hidden_share:.3f} | "
                      f"{found.modes_hidden} | {found.max_per_line} | {time.perf_counter() - t0:.2f} |", flush=True)


if __name__ == "__main__":
    main()
