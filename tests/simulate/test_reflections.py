"""One reflection per grid: the reciprocal-lattice points a grid reaches, redrawn geometries, the config check."""

import copy
import functools

import numpy as np
import pytest
import yaml
from conftest import REPO

from braggsynth import config, seeds
from braggsynth.simulate import frames, reflections, relax, scattering, shapes

GRID = (128, 128, 128)
ORTHOGONAL = {"oversampling": [2.5, 4.5], "oversampling_per_axis": False, "max_rotation_deg": 180.0}


def intensity(positions, lattice_constant, geometry):
    reflection = scattering.reciprocal_vector((1, 1, 1), lattice_constant)
    return np.abs(scattering.bragg_peak(positions, reflection, geometry.basis, GRID)) ** 2


def draw_clear(rng, positions, lattice_constant, settings=ORTHOGONAL):
    draw = functools.partial(frames.draw_orthogonal, positions=positions, settings=settings)
    return reflections.draw_clear(rng, draw, (1, 1, 1), lattice_constant, GRID)


def test_the_neighbours_of_111_are_the_corners_of_a_cube():
    a = 4.0
    near = reflections.lattice_points_near((1, 1, 1), a, radius=np.sqrt(3) / a + 1e-9)
    assert sorted(map(tuple, np.rint(near * a).astype(int))) == sorted(
        (x, y, z) for x in (-1, 1) for y in (-1, 1) for z in (-1, 1))


@pytest.mark.parametrize(("oversampling", "reached"), [(2.0, True), (6.0, False)])
def test_a_grid_on_the_cubic_axes_reaches_the_forward_beam_when_its_corner_passes_1_over_a(oversampling, reached):
    """The grid's half-width along an axis is n / (2 s L); (0, 0, 0) sits at 1/a along each axis from 111."""
    a, side = 4.0, 60.0
    corners = np.array([[x, y, z] for x in (0, side) for y in (0, side) for z in (0, side)])
    half_width = GRID[0] / (2 * oversampling * side) + reflections.CLEARANCE_FRINGES / side
    assert (half_width > 1 / a) == reached
    basis = scattering.grid_basis(corners, oversampling, np.eye(3))
    found = reflections.reached_reflections(basis, oversampling, (1, 1, 1), a, GRID)
    assert ((0, 0, 0) in found) == reached


@pytest.fixture(scope="module")
def the_issues_particle():
    """Default run, seed 2024: truncated octahedron 0002 (7.9 nm), relaxed; its pattern 00 drew oversampling 2.52."""
    spec = yaml.safe_load((REPO / "config.yaml").read_text())["shapes"]["truncated_octahedron"]
    size = shapes.draw_size_nm(seeds.rng(2024, "build_particle", "truncated_octahedron", 2), spec["size_nm"])
    atoms = shapes.build_particle({**spec, "element": "Au"}, size)
    return relax.relax("Au", atoms.positions, threads=2).positions, atoms.info["lattice_constant"]


def test_the_issues_pattern_held_the_forward_beam_and_its_redraw_peaks_at_the_centre(the_issues_particle):
    positions, a = the_issues_particle
    first = frames.draw_orthogonal(seeds.rng(2024, "bragg_peak", "truncated_octahedron", 2, 0), positions, ORTHOGONAL)
    assert np.isclose(first.oversampling[0], 2.52, atol=0.005)
    assert (0, 0, 0) in reflections.reached_reflections(first.basis, first.oversampling, (1, 1, 1), a, GRID)
    before = intensity(positions, a, first)
    peak = np.unravel_index(np.argmax(before), GRID)
    assert np.max(np.abs(np.array(peak) - 64)) > 40  # F = N at q = 0 outshines the strained 111 peak

    geometry, draws = draw_clear(seeds.rng(2024, "bragg_peak", "truncated_octahedron", 2, 0), positions, a)
    assert draws > 1
    assert reflections.reached_reflections(geometry.basis, geometry.oversampling, (1, 1, 1), a, GRID) == []
    after = intensity(positions, a, geometry)
    peak = np.unravel_index(np.argmax(after), GRID)
    assert np.max(np.abs(np.array(peak) - 64)) <= 2


def test_a_clear_pattern_keeps_its_first_draw(the_issues_particle):
    positions, a = the_issues_particle
    kept = 0
    settings = {**ORTHOGONAL, "oversampling": [4.0, 4.5]}
    for pattern in range(10):
        first = frames.draw_orthogonal(seeds.rng(5, "bragg_peak", "x", 0, pattern), positions, settings)
        geometry, draws = draw_clear(seeds.rng(5, "bragg_peak", "x", 0, pattern), positions, a, settings)
        if draws == 1:
            kept += 1
            assert np.array_equal(geometry.oversampling, first.oversampling)
            assert np.array_equal(geometry.rotation, first.rotation)
    assert kept >= 5


def test_a_config_whose_particles_are_too_small_for_any_grid_fails_naming_the_size_that_works():
    settings = yaml.safe_load((REPO / "config.yaml").read_text())
    settings = {"shapes": {"cube": {**settings["shapes"]["cube"], "element": "Au", "size_nm": [3, 8]}},
                "peaks": {"reflection": [1, 1, 1], "grid": list(GRID), "oversampling": [2.5, 4.5],
                          "max_rotation_deg": 180, "oversampling_per_axis": False, "frame": "orthogonal"}}
    with pytest.raises(config.ConfigError) as error:
        config.check_one_reflection(settings)
    message = str(error.value)
    assert message.startswith("shapes.cube.size_nm: every [128, 128, 128] grid around reflection [1, 1, 1] reaches "
                              "another reciprocal-lattice point for a 3 nm particle") and "\n" not in message
    smallest = float(message.split("at least ")[1].split(" nm")[0])
    largest_grid = int(message.split("at most ")[1].split(" voxels")[0])
    assert 3 < smallest < 6 and 32 <= largest_grid < 128
    works = copy.deepcopy(settings)
    works["shapes"]["cube"]["size_nm"] = [smallest, 8]
    config.check_one_reflection(works)
    works = copy.deepcopy(settings)
    works["peaks"]["grid"] = [largest_grid] * 3
    config.check_one_reflection(works)


def test_detector_frame_patterns_are_redrawn_clear_of_other_reflections_too(the_issues_particle):
    positions, a = the_issues_particle
    settings = {**ORTHOGONAL, "frame": "detector", "oversampling_per_axis": True,
                "detector_frame": {"energy_kev": [8.0, 10.0], "pixel_size_um": [55.0, 75.0],
                                   "in_plane_angle_deg": [-15.0, 15.0]}}
    g = scattering.reciprocal_vector((1, 1, 1), a)
    draw = functools.partial(frames.draw_detector, positions=positions, reflection_vector=g, settings=settings)
    redrawn = 0
    for pattern in range(20):
        geometry, draws = reflections.draw_clear(np.random.default_rng(pattern), draw, (1, 1, 1), a, GRID)
        redrawn += draws > 1
        assert reflections.reached_reflections(geometry.basis, geometry.oversampling, (1, 1, 1), a, GRID) == []
    assert redrawn > 0  # 2.5-4.5 on a 7.9 nm particle: some first draws reach another point
