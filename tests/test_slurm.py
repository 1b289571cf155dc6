"""The workflow through a real SLURM scheduler (skipped, with its reason, where there is none)."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess

import pytest
from conftest import REPO, TINY, copy_workflow, snakemake


def slurm_problem() -> str | None:
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        return "snakemake-executor-plugin-slurm is not installed (pip install -e '.[cluster]')"
    if shutil.which("sinfo") is None:
        return "no SLURM on this machine (sudo apt-get install slurm-wlm munge; profiles/slurm/start_one_node.sh)"
    result = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=30)
    if result.returncode != 0 or not re.search(r"idle|mix|alloc", result.stdout):
        return f"SLURM has no node up ({(result.stderr or result.stdout).strip()[:200]})"
    return None


@pytest.mark.workflow
def test_a_small_config_runs_through_slurm_to_the_dataset_card(tmp_path):
    problem = slurm_problem()
    if problem:
        pytest.skip(problem)
    workdir = copy_workflow(tmp_path, TINY)
    result = snakemake(workdir, "--profile", str(REPO / "profiles" / "slurm"), "results/dataset/card.md")
    log = result.stdout + result.stderr
    job_ids = re.findall(r"has been submitted with SLURM jobid (\d+)", log)
    assert job_ids, log[-2000:]
    assert (workdir / "results" / "dataset" / "card.md").is_file()
    states = subprocess.run(["squeue", "-h", "-t", "all", "-j", ",".join(job_ids), "-o", "%i %T"],
                            capture_output=True, text=True, timeout=30).stdout.split("\n")
    finished = {line.split()[0] for line in states if line.strip().endswith("COMPLETED")}
    assert finished == set(job_ids)
