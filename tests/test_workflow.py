"""The real workflow on a temporary copy: end-to-end run and what a change makes stale."""

import copy
import csv
import json
import os

import h5py
import numpy as np
import pytest
from conftest import TINY, copy_workflow, jobs_in, scheduled_jobs, snakemake, write_config

from braggsynth import io
from braggsynth.data import shards
from braggsynth.score.baselines import BASELINES

pytestmark = pytest.mark.workflow

PARTICLES = (("cube", "0000"), ("cube", "0001"), ("cube", "0002"), ("island", "0000"), ("island", "0001"))


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    workdir = copy_workflow(tmp_path_factory.mktemp("workflow"), TINY)
    snakemake(workdir)
    return workdir


def particle_jobs(jobs):
    return {job for job in jobs if job[0] == "particle_shard"}


def pattern_jobs(jobs):
    return {job for job in jobs if job[0] == "pattern_shard"}


def result(workdir, stage, shape, name, per_job=2):
    """A particle's (``0001``) or pattern's (``0001_00``) file in its stage's shard folder."""
    shard = int(name.split("_")[0]) // per_job
    return workdir / "results" / stage / shape / f"shard{shard:04d}" / f"{name}.h5"


def test_end_to_end_writes_particles_and_overview(finished_run):
    for shape, sample in PARTICLES:
        relaxed = io.read_relaxed(result(finished_run, "relaxed", shape, sample))
        assert relaxed["energy_final"] < relaxed["energy_initial"]
        assert np.allclose(relaxed["displacement"], relaxed["relaxed_positions"] - relaxed["ideal_positions"])
        with h5py.File(result(finished_run, "relaxed", shape, sample)) as h5:
            record = io.read_json_attr(h5, "provenance")
        assert record["seed"] == 9 and "lammps" in record["versions"]
    assert relaxed["held"].sum() > 0  # the Winterbottom island is held by its substrate
    assert (finished_run / "results" / "particles" / "overview.png").stat().st_size > 10_000
    # one job per shard: the first cube shard built and relaxed two particles, the second one
    assert (finished_run / "logs" / "particle_shard" / "cube" / "0000.log").read_text().count("iterations") == 2
    assert (finished_run / "logs" / "particle_shard" / "cube" / "0001.log").read_text().count("iterations") == 1
    assert sorted(path.name for path in (finished_run / "results" / "relaxed" / "cube").iterdir()) == [
        "shard0000", "shard0001"]
    # two cubes of the same shape draw different sizes from their own seeds
    sizes = [io.read_particle(result(finished_run, "particles", "cube", s))[1]["size_nm"] for s in ("0000", "0001")]
    assert sizes[0] != sizes[1] and all(2.5 <= s <= 3.0 for s in sizes)


def test_bragg_peaks_are_written_for_every_particle_in_cxi_layout(finished_run):
    frames_seen = {}
    for shape, sample in PARTICLES:
        for pattern in ("00", "01"):
            path = result(finished_run, "peaks", shape, f"{sample}_{pattern}")
            with h5py.File(path) as h5:
                intensity = h5["entry_1/data_1/data"][()]
            peak = io.read_peak(path)
            assert intensity.shape == (32, 32, 32) and intensity.dtype == np.float32
            assert np.allclose(intensity, np.abs(peak["amplitude"]) ** 2, rtol=1e-5, atol=1e-3 * intensity.max())
            # relaxation strain (3 % misfit on a 3 nm island) moves the maximum by a few voxels at most
            centre = np.unravel_index(np.argmax(intensity), intensity.shape)
            assert np.max(np.abs(np.array(centre) - 16)) <= 4
            assert intensity.max() <= peak["natoms"] ** 2 * (1 + 1e-6)
            assert 2.0 <= peak["oversampling"].min() and peak["backend"] == "finufft"
            frames_seen[peak["frame"]] = peak
        assert (finished_run / "results" / "peaks" / f"{shape}.png").stat().st_size > 10_000
    # both frames flow through the pipeline; a detector-frame pattern records its instrument as CXI does
    assert set(frames_seen) == {"orthogonal", "detector"}
    assert frames_seen["detector"]["detector_frame"]["detector_distance_m"] > 0
    first = io.read_peak(result(finished_run, "peaks", "cube", "0000_00"))
    second = io.read_peak(result(finished_run, "peaks", "cube", "0000_01"))
    assert not np.allclose(first["q_basis"], second["q_basis"])  # each pattern draws its own grid


