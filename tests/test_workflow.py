"""The real workflow on a temporary copy: end-to-end run and what a change makes stale."""

import copy

import h5py
import numpy as np
import pytest

from braggsynth import io
from conftest import copy_workflow, scheduled_jobs, snakemake, write_config

pytestmark = pytest.mark.workflow

TINY = {
    "seed": 7,
    "shapes": {
        "cube": {"kind": "cube", "size_nm": [2.5, 3.0], "count": 2},
        "island": {
            "kind": "winterbottom",
            "surface_energies": [{"hkl": [1, 1, 1], "energy": 1.28}, {"hkl": [1, 0, 0], "energy": 1.63}],
            "interface": {"hkl": [0, 0, -1], "energy": -0.3},
            "substrate_misfit": 0.03,
            "size_nm": [3.0, 3.0],
        },
    },
    "relax": {"threads": 1},
    "peaks": {"grid": [32, 32, 32], "patterns_per_particle": 2, "threads": 1},
}


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    workdir = copy_workflow(tmp_path_factory.mktemp("workflow"), TINY)
    snakemake(workdir)
    return workdir


def particle_jobs(jobs):
    return {job for job in jobs if job[0] in ("build_particle", "relax_particle")}


def test_end_to_end_writes_particles_and_overview(finished_run):
    for shape, sample in (("cube", "0000"), ("cube", "0001"), ("island", "0000")):
        relaxed = io.read_relaxed(finished_run / "results" / "relaxed" / shape / f"{sample}.h5")
        assert relaxed["energy_final"] < relaxed["energy_initial"]
        assert np.allclose(relaxed["displacement"], relaxed["relaxed_positions"] - relaxed["ideal_positions"])
        with h5py.File(finished_run / "results" / "relaxed" / shape / f"{sample}.h5") as h5:
            record = io.read_json_attr(h5, "provenance")
        assert record["seed"] == 7 and "lammps" in record["versions"]
    assert relaxed["held"].sum() > 0  # the Winterbottom island is held by its substrate
    assert (finished_run / "results" / "particles" / "overview.png").stat().st_size > 10_000
    assert (finished_run / "logs" / "relax_particle" / "cube" / "0000.log").read_text().count("iterations") == 1
    # two cubes of the same shape draw different sizes from their own seeds
    sizes = [io.read_particle(finished_run / "results" / "particles" / "cube" / f"{s}.h5")[1]["size_nm"]
             for s in ("0000", "0001")]
    assert sizes[0] != sizes[1] and all(2.5 <= s <= 3.0 for s in sizes)


def test_bragg_peaks_are_written_for_every_particle_in_cxi_layout(finished_run):
    for shape, sample in (("cube", "0000"), ("cube", "0001"), ("island", "0000")):
        for pattern in ("00", "01"):
            path = finished_run / "results" / "peaks" / shape / f"{sample}_{pattern}.h5"
            with h5py.File(path) as h5:
                intensity = h5["entry_1/data_1/data"][()]
            peak = io.read_peak(path)
            assert intensity.shape == (32, 32, 32) and intensity.dtype == np.float32
            assert np.allclose(intensity, np.abs(peak["amplitude"]) ** 2, rtol=1e-5, atol=1e-3 * intensity.max())
            # the Bragg peak of a relaxed particle stays within a voxel or two of the grid centre
            centre = np.unravel_index(np.argmax(intensity), intensity.shape)
            assert np.max(np.abs(np.array(centre) - 16)) <= 2
            assert intensity.max() <= peak["natoms"] ** 2 * (1 + 1e-6)
            assert 2.0 <= peak["oversampling"][0] <= 5.0 and peak["backend"] == "finufft"
        assert (finished_run / "results" / "peaks" / shape / f"{sample}.png").stat().st_size > 10_000
    first = io.read_peak(finished_run / "results" / "peaks" / "cube" / "0000_00.h5")
    second = io.read_peak(finished_run / "results" / "peaks" / "cube" / "0000_01.h5")
    assert not np.allclose(first["rotation"], second["rotation"])  # each pattern draws its own q-frame


def test_more_patterns_schedule_only_new_peaks(edited):
    jobs = edited(lambda c: c["peaks"].update(patterns_per_particle=3))
    assert {job for job in jobs if job[0] == "bragg_peak"} == {
        ("bragg_peak", "cube", "0000", "02"), ("bragg_peak", "cube", "0001", "02"), ("bragg_peak", "island", "0000", "02")}
    assert particle_jobs(jobs) == set()


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
    assert particle_jobs(jobs) == {("build_particle", "island", "0000"), ("relax_particle", "island", "0000")}


def test_adding_a_shape_schedules_only_its_jobs(edited):
    jobs = edited(lambda c: c["shapes"].update(octa={"kind": "octahedron", "size_nm": [2.5, 3.0]}))
    assert particle_jobs(jobs) == {("build_particle", "octa", "0000"), ("relax_particle", "octa", "0000")}


def test_raising_a_count_schedules_only_the_new_particles(edited):
    jobs = edited(lambda c: c["shapes"]["cube"].update(count=4))
    assert particle_jobs(jobs) == {
        ("build_particle", "cube", "0002"), ("relax_particle", "cube", "0002"),
        ("build_particle", "cube", "0003"), ("relax_particle", "cube", "0003"),
    }


def test_same_seed_gives_the_same_particles(finished_run, tmp_path):
    again = copy_workflow(tmp_path, TINY)
    snakemake(again, "results/relaxed/cube/0001.h5")
    first = io.read_relaxed(finished_run / "results" / "relaxed" / "cube" / "0001.h5")
    second = io.read_relaxed(again / "results" / "relaxed" / "cube" / "0001.h5")
    assert np.array_equal(first["ideal_positions"], second["ideal_positions"])
    assert np.allclose(first["relaxed_positions"], second["relaxed_positions"], atol=1e-9)
