"""Benchmark of the classic fillers on what the evaluation gives them: batches of 32^3 windows, each crossed by a
gap plane, with and without masked blobs (a measured file's aliens), and one 96^3 volume.

Prints a markdown table of milliseconds per call (median of ``--repeats``), to paste into a note. The linear
fillers are the models' prefill: the evaluation calls them on every batch of windows it fills.

Usage::

    python benchmarks/bench_baselines.py
    python benchmarks/bench_baselines.py --methods smoothed_linear --repeats 20
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from braggsynth.score import baselines


def cases(seed: int = 0) -> dict:
    """name -> (volumes, masks, per-volume filler?): the shapes the evaluation fills."""
    rng = np.random.default_rng(seed)
    windows = rng.gamma(1.0, 1.0, (32, 32, 32, 32))
    plane = np.zeros(windows.shape, dtype=bool)
    plane[:, :, :, 13:19] = True
    blobs = plane.copy()
    for mask in blobs:
        z, y, x = rng.integers(0, 32, 3)
        mask[max(z - 3, 0):z + 3, max(y - 4, 0):y + 4, max(x - 2, 0):x + 5] = True
    volume = rng.gamma(1.0, 1.0, (96, 96, 96))
    cross = np.zeros(volume.shape, dtype=bool)
    cross[:, 40:46] = True
    cross[:, :, 50:56] = True
    return {"32 windows of 32^3, 6 px plane": (windows, plane, False),
            "32 windows of 32^3, plane and a blob each": (windows, blobs, False),
            "96^3 volume, 6 px cross": (volume, cross, True)}


def median_ms(fill, method: str, volumes, masks, repeats: int) -> float:
    """Median milliseconds of ``fill(method, volumes, masks)`` over ``repeats`` calls, after one unmeasured."""
    fill(method, volumes, masks)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fill(method, volumes, masks)
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=["linear", "smoothed_linear"],
                        choices=[m for m in baselines.BASELINES if m != "zero"])
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args(argv)
    print("| case | " + " | ".join(f"{m} (ms)" for m in args.methods) + " |")
    print("|---|" + "---:|" * len(args.methods))
    for name, (volumes, masks, whole) in cases().items():
        fill = baselines.baseline_fill if whole else baselines.fill_batch
        row = [median_ms(fill, method, volumes, masks, args.repeats) for method in args.methods]
        print(f"| {name} | " + " | ".join(f"{value:.1f}" for value in row) + " |")


if __name__ == "__main__":
    main()