SHARDS = {("cube", "0000"), ("cube", "0001"), ("island", "0000")}


def test_more_patterns_reschedule_pattern_shards_but_never_relaxation(edited):
    jobs = edited(lambda c: c["peaks"].update(patterns_per_particle=3))
    assert pattern_jobs(jobs) == {("pattern_shard", *shard) for shard in SHARDS}
    assert particle_jobs(jobs) == set()


def test_a_detector_change_reschedules_pattern_shards_but_never_relaxation(edited):
    jobs = edited(lambda c: c.update(detector={"max_counts": [1.0e4, 1.0e5]}))
    assert pattern_jobs(jobs) == {("pattern_shard", *shard) for shard in SHARDS}
    assert particle_jobs(jobs) == set()


def test_dataset_splits_by_particle_and_carries_a_card(finished_run):
    dataset_path = finished_run / "results" / "dataset" / "patches.h5"
    sources = {}
    with h5py.File(dataset_path) as h5:
        for split in ("train", "validation", "test"):
            group = h5[split]
            assert group["input"].chunks == (1, 16, 16, 16)
            assert group["input"].shape[0] == group["target"].shape[0] == group["mask"].shape[0] > 0
            assert np.all(group["input"][()][group["mask"][()]] == 0)
            sources[split] = {row.decode() for row in group["sources"]["source_id"]}
    # a particle (all its patterns) lives in one split only, and every particle is somewhere
    assert not (sources["train"] & sources["validation"] or sources["train"] & sources["test"]
                or sources["validation"] & sources["test"])
    assert set.union(*sources.values()) == {f"{shape}/{sample}" for shape, sample in PARTICLES}
    card = json.loads((finished_run / "results" / "dataset" / "card.json").read_text())
    assert card["patches"] == len(PARTICLES) * 2 * 6
    assert (finished_run / "results" / "dataset" / "montage.png").stat().st_size > 10_000
    # detector recordings are CXI files with their gap mask
    recording = io.read_detector_pattern(result(finished_run, "detector", "cube", "0000_00"))
    assert recording["mask"].any() and np.all(recording["gapped"][recording["mask"]] == 0)
    masked = recording["mask"] | recording["bad"]  # the gaps, bad pixels and aliens a preprocessing masks
    assert recording["bad"].any() and not (recording["bad"] & recording["mask"]).any()
    assert np.all(recording["gapped"][masked] == 0)
    assert np.array_equal(recording["gapped"][~masked], recording["counts"][~masked])


def test_training_and_evaluation_report(finished_run):
    model_dir = finished_run / "results" / "model" / "all"
    history = (model_dir / "history.csv").read_text().splitlines()
    assert len(history) == 1 + 2  # header and two epochs
    assert (model_dir / "learning_curve.png").stat().st_size > 5_000
    assert list(model_dir.glob("checkpoints-*/dataset-*/last.keras"))  # kept for resuming an interrupted training
    report = (finished_run / "results" / "evaluation" / "all" / "report.md").read_text()
    for method in ("model", "zero", "linear", "smoothed_linear", "biharmonic"):
        assert f"| {method} |" in report
    assert "## Test patches vs expected" in report and "## Held-out patterns vs counts" in report
    assert "| shipped |" not in report  # made for 32^3 patches, not this run's 16^3
    # the fill of phase retrieval with the gap left free, scored on the whole held-out pattern
    assert "| phasing (gap free) |" in report.split("## Held-out patterns vs counts")[1]
    metrics = (finished_run / "results" / "evaluation" / "all" / "metrics.csv").read_text()
    assert metrics.count("\n") > 8
    # the model's intervals, calibrated on the validation split, with their coverage of the test split
    calibration = json.loads((model_dir / "best.calibration.json").read_text())
    assert calibration["source"].endswith("validation split") and calibration["patches"] > 0
    assert 0 < calibration["coverage_test"]["0.68"] < calibration["coverage_test"]["0.95"] <= 1
    assert "`model`: intervals calibrated on" in report


