"""What the workflow does with its inputs before and beside the run of test_workflow.py: a measured file joins
the dataset and the realism report; a malformed config or data file fails at the dry run, in one line, before any
job; a large config's dry run estimates its cost; another Snakemake's running jobs are left alone."""

import copy
import json
import time

import h5py
import numpy as np
import pytest
from conftest import TINY, copy_workflow, snakemake

from braggsynth import io
from braggsynth.data import shards

pytestmark = pytest.mark.workflow


def test_measured_reconstruction_joins_as_experimental_patches(tmp_path, shared_data):
    reference = shared_data / "S11_modes_252_210_200_prebinning_1_2_2.h5"
    config = copy.deepcopy(TINY)
    config["experimental"] = [{"name": "s11", "path": str(reference), "object": True, "object_grid": [96, 128, 128]}]
    workdir = copy_workflow(tmp_path, config)
    snakemake(workdir, "results/measured/s11/patches.h5", "results/realism/report.md")
    intensity, mask = io.read_measured(workdir / "results" / "measured" / "s11" / "intensity.h5")
    assert intensity.shape == (96, 128, 128) and mask is None
    info = io.read_shard_info(workdir / "results" / "measured" / "s11" / "patches.h5")
    assert info["origin"] == "experimental" and info["source_id"] == "experimental/s11"
    # half of all patches are experimental: as many as the 5 particles x 2 patterns x 6 simulated ones
    with h5py.File(workdir / "results" / "measured" / "s11" / "patches.h5") as h5:
        assert h5["input"].shape == (60, 16, 16, 16)
    # the realism report puts the 10 recordings beside the measured file, with the discriminator's accuracy
    report = (workdir / "results" / "realism" / "report.md").read_text()
    assert report.startswith("# Realism: 10 simulated recordings against 1 measured file(s)")
    assert "| visibility_z |" in report and "balanced accuracy" in report
    found = json.loads((workdir / "results" / "realism" / "statistics.json").read_text())
    assert len(found["simulated"]) == 10 and set(found["measured"]) == {"s11"}
    assert (workdir / "results" / "realism" / "statistics.png").stat().st_size > 10_000


def test_missing_experimental_file_fails_before_any_job(tmp_path):
    config = copy.deepcopy(TINY)
    config["experimental"] = [{"name": "lost", "path": "nowhere/scan.cxi"}]
    workdir = copy_workflow(tmp_path, config)
    result = snakemake(workdir, check=False)
    assert result.returncode != 0
    assert "Config error in config.yaml: experimental[0].path: nowhere/scan.cxi: no such file" in result.stderr
    assert not (workdir / "results").exists()


def dry_run_config_errors(tmp_path, config, *args):
    """The "Config error" lines of a dry run of ``config`` (which must fail) on a fresh copy of the workflow."""
    workdir = copy_workflow(tmp_path, config)
    result = snakemake(workdir, "--dry-run", *args, check=False)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert not (workdir / "results").exists()
    return [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("Config error")]


def test_split_fractions_without_a_test_split_fail_at_the_dry_run(tmp_path):
    config = copy.deepcopy(TINY)
    config["dataset"]["split_fractions"] = {"train": 0.6, "validation": 0.4}
    assert dry_run_config_errors(tmp_path, config) == [
        "Config error in config.yaml: dataset.split_fractions: 'test' is a required property"]


def test_a_dry_run_of_millions_of_particles_estimates_its_cost_and_hints_at_larger_shards(tmp_path):
    config = copy.deepcopy(TINY)
    config["shapes"] = {"cube": {**TINY["shapes"]["cube"], "count": 2_000_000}}
    config["simulate"] = {"particles_per_job": 100_000}
    workdir = copy_workflow(tmp_path, config)
    started = time.perf_counter()
    run = snakemake(workdir, "--dry-run")
    assert time.perf_counter() - started < 60
    lines = [line for line in run.stderr.splitlines() if "2,000,000 particles" in line]
    assert lines == [shards.dag_estimate([2_000_000], 100_000)]
    assert "a dry run (and the start of every run) takes about" in lines[0]


def test_an_empty_config_file_fails_at_the_dry_run_in_one_line(tmp_path):
    workdir = copy_workflow(tmp_path, TINY)
    (workdir / "config.yaml").write_text("# nothing set yet\n")
    result = snakemake(workdir, "--dry-run", check=False)
    assert result.returncode != 0
    assert (result.stdout + result.stderr).strip() == (
        "Config error in config.yaml: the file is empty; it needs at least shapes: (every other key has a default, "
        "see workflow/schemas/config.schema.yaml)")


@pytest.mark.parametrize("name, content, is_object", [
    ("scan.h5", "a text file, not HDF5\n", False),
    ("scan.cxi", np.arange(8.0).reshape(2, 2, 2), False),  # a .npy array under an HDF5 suffix
    ("object.npy", np.ones((2, 2, 2), complex), True),  # object: true entries are read as HDF5 (CXI) files
])
def test_an_experimental_file_that_is_not_hdf5_fails_at_the_dry_run(tmp_path, name, content, is_object):
    good, bad = tmp_path / "good.npy", tmp_path / name
    np.save(good, np.ones((4, 4, 4)))
    if isinstance(content, str):
        bad.write_text(content)
    else:
        with open(bad, "wb") as handle:  # np.save(path) would add .npy to the name
            np.save(handle, content)
    config = copy.deepcopy(TINY)
    config["experimental"] = [{"name": "good", "path": str(good)},
                              {"name": "bad", "path": str(bad), "object": is_object}]
    because = "object: true reads it as HDF5 (CXI)" if is_object else f"its suffix {bad.suffix} says it is"
    assert dry_run_config_errors(tmp_path / "workflow", config) == [
        f"Config error in config.yaml: experimental[1].path: {bad}: not an HDF5 file (no HDF5 signature), "
        f"but {because}"]


def test_shard_folders_are_left_alone_while_another_snakemake_holds_the_folder(tmp_path):
    workdir = copy_workflow(tmp_path, TINY)
    unfinished = workdir / "results" / "patches" / "cube" / "shard0001"
    unfinished.mkdir(parents=True)  # a running job's folder: no manifest yet
    (unfinished / "0002_00.h5").write_bytes(b"half written")
    (workdir / ".snakemake" / "locks").mkdir(parents=True)
    (workdir / ".snakemake" / "locks" / "0.output.lock").write_text(str(unfinished))
    held = snakemake(workdir, "--dry-run")
    assert "shard folders not checked: another Snakemake run holds .snakemake/locks" in held.stderr
    assert (unfinished / "0002_00.h5").is_file()
    (workdir / ".snakemake" / "locks" / "0.output.lock").unlink()
    free = snakemake(workdir, "--dry-run")
    assert ("damaged shard file results/patches/cube/shard0001/manifest.json: missing (the job that makes the "
            "folder did not finish, or an older braggsynth made it); moved the folder to "
            "results/patches/cube/shard0001.damaged, rule pattern_shard remakes it") in free.stderr
    assert not unfinished.exists()
