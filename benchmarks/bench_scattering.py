"""Benchmark of the Bragg peak engine: NUFFT against the exact direct sum.

For Au Wulff particles of about 1e4, 1e5, 1e6 atoms (and 1e7 with --large),
slightly disordered (random displacements), the 111 peak is computed on a
128^3 grid at oversampling 3 with each NUFFT backend available (finufft, and
cufinufft when it and a GPU are present).  The exact sum is evaluated on a
subset of the grid points (half around the peak, half anywhere, i.e. mostly on
the weak fringes) and its time extrapolated to the whole grid.

Each particle size runs in its own process so that the peak memory it reports
is its own.  The table is markdown, to paste into a note.

Usage::

    python benchmarks/bench_scattering.py                  # 1e4, 1e5, 1e6 atoms
    python benchmarks/bench_scattering.py --large          # and 1e7
    python benchmarks/bench_scattering.py --sizes 1e4 3e5  # chosen sizes
"""

from __future__ import annotations

import argparse
import gc
import itertools
import multiprocessing
import os
import platform
import resource
import time
import tracemalloc

import numpy as np

GIB = 1024.0**3


def size_for_atoms(atoms: float, lattice_constant: float) -> float:
    """Equal-volume diameter (nm) of an FCC particle of ``atoms`` atoms: N = pi/6 (10 d)^3 * 4 / a^3."""
    return (6.0 * atoms * lattice_constant**3 / (4.0 * np.pi)) ** (1.0 / 3.0) / 10.0


def _status_kib(field: str) -> float | None:
    """A memory field of /proc/self/status (VmRSS, VmHWM) in KiB, None where unavailable."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return float(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak_rss() -> bool:
    """Reset the kernel's RSS high-water mark (Linux), so VmHWM measures what follows."""
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
        return True
    except OSError:
        return False


def _peak_rss_gib() -> float:
    hwm = _status_kib("VmHWM")
    if hwm is None:  # ru_maxrss is KiB on Linux, bytes on macOS; it cannot be reset
        hwm = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1.0 if platform.system() == "Linux" else 1024.0)
    return hwm * 1024.0 / GIB