def test_real_space_check_phases_every_mode_of_a_held_out_pattern(finished_run):
    folder = finished_run / "results" / "evaluation" / "all"
    report = (folder / "real_space.md").read_text()
    assert report.startswith("# Real space first") and "| photons in gap |" in report.split("\n\n")[2]
    versions = ("gap-free", "zero", "free", "PyNX recipe", "zero-mask", "forced: model", "interval: model",
                "narrowed: model", "auto: model")
    for version in versions:
        assert f"| 3 | through | {version} | 2 |" in report
    assert "| phasing (gap free) |" in report and "amplitude R" in report
    rows = list(csv.DictReader((folder / "real_space.csv").read_text().splitlines()))
    # two starts of nine versions and of the default one (no shipped model for 16^3 patches, one baseline)
    assert len(rows) == 2 * 10 and {row["start"] for row in rows} == {"0", "1"}
    found = {row["version"] for row in rows}
    (baseline,) = found - set(versions)  # the run's best baseline, forced
    assert set(versions) <= found and baseline.removeprefix("forced: ") in BASELINES
    auto = [row for row in rows if row["version"] == "auto: model"]
    assert auto[0]["mode"] in ("free", "narrowed")
    assert "of the gap's power lies in modes at least half hidden" in auto[0]["choice"]
    assert auto[0]["version"] == "auto: model" and 0 <= float(auto[0]["decided_share"]) <= 1
    scores = {row["version"]: float(row["modulus_pcc"]) for row in rows if row["start"] == "0"}
    assert all(-1 <= value <= 1 for value in scores.values()) and scores["gap-free"] > 0.5
    assert 0 < float(rows[0]["photon_share"]) < 1
    # the share of the gap's power the data cannot decide, per case, in the table and in the report's first one
    assert len({row["hidden_share"] for row in rows}) == 1 and 0 <= float(rows[0]["hidden_share"]) <= 1
    assert "| hidden (lambda > 0.9) |" in report.split("\n\n")[2]
    assert (folder / "real_space.png").stat().st_size > 20_000
    assert (folder / "real_space_errors.png").stat().st_size > 10_000


def test_inpaint_cli_fills_a_recording_and_keeps_measured_voxels(finished_run, tmp_path):
    import subprocess
    import sys

    recording = result(finished_run, "detector", "cube", "0000_00")
    output = tmp_path / "filled.cxi"
    subprocess.run([sys.executable, "-m", "braggsynth.cli", "inpaint", str(recording), str(output),
                    "--model", str(finished_run / "results" / "model" / "all" / "best.keras")], check=True)
    gapped, mask = io.read_measured(recording)
    with h5py.File(output) as h5:
        filled = h5["entry_1/data_1/data"][()]
    assert np.array_equal(filled[~mask], gapped[~mask])
    assert np.all(filled[mask] >= 0) and filled[mask].any()


def test_noop_rerun_schedules_nothing(finished_run):
    assert scheduled_jobs(finished_run) == set()


@pytest.fixture
def edited(finished_run):
    """Write a changed config into the finished run; restore the original afterwards."""
    def edit(change):
        config = copy.deepcopy(TINY)
        change(config)
        write_config(finished_run, config)
        return scheduled_jobs(finished_run)

    yield edit
    write_config(finished_run, TINY)


def test_changing_one_shape_reschedules_only_that_shape(edited):
    jobs = edited(lambda c: c["shapes"]["island"].update(substrate_misfit=0.02))
    assert particle_jobs(jobs) == {("particle_shard", "island", "0000")}
    assert pattern_jobs(jobs) == {("pattern_shard", "island", "0000")}


def test_adding_a_shape_schedules_only_its_jobs(edited):
    jobs = edited(lambda c: c["shapes"].update(octa={"kind": "octahedron", "size_nm": [2.5, 3.0]}))
    assert particle_jobs(jobs) == {("particle_shard", "octa", "0000")}
    assert pattern_jobs(jobs) == {("pattern_shard", "octa", "0000")}


def test_raising_a_count_reruns_only_the_last_partial_shard_and_adds_new_ones(edited):
    jobs = edited(lambda c: c["shapes"]["cube"].update(count=5))
    # cube shard 0000 (particles 0, 1) was full; 0001 held particle 2 and now holds 2 and 3; 0002 holds 4
    assert particle_jobs(jobs) == {("particle_shard", "cube", "0001"), ("particle_shard", "cube", "0002")}
    assert pattern_jobs(jobs) == {("pattern_shard", "cube", "0001"), ("pattern_shard", "cube", "0002")}


