"""Shard folders: their manifests, the checks of every consumer and of the workflow's start, the DAG estimate."""

import json
import os

import numpy as np
import pytest

from braggsynth import io
from braggsynth.data import shards

CUBE = {"kind": "cube", "element": "Au", "size_nm": [2.0, 2.2]}


def shard_folder(root, stage="patches", names=("0000_00.h5", "0000_01.h5", "0001_00.h5", "0001_01.h5")):
    """A written shard folder ``root/results/<stage>/cube/shard0000`` of small HDF5 files, with its manifest."""
    folder = root / "results" / stage / "cube" / "shard0000"
    for index, name in enumerate(names):
        with io.atomic_h5(folder / name) as h5:
            h5["data"] = np.full(1000, index, dtype=np.float64)
    shards.write_manifest(folder, names)
    return folder


REMAKE = "; made by rule pattern_shard: remake it with `snakemake --force results/patches/cube/shard0000`"


def test_stage_functions_write_a_manifest_of_every_file_as_their_last_write(tmp_path):
    folder = tmp_path / "particles"
    shards.build("cube", CUBE, ["0000", "0001"], 9, folder)
    manifest = json.loads((folder / shards.MANIFEST).read_text())
    assert [entry["name"] for entry in manifest["files"]] == ["0000.h5", "0001.h5"]
    assert [entry["bytes"] for entry in manifest["files"]] == [(folder / f"000{i}.h5").stat().st_size for i in (0, 1)]
    assert all(len(entry["sha256"]) == 64 for entry in manifest["files"])
    assert shards.files_in([folder]) == [folder / "0000.h5", folder / "0001.h5"]
    assert not list(folder.glob(".*.part"))


def test_files_in_lists_folders_in_their_manifests_order(tmp_path):
    folder = shard_folder(tmp_path, names=("0002_00.h5", "0002_01.h5", "0010_00.h5"))
    (folder / "stray.h5").write_bytes(b"not listed")  # a file no job wrote is not a shard file
    assert shards.files_in([str(folder)]) == [folder / "0002_00.h5", folder / "0002_01.h5", folder / "0010_00.h5"]


