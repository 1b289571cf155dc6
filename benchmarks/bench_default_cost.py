"""What the default gap mode costs: ``braggsynth phase``'s ``auto`` (the model's fill, a short phasing, the
unconstrained modes, then the starts) against a free phasing of the same scan, gap and starts (target,
issue 27: at most 1.3 times).

The ``--crop``^3 cube around the maximum of a measured file (the raw SIXS scan by default), an artificial gap
plane of each ``--widths`` through the maximum (:func:`braggsynth.report.realspace.gap_at`), ``--starts`` starts
of the default recipe on every core, the shipped model for the gap. Each pair runs back to back, in turn
(``--repeats`` times, the fastest kept), so that the ratio is measured in one run. Usage::

    python benchmarks/bench_default_cost.py --measured ../shared/data/S1398_pynx_norm_128_300_294_1_1_1.cxi
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--measured", type=Path,
                        default=Path("../shared/data/S1398_pynx_norm_128_300_294_1_1_1.cxi"))
    parser.add_argument("--crop", type=int, default=64)
    parser.add_argument("--widths", type=int, nargs="+", default=[6, 12])
    parser.add_argument("--starts", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    import scipy.fft

    from braggsynth import io
    from braggsynth.learn import model, uncertainty
    from braggsynth.models import shipped_model_for
    from braggsynth.phase import reconstruction
    from braggsynth.report import realspace

    intensity, mask = io.read_measured(args.measured)[:2]
    counts, own = realspace.crop_around_peak(intensity, args.crop, mask, unmeasured=mask)
    own = np.zeros(counts.shape, bool) if own is None else own
    print(f"| scan | gap (px) | starts | free (s) | auto (s) | ratio | auto chose |  ({os.cpu_count()} cores)")
    print("|---|---:|---:|---:|---:|---:|---|")
    for width in args.widths:
        gap = realspace.gap_at(counts.shape, realspace.peak_position(counts)[2], width, "through") & ~own
        path = shipped_model_for(width)
        fill_function = reconstruction.model_fill(
            model.load_model(path), uncertainty.read_calibration(path.with_suffix(".calibration.json")))
        fill_function(np.where(gap, 0.0, counts), gap)  # the model's first call builds its graph: not timed
        seconds, chosen = {"free": [], "auto": []}, ""
        for _ in range(args.repeats):
            for mode in ("free", "auto"):
                with scipy.fft.set_workers(os.cpu_count()):
                    t0 = time.perf_counter()
                    _, _, choice, _ = reconstruction.reconstruct(counts, gap, mode=mode, fill_function=fill_function,
                                                                 starts=args.starts, free=own)
                    seconds[mode].append(time.perf_counter() - t0)
                chosen = choice.mode if mode == "auto" else chosen
        free, auto = min(seconds["free"]), min(seconds["auto"])
        print(f"| {args.measured.name.split('_')[0]} | {width} | {args.starts} | {free:.1f} | {auto:.1f} | "
              f"{auto / free:.2f} | {chosen} |", flush=True)


if __name__ == "__main__":
    main()
