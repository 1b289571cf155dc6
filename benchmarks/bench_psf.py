"""The gap-free floor of measured files phased with and without partial coherence (``braggsynth phase --psf``).

Issue 26, item 4: a measured file's gap-free reconstruction is the reference of its real-space cases, and the
agreement of its other starts with the one kept is the floor below which no difference means anything. This
phases the ``--crop``^3 cube around each file's maximum (its own mask left free) from ``--starts`` seeded
starts, as rule real_space's references are, once as coherent data and once with ``psf=True``, and prints
per file and mode the floor (modulus PCC of each other start against the best), the final modulus errors,
the fitted point spread's RMS widths and the time. Usage::

    python benchmarks/bench_psf.py ../shared/data/S1398_pynx_norm_128_300_294_1_1_1.cxi \\
        results/measured/s11/intensity.h5 --crop 64 --starts 3
"""

from __future__ import annotations

import argparse
import os
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", help="measured intensities (CXI/HDF5, .npy, .npz, TIFF)")
    parser.add_argument("--crop", type=int, default=64)
    parser.add_argument("--starts", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    args = parser.parse_args()

    from braggsynth import io
    from braggsynth.report import realspace
    from braggsynth.simulate.coherence import spread_widths

    print("| file | psf | floor (PCC of the other starts) | final errors | fitted RMS widths (px) | s |")
    print("|---|---|---|---|---|---:|")
    with realspace.ParallelRunner(args.workers) as runner:
        for path in args.files:
            intensity, mask = io.read_measured(path)
            counts, unmeasured = realspace.crop_around_peak(intensity, args.crop, mask, unmeasured=mask)
            for psf in (False, True):
                found = []

                def keep(jobs, progress=False, found=found):
                    found.extend(runner(jobs, progress=progress))
                    return found

                t0 = time.perf_counter()
                _, floor = realspace.measured_reference(counts, starts=args.starts, seed=args.seed, runner=keep,
                                                        unmeasured=unmeasured, psf=psf)
                widths = ("-" if not psf else
                          "; ".join(", ".join(f"{w:.2f}" for w in spread_widths(r.psf)) for r in found))
                print(f"| {path} | {psf} | {', '.join(f'{f:.3f}' for f in floor)} | "
                      f"{', '.join(f'{r.error:.4f}' for r in found)} | {widths} | {time.perf_counter() - t0:.0f} |",
                      flush=True)


if __name__ == "__main__":
    main()
