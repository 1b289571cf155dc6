"""Benchmark of the simulation's throughput (labelled 128^3 patterns per hour, config to dataset) and of the
dry run of a huge config.

Throughput: the workflow runs from an empty folder to ``results/dataset/card.md`` on ``--cores`` cores
(default 2), with the default config's particle sizes (6-8 nm), 4 patterns per particle, no measured file,
and LAMMPS and NUFFT on 1 thread per job (so that two jobs share the two cores), for each shard size of
``--shard-sizes`` (``simulate.particles_per_job``, default 1, 10 and 50) and, in the same run, for the
workflow of ``--baseline`` (default c14d6ad, the last commit with one job per particle and stage, taken
with ``git archive``; it runs on today's package, so only the layout of jobs differs). Wall time counts
everything Snakemake does, from parsing the config to the dataset card; each run has a fresh folder.

Dry run: ``snakemake --dry-run`` of a config with one shape of ``--dry-run-particles`` particles
(default 1e6) at the default shard size, its wall time and its peak memory (the child's ru_maxrss).

Usage::

    python benchmarks/bench_pipeline.py                        # 100 particles per shard size, 20 for the baseline
    python benchmarks/bench_pipeline.py --particles 40 --shard-sizes 10 --baseline-particles 0
    python benchmarks/bench_pipeline.py --particles 0 --dry-run-particles 1e6    # the dry run only
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
PATTERNS_PER_PARTICLE = 4


def run_config(particles: int, shapes: list[str], shard_size: int | None) -> dict:
    """The default config with ``particles`` split over ``shapes``, 4 patterns each, single-threaded jobs."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    chosen = {name: config["shapes"][name] for name in shapes}
    per_shape, extra = divmod(particles, len(chosen))
    for index, spec in enumerate(chosen.values()):
        spec["count"] = per_shape + (index < extra)
    config["shapes"] = {name: spec for name, spec in chosen.items() if spec["count"]}
    config["experimental"] = []
    config["peaks"] = {**config["peaks"], "patterns_per_particle": PATTERNS_PER_PARTICLE, "threads": 1}
    config["relax"] = {"threads": 1}
    if shard_size is not None:
        config["simulate"] = {"particles_per_job": shard_size}
    return config


def workflow_folder(parent: Path, name: str, commit: str | None) -> Path:
    """A runnable copy of the workflow: this checkout's, or ``commit``'s by git archive."""
    folder = parent / name
    folder.mkdir()
    if commit is None:
        shutil.copy(REPO / "Snakefile", folder / "Snakefile")
        for sub in ("workflow", "envs"):
            shutil.copytree(REPO / sub, folder / sub)
    else:
        archive = subprocess.run(["git", "-C", str(REPO), "archive", commit, "Snakefile", "workflow", "envs"],
                                 check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def snakemake(folder: Path, *args: str) -> tuple[float, float, str]:
    """Wall seconds, peak memory (MiB, of the Snakemake process and the jobs it waited for) and output."""
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "snakemake", *args], cwd=folder, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - start
    if process.returncode != 0:
        sys.exit(f"snakemake {' '.join(args)} failed in {folder}:\n{output[-3000:]}")
    return seconds, usage.ru_maxrss / 1024, output


def throughput(parent: Path, name: str, particles: int, shapes: list[str], shard_size: int | None,
               commit: str | None, cores: int) -> dict:
    folder = workflow_folder(parent, name, commit)
    (folder / "config.yaml").write_text(yaml.safe_dump(run_config(particles, shapes, shard_size), sort_keys=False))
    seconds, _, output = snakemake(folder, "--cores", str(cores), "results/dataset/card.md")
    jobs = int(re.findall(r"(\d+) of \d+ steps \(100%\) done", output)[-1])
    patterns = particles * PATTERNS_PER_PARTICLE
    shutil.rmtree(folder)
    return {"layout": name, "particles": particles, "patterns": patterns, "jobs": jobs, "seconds": seconds,
            "per_hour": patterns / seconds * 3600}


def dry_run(parent: Path, particles: int) -> tuple[float, float, int]:
    folder = workflow_folder(parent, "dry-run", None)
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["shapes"] = {"cube": {**config["shapes"]["cube"], "count": particles}}
    config["experimental"] = []
    (folder / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    seconds, peak_mib, output = snakemake(folder, "--dry-run", "--quiet", "rules")
    jobs = int(re.search(r"^total\s+(\d+)$", output, flags=re.M).group(1))
    shutil.rmtree(folder)
    return seconds, peak_mib, jobs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--particles", type=int, default=100, help="particles per sharded run (0: none)")
    parser.add_argument("--shard-sizes", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--shapes", nargs="+", default=["cube", "octahedron"], help="shapes of config.yaml used")
    parser.add_argument("--baseline", default="c14d6ad", help="commit of the one-job-per-particle workflow")
    parser.add_argument("--baseline-particles", type=int, default=20, help="particles of its run (0: skip it)")
    parser.add_argument("--dry-run-particles", type=float, default=1e6, help="particles of the dry run (0: skip)")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--workdir", default=tempfile.gettempdir())
    args = parser.parse_args()

    print(f"{platform.node()}: {os.cpu_count()} CPUs, --cores {args.cores}, python {platform.python_version()}")
    with tempfile.TemporaryDirectory(dir=args.workdir, prefix="bench_pipeline_") as parent:
        parent = Path(parent)
        if args.dry_run_particles:
            seconds, peak_mib, jobs = dry_run(parent, int(args.dry_run_particles))
            print(f"dry run, one shape of {int(args.dry_run_particles):.0e} particles: {jobs} jobs, "
                  f"{seconds:.1f} s, peak memory {peak_mib:.0f} MiB")
        runs = []
        if args.baseline_particles:
            runs.append(throughput(parent, f"baseline {args.baseline}", args.baseline_particles, args.shapes, None,
                                   args.baseline, args.cores))
            print(runs[-1], flush=True)
        for size in args.shard_sizes if args.particles else []:
            runs.append(throughput(parent, f"{size} per shard", args.particles, args.shapes, size, None, args.cores))
            print(runs[-1], flush=True)
    if runs:
        base = runs[0]["per_hour"] if args.baseline_particles else None
        print(f"\n| layout | particles | patterns | jobs | wall s | patterns/h | vs {args.baseline} |")
        print("|---|---|---|---|---|---|---|")
        for run in runs:
            ratio = f"{run['per_hour'] / base:.2f}x" if base else "-"
            print(f"| {run['layout']} | {run['particles']} | {run['patterns']} | {run['jobs']} | "
                  f"{run['seconds']:.0f} | {run['per_hour']:.0f} | {ratio} |")


if __name__ == "__main__":
    main()