def test_a_particles_numbers_do_not_depend_on_the_shard_size(finished_run, tmp_path):
    """Cube 0002 is alone in shard 0001 with 2 particles per job, and third in shard 0000 with 3."""
    again = copy_workflow(tmp_path, {**TINY, "simulate": {"particles_per_job": 3}})
    snakemake(again, "results/patches/cube/shard0000")
    first = io.read_relaxed(result(finished_run, "relaxed", "cube", "0002"))
    second = io.read_relaxed(result(again, "relaxed", "cube", "0002", per_job=3))
    assert np.array_equal(first["ideal_positions"], second["ideal_positions"])
    assert np.allclose(first["relaxed_positions"], second["relaxed_positions"], atol=1e-9)
    for pattern in ("0002_00", "0002_01"):
        peaks = [io.read_peak(result(run, "peaks", "cube", pattern, per_job))["amplitude"]
                 for run, per_job in ((finished_run, 2), (again, 3))]
        assert np.allclose(*peaks, rtol=0, atol=1e-6 * np.abs(peaks[0]).max())
        counts = [io.read_detector_pattern(result(run, "detector", "cube", pattern, per_job))["counts"]
                  for run, per_job in ((finished_run, 2), (again, 3))]
        assert np.array_equal(*counts)


def test_html_report_gathers_every_stage_and_renders(finished_run, tmp_path):
    import shutil
    import subprocess

    snakemake(finished_run, "--report", "results/report.html")
    page = (finished_run / "results" / "report.html").read_text()
    for category in ("1 Particles", "2 Bragg peaks", "3 Dataset", "4 Training", "5 Evaluation"):
        assert category in page
    assert "coloured by the magnitude" in page and "against every baseline" in page  # captions
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("no chromium on this machine to render the report (Debian package chromium)")
    screenshot = tmp_path / "report.png"
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000",
                    "--virtual-time-budget=10000", f"--screenshot={screenshot}",
                    (finished_run / "results" / "report.html").as_uri()], capture_output=True, timeout=120)
    assert screenshot.stat().st_size > 20_000  # a rendered page, not a blank one


def test_a_plain_rerun_remakes_exactly_the_damaged_shard_folders(finished_run):
    truncated = result(finished_run, "peaks", "cube", "0000_00")
    deleted = result(finished_run, "relaxed", "island", "0000")
    untouched = [result(finished_run, "peaks", "cube", "0002_00"), result(finished_run, "relaxed", "cube", "0000")]
    before = [path.stat().st_mtime_ns for path in untouched]
    whole = truncated.read_bytes()
    os.truncate(truncated, len(whole) // 2)
    deleted.unlink()
    remade = {("particle_shard", "island", "0000"), ("pattern_shard", "cube", "0000"),
              ("pattern_shard", "island", "0000")}

    preview = snakemake(finished_run, "--dry-run")
    run = snakemake(finished_run)

    assert (f"damaged shard file results/peaks/cube/shard0000/0000_00.h5: {len(whole) // 2} bytes, manifest.json "
            f"says {len(whole)}; moved the folder to results/peaks/cube/shard0000.damaged, rule pattern_shard "
            "remakes it") in preview.stderr
    assert ("damaged shard file results/relaxed/island/shard0000/0000.h5: missing; moved the folder to "
            "results/relaxed/island/shard0000.damaged, rule particle_shard remakes it") in preview.stderr
    assert jobs_in(preview.stdout + preview.stderr, ("particle_shard", "pattern_shard")) == remade
    # the dry run set the damaged folders aside; the run after it still knows to remake them
    assert ("results/peaks/cube/shard0000 is missing since it was found damaged (now "
            "results/peaks/cube/shard0000.damaged): rule pattern_shard remakes it") in run.stderr
    assert jobs_in(run.stdout + run.stderr, ("particle_shard", "pattern_shard")) == remade
    assert truncated.read_bytes() == whole  # the seeds make the same numbers again
    assert io.read_relaxed(deleted)["energy_final"] < io.read_relaxed(deleted)["energy_initial"]
    assert [path.stat().st_mtime_ns for path in untouched] == before
    # whole again: cube shard 0000 holds 2 particles of 2 patterns, island shard 0000 2 particles
    assert len(shards.files_in([truncated.parent, deleted.parent])) == 2 * 2 + 2
    assert not list((finished_run / "results").glob("*/*/*.damaged"))
    assert scheduled_jobs(finished_run) == set()