def _sample_indices(rng, shape, count):
    """Half the points within +-4 pixels of the centre, half uniform over the grid (mostly weak fringes)."""
    centre = np.array(shape) // 2
    near = np.clip(centre + rng.integers(-4, 5, size=(count // 2, 3)), 0, np.array(shape) - 1)
    anywhere = rng.integers(0, shape, size=(count - count // 2, 3))
    return np.vstack([near, anywhere])


def measure(target_atoms: float, options: dict) -> list[dict]:
    """Benchmark one particle size with every requested backend (runs in a fresh process)."""
    from braggsynth.simulate import scattering, shapes

    if options["threads"]:
        import numba

        numba.set_num_threads(options["threads"])
    rng = np.random.default_rng([options["seed"], int(target_atoms)])
    a = shapes.lattice_constant("Au")
    size_nm = size_for_atoms(target_atoms, a)
    start = time.perf_counter()
    atoms = shapes.build_particle(shapes.AU_WULFF, size_nm=size_nm)
    build_s = time.perf_counter() - start
    positions = atoms.positions + rng.normal(0.0, options["displacement"], size=atoms.positions.shape)
    del atoms
    natoms = len(positions)
    g = scattering.reciprocal_vector((1, 1, 1), a)
    basis = scattering.grid_basis(positions, options["oversampling"], scattering.random_rotation(rng, 180.0))
    shape = (options["grid"],) * 3
    voxels = float(np.prod(shape))

    # Exact sum on a subset; numba compiles on a tiny call first.
    points = max(20, min(options["direct_points"], int(options["direct_budget"] / natoms)))
    indices = _sample_indices(rng, shape, points)
    q = scattering.q_points(g, basis, indices, shape)
    scattering.direct_sum(positions[:10], q[:10])
    start = time.perf_counter()
    exact = scattering.direct_sum(positions, q)
    direct_s = time.perf_counter() - start
    direct_full_s = direct_s * voxels / points

    rows = []
    for backend, tolerance in itertools.product(options["backends"], options["tolerances"]):
        def run(backend=backend, tolerance=tolerance):
            return scattering.bragg_peak(positions, g, basis, shape, backend=backend,
                                         tolerance=tolerance, threads=options["threads"])

        amplitude = run()  # warm-up (GPU context, FFTW plans); also the memory measurement below is separate
        del amplitude
        gc.collect()
        times = []
        for _ in range(options["repeats"]):
            start = time.perf_counter()
            amplitude = run()
            times.append(time.perf_counter() - start)
            del amplitude
            gc.collect()
        nufft_s = min(times)

        gc.collect()
        rss_before = (_status_kib("VmRSS") or 0.0) * 1024.0 / GIB
        reset = _reset_peak_rss()
        amplitude = run()
        peak_rss = _peak_rss_gib()
        error = np.abs(amplitude[tuple(indices.T)] - exact).max() / np.abs(amplitude).max()
        peak_amplitude = float(np.abs(amplitude).max())
        del amplitude
        gc.collect()

        tracemalloc.start()
        amplitude = run()
        traced_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        del amplitude

        rows.append({
            "backend": backend,
            "tolerance": tolerance,
            "atoms": natoms,
            "size_nm": size_nm,
            "build_s": build_s,
            "nufft_s": nufft_s,
            "nufft_times": times,
            "direct_points": points,
            "direct_s": direct_s,
            "direct_full_s": direct_full_s,
            "speedup": direct_full_s / nufft_s,
            "nufft_rate": natoms * voxels / nufft_s,
            "direct_rate": natoms * points / direct_s,
            "error": error,
            "peak_over_n": peak_amplitude / natoms,
            "peak_rss_gib": peak_rss,
            "added_rss_gib": peak_rss - rss_before if reset else float("nan"),
            "traced_mib": traced_peak / 1024.0**2,
        })
    return rows


def _format_seconds(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 100:
        return f"{seconds:.0f}"
    return f"{seconds:.3g}"


def markdown_table(rows: list[dict], grid: int) -> str:
    header = (
        f"| backend | tolerance | atoms | size (nm) | NUFFT {grid}^3 (s, best) | direct sum, extrapolated (s) "
        "| speed-up | NUFFT atom*q/s | direct atom*q/s | max error / max abs F | peak RSS (GiB) "
        "| RSS added by the peak (GiB) | traced numpy peak (MiB) |"
    )
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    for r in rows:
        lines.append(
            f"| {r['backend']} | {r['tolerance']:.0e} | {r['atoms']:,} | {r['size_nm']:.1f} | {r['nufft_s']:.3f} "
            f"| {_format_seconds(r['direct_full_s'])} ({r['direct_points']} pts in {r['direct_s']:.1f} s) "
            f"| {r['speedup']:.2e} | {r['nufft_rate']:.2e} | {r['direct_rate']:.2e} | {r['error']:.1e} "
            f"| {r['peak_rss_gib']:.2f} | {r['added_rss_gib']:.2f} | {r['traced_mib']:.0f} |"
        )
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[1e4, 1e5, 1e6], help="target atom counts")
    parser.add_argument("--large", action="store_true", help="add a 1e7-atom particle")
    parser.add_argument("--grid", type=int, default=128, help="grid points per axis")
    parser.add_argument("--oversampling", type=float, default=3.0)
    parser.add_argument("--tolerances", type=float, nargs="+", default=[1e-9, 1e-6],
                        help="NUFFT relative tolerances (FINUFFT eps) to time")
    parser.add_argument("--displacement", type=float, default=0.05, help="rms random displacement per axis, Angstrom")
    parser.add_argument("--repeats", type=int, default=3, help="NUFFT timings per size (best is reported)")
    parser.add_argument("--direct-points", type=int, default=2000, help="q points of the exact-sum subset")
    parser.add_argument("--direct-budget", type=float, default=1e9,
                        help="at most this many atom*q terms in the exact-sum subset (fewer points for big particles)")
    parser.add_argument("--backends", nargs="+", default=None, help="default: finufft, and cufinufft if usable")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: all cores)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from braggsynth.simulate import scattering

    backends = args.backends or [b for b in ("finufft", "cufinufft") if b in scattering.available_backends()]
    sizes = list(args.sizes) + ([1e7] if args.large and 1e7 not in args.sizes else [])
    options = {
        "grid": args.grid, "oversampling": args.oversampling, "tolerances": args.tolerances,
        "displacement": args.displacement, "repeats": args.repeats, "direct_points": args.direct_points,
        "direct_budget": args.direct_budget, "backends": backends, "threads": args.threads, "seed": args.seed,
    }

    import finufft
    import numba

    print(f"# Bragg peak benchmark: Au Wulff particles, reflection 111, {args.grid}^3 grid, oversampling "
          f"{args.oversampling:g}, random displacements "
          f"{args.displacement:g} A rms")
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"threads={args.threads or 'all'}; finufft {finufft.__version__}, numba {numba.__version__}; "
          f"backends available: {', '.join(scattering.available_backends())}")
    context = multiprocessing.get_context("spawn")
    rows = []
    for target in sorted(sizes):
        with context.Pool(1) as pool:
            result = pool.apply(measure, (target, options))
        for row in result:
            times = ", ".join(f"{t:.3f}" for t in row["nufft_times"])
            print(f"# {row['backend']} (tolerance {row['tolerance']:.0e}): {row['atoms']:,} atoms "
                  f"(built in {row['build_s']:.1f} s), "
                  f"NUFFT times {times} s, max abs F / N = {row['peak_over_n']:.4f}", flush=True)
        rows.extend(result)

    print()
    for backend in backends:
        print(markdown_table([r for r in rows if r["backend"] == backend], args.grid))
        print()
    million = [r for r in rows if 5e5 <= r["atoms"] <= 2e6]
    for r in million:
        print(f"Targets for {r['atoms']:,} atoms ({r['backend']}, tolerance {r['tolerance']:.0e}): "
              f"time {r['nufft_s']:.3f} s < 0.5 s: {'met' if r['nufft_s'] < 0.5 else 'NOT met'}; "
              f"speed-up {r['speedup']:.1e} >= 1e4: {'met' if r['speedup'] >= 1e4 else 'NOT met'}; "
              f"error {r['error']:.1e} < 1e-6: {'met' if r['error'] < 1e-6 else 'NOT met'}")


if __name__ == "__main__":
    main()
