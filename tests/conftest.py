"""Shared test helpers: run the real workflow on a temporary copy with a small config."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import pytest
import yaml

from braggsynth.cli import main
from braggsynth.data import patches
from braggsynth.score import metrics
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


#: The tiny workflow config of the workflow tests: two shapes, five particles, 16^3 patches.
TINY = {
    "seed": 9,
    "shapes": {
        "cube": {"kind": "cube", "size_nm": [2.5, 3.0], "count": 3},
        "island": {
            "kind": "winterbottom",
            "surface_energies": [{"hkl": [1, 1, 1], "energy": 1.28}, {"hkl": [1, 0, 0], "energy": 1.63}],
            "interface": {"hkl": [0, 0, -1], "energy": -0.3},
            "substrate_misfit": 0.03,
            "size_nm": [3.0, 3.0],
            "count": 2,
        },
    },
    "simulate": {"particles_per_job": 2},  # cube: shards 0000 (particles 0, 1) and 0001 (2); island: 0000
    "relax": {"threads": 1},
    # half the patterns in the sheared detector frame of a rocking scan, half in a rotated orthogonal one
    "peaks": {"grid": [32, 32, 32], "patterns_per_particle": 2, "threads": 1, "frame": "mixed"},
    "patches": {"size": 16, "per_pattern": 6, "gap_widths_px": [3, 5]},
    # with seed 9 these five particles fall in every split
    "dataset": {"split_fractions": {"train": 0.4, "validation": 0.3, "test": 0.3}},
    "model": {"base_filters": 4, "depth": 2},
    "train": {"epochs": 2, "batch_size": 8, "learning_rate": 1.0e-3},
    "evaluate": {"held_out_patterns": 1, "crops": 0, "phasing_fill": True},
    "real_space": {"crop_px": 32, "starts": 2, "gap_widths_px": [3], "sequence": "20*ER+40*HIO+20*ER"},
}


#: The console script of this environment.
BRAGGSYNTH = str(Path(sys.executable).parent / "braggsynth")


@pytest.fixture(scope="module")
def tiny_model_path(tmp_path_factory) -> str:
    """An untrained residual model saved to disk: it returns its prefill, enough to test the plumbing."""
    import keras

    from braggsynth.learn.model import build_model, save_model

    keras.utils.set_random_seed(0)
    return str(save_model(build_model(base_filters=4, depth=2), tmp_path_factory.mktemp("model") / "tiny.keras"))


def gap_pcc(filled, truth, mask) -> float:
    _, (low, high) = patches.normalise(truth, mask)
    return float(metrics.gap_metrics(patches.scale(filled, low, high)[None], patches.scale(truth, low, high)[None],
                                     mask[None])["pcc"][0])


def read_filled(path):
    with h5py.File(path, "r") as h5:
        data = h5["entry_1/data_1"]
        return (data["data"][()], data["filled"][()].astype(bool), data["inpainting_spread"][()],
                dict(data.attrs))


def one_line_error(capsys, argv, status=1) -> str:
    """Run the CLI, check it fails with ``status`` and one line on stderr (no traceback); return that line."""
    if status == 2:
        with pytest.raises(SystemExit) as done:
            main(argv)
        assert done.value.code == 2
    else:
        assert main(argv) == status
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) >= 1 and "Traceback" not in "\n".join(err)
    return err[-1]