def test_a_truncated_file_fails_its_consumer_in_one_line_naming_it_and_the_remake_command(tmp_path):
    folder = shard_folder(tmp_path)
    damaged = folder / "0000_01.h5"
    size = damaged.stat().st_size
    os.truncate(damaged, size // 2)
    with pytest.raises(io.DataFileError) as error:
        shards.files_in([folder])
    assert str(error.value) == (f"damaged shard file {damaged}: {size // 2} bytes, manifest.json says {size}{REMAKE}")


def test_a_deleted_file_fails_its_consumer(tmp_path):
    folder = shard_folder(tmp_path)
    (folder / "0001_00.h5").unlink()
    with pytest.raises(io.DataFileError, match=r"^damaged shard file .*/0001_00\.h5: missing; made by rule "):
        shards.files_in([folder])


def test_a_changed_byte_passes_the_start_check_and_fails_the_consumers_checksum(tmp_path):
    folder = shard_folder(tmp_path)
    damaged = folder / "0001_01.h5"
    content = bytearray(damaged.read_bytes())
    content[-100] ^= 0xFF
    damaged.write_bytes(bytes(content))
    assert shards.damage(folder, checksums=False) is None  # sizes and signatures only: cheap at every start
    with pytest.raises(io.DataFileError) as error:
        shards.verified_files([damaged])
    assert str(error.value) == (f"damaged shard file {damaged}: its SHA-256 differs from the one manifest.json "
                                f"lists (changed since the job wrote it){REMAKE}")


def test_a_file_overwritten_with_other_bytes_of_the_same_size_is_not_hdf5(tmp_path):
    folder = shard_folder(tmp_path)
    damaged = folder / "0000_00.h5"
    damaged.write_bytes(bytes(damaged.stat().st_size))
    problem = "not HDF5 (its first 8 bytes are not the HDF5 signature)"
    assert shards.damage(folder, checksums=False) == (damaged, problem)


def test_a_folder_without_manifest_is_damaged(tmp_path):
    folder = shard_folder(tmp_path)
    (folder / shards.MANIFEST).unlink()
    path, problem = shards.damage(folder)
    assert path == folder / "manifest.json" and problem.startswith("missing (the job that makes the folder did not")
    (folder / shards.MANIFEST).write_text("{not json")
    assert shards.damage(folder)[1].startswith("not a shard manifest (JSONDecodeError")


def test_verified_files_checks_only_the_files_named(tmp_path):
    folder = shard_folder(tmp_path)
    (folder / "0001_01.h5").unlink()
    assert shards.verified_files([str(folder / "0000_00.h5")]) == [folder / "0000_00.h5"]
    with pytest.raises(io.DataFileError, match=r"0002_00\.h5: not listed in manifest\.json"):
        shards.verified_files([folder / "0002_00.h5"])


def test_damaged_folders_are_set_aside_and_stay_to_remake_until_their_job_writes_them_again(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    whole = shard_folder(tmp_path, "peaks").relative_to(tmp_path)
    truncated = shard_folder(tmp_path / "second", "peaks").relative_to(tmp_path)
    unfinished = shard_folder(tmp_path / "third", "peaks").relative_to(tmp_path)
    size = (truncated / "0001_00.h5").stat().st_size
    os.truncate(truncated / "0001_00.h5", 10)
    (unfinished / shards.MANIFEST).unlink()
    folders = [str(whole), str(truncated), str(unfinished), "results/peaks/cube/shard0009"]

    remake, lines = shards.set_aside_damaged(folders, "pattern_shard")

    assert remake == [str(truncated), str(unfinished)]
    assert lines == [
        f"damaged shard file {truncated}/0001_00.h5: 10 bytes, manifest.json says {size}; moved the folder to "
        f"{truncated}.damaged, rule pattern_shard remakes it",
        f"damaged shard file {unfinished}/manifest.json: missing (the job that makes the folder did not finish, or "
        f"an older braggsynth made it); moved the folder to {unfinished}.damaged, rule pattern_shard remakes it",
    ]
    assert whole.is_dir() and not truncated.exists() and not unfinished.exists()
    assert (truncated.parent / "shard0000.damaged" / "0000_00.h5").is_file()  # nothing is lost before the remake
    # the next start (a dry run did the first) still remakes them
    assert shards.set_aside_damaged(folders, "pattern_shard") == (remake, [
        f"{truncated} is missing since it was found damaged (now {truncated}.damaged): rule pattern_shard remakes it",
        f"{unfinished} is missing since it was found damaged (now {unfinished}.damaged): rule pattern_shard remakes it",
    ])
    # the job makes the folder whole again, and its damaged copy goes
    shard_folder(tmp_path / "second", "peaks")
    assert not (truncated.parent / "shard0000.damaged").exists()
    assert shards.set_aside_damaged(folders, "pattern_shard")[0] == [str(unfinished)]


def test_no_dag_estimate_up_to_a_million_particles():
    assert shards.dag_estimate([600_000, 400_000], 1) is None


def test_dag_estimate_of_two_million_particles_hints_at_the_shard_size_of_the_million_particle_case():
    line = shards.dag_estimate([2_000_000], 100)
    assert line == ("2,000,000 particles in 40,000 shard jobs (simulate.particles_per_job 100): a dry run (and the "
                    "start of every run) takes about 1 min 10 s and 1.2 GiB; simulate.particles_per_job 200 makes "
                    "20,000 jobs, about 40 s and 0.8 GiB")
    assert "\n" not in line
    assert shards.dag_estimate([2_000_000], 100_000).endswith("a larger simulate.particles_per_job would save little")


def test_dag_cost_reproduces_the_measured_dry_runs():
    # 1e6 particles at 100 per shard: 43 s, 0.74 GB; 1e7: 5 min 20 s, 5.2 GiB; 2e6 in 40 jobs: 9.8 s, 0.48 GB
    for particles, jobs, seconds, gib in ((1e6, 20_000, 43, 0.69), (1e7, 200_000, 320, 5.2), (2e6, 40, 9.8, 0.45)):
        estimate = shards.dag_cost(particles, jobs)
        assert estimate == pytest.approx((seconds, gib), rel=0.2)


def test_durations_round_minutes_and_seconds_together():
    assert [shards._duration(seconds) for seconds in (59.4, 59.6, 119.6, 321)] == ["59 s", "1 min 0 s", "2 min 0 s",
                                                                                   "5 min 21 s"]
