"""Shared test helpers: run the real workflow on a temporary copy with a small config."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from braggsynth.simulate import shapes


REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

AU_SURFACE_ENERGIES = [dict(entry) for entry in shapes.AU_SURFACE_ENERGIES]


def copy_workflow(destination: Path, config: dict) -> Path:
    """A runnable copy of the workflow (Snakefile, workflow/) with ``config`` as config.yaml."""
    destination.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "Snakefile", destination / "Snakefile")
    for folder in ("workflow", "envs"):
        shutil.copytree(REPO / folder, destination / folder, dirs_exist_ok=True)
    write_config(destination, config)
    return destination


def write_config(workdir: Path, config: dict) -> None:
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "2", *args],
        cwd=workdir, capture_output=True, text=True, timeout=1800,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return result


def jobs_in(output: str, rules=None) -> set[tuple[str, ...]]:
    """(rule, *wildcard values) of every job a Snakemake log lists (of ``rules`` only, when given)."""
    jobs, rule, values = set(), None, ()
    for line in output.splitlines() + ["rule end:"]:
        started = re.match(r"^\s*(?:local)?rule (\w+):", line)
        if started:
            if rule is not None and (rules is None or rule in rules):
                jobs.add((rule, *values))
            rule, values = started.group(1), ()
        wildcards = re.match(r"^\s+wildcards: (.+)$", line)
        if wildcards and rule is not None:
            values = tuple(part.split("=", 1)[1] for part in wildcards.group(1).split(", "))
    return jobs


def scheduled_jobs(workdir: Path) -> set[tuple[str, ...]]:
    """(rule, *wildcard values) of every job a dry run would execute (grouped jobs included)."""
    out = snakemake(workdir, "--dry-run")
    return jobs_in(out.stdout + out.stderr)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"reference data folder {SHARED_DATA} is not present")
    return SHARED_DATA
