"""Benchmark of `braggsynth phase`: seconds per random start of the default recipe on this machine.

For each size (64^3 and 128^3 by default), a strained box's Bragg peak with a 6 px gap plane through the
maximum is phased with the default sequence (``3*(20*ER+180*HIO)+20*ER``, shrink-wrap every iteration) in
the ``free`` and ``interval`` modes (the interval adds the clipping of the modulus step), on numpy with
every core as FFT threads; the time includes cohere's set-up. Targets (issue 16): under 30 s per start at
64^3 and under 3 minutes at 128^3 on 2 cores.

Usage::

    python benchmarks/bench_phase.py                 # 64 and 128
    python benchmarks/bench_phase.py --sizes 48 64   # chosen sizes
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import scipy.fft

from braggsynth.phase import phasing, reconstruction
from braggsynth.report import realspace


def scan(size: int):
    z, y, x = np.indices((size,) * 3) - size // 2
    r = size / 8
    obj = ((abs(z) < r) & (abs(y) < 1.1 * r) & (abs(x) < 0.9 * r)) * np.exp(0.4j * np.sin(z / 3.0))
    intensity = np.abs(np.fft.fftshift(np.fft.fftn(np.fft.ifftshift(obj)))) ** 2
    intensity = np.random.default_rng(0).poisson(intensity * 1e6 / intensity.max()).astype(np.float64)
    gap = realspace.gap_at(intensity.shape, size // 2, 6, "through")
    return intensity, gap


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--modes", nargs="+", default=["free", "interval"], choices=["free", "interval"])
    args = parser.parse_args()
    cores = os.cpu_count()
    print(f"| size | mode | iterations | seconds per start | final error |  ({cores} cores, numpy)")
    print("|---:|---|---:|---:|---:|")
    for size in args.sizes:
        intensity, gap = scan(size)
        fill = reconstruction.Fill(intensity, intensity * 0.5, intensity * 1.2)
        for mode in args.modes:
            with scipy.fft.set_workers(cores):
                start = time.perf_counter()
                best, _ = reconstruction.phase_scan(intensity, gap, mode=mode, fill=fill, seed=0)
                seconds = time.perf_counter() - start
            print(f"| {size}^3 | {mode} | {phasing.iterations(phasing.DEFAULT_SEQUENCE)} | {seconds:.1f} | "
                  f"{best.error:.4f} |", flush=True)


if __name__ == "__main__":
    main()
