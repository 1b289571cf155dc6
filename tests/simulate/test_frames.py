"""Pattern grids: the detector frame of a rocking scan against a cube's analytic fringes, and what the
pattern's file records."""

import numpy as np
import pytest

from braggsynth import io
from braggsynth.simulate import frames, scattering, shapes

SETTINGS = {"oversampling": [2.5, 4.5], "oversampling_per_axis": True, "max_rotation_deg": 180.0,
            "frame": "detector", "detector_fraction": 0.5,
            "detector_frame": {"energy_kev": [8.0, 10.0], "pixel_size_um": [55.0, 75.0],
                               "in_plane_angle_deg": [-15.0, 15.0]}}


def simple_cubic_cube(cells: int, a: float) -> np.ndarray:
    """cells^3 atoms on a simple cubic lattice of constant a (Angstrom): (1, 1, 1) / a is a Bragg peak with
    |F(G + d)| = prod_c |sin(pi cells a d_c) / sin(pi a d_c)|, zero where a d_c cells is a non-zero integer."""
    index = np.arange(cells) * a
    return np.stack(np.meshgrid(index, index, index, indexing="ij"), axis=-1).reshape(-1, 3)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_detector_frame_fringes_of_a_cube_fall_where_the_analytic_formula_puts_them(seed):
    """Along array axis j the line q = G + t b_j first crosses a zero at t1 = 1 / (cells a max_c |b_j . c|)."""
    a, cells = 4.0, 16
    positions = simple_cubic_cube(cells, a)
    g = np.array([1.0, 1.0, 1.0]) / a
    geometry = frames.draw_detector(np.random.default_rng(seed), positions, g, SETTINGS)
    fine = 32  # samples per voxel along the line
    for axis in range(3):
        step = geometry.basis[:, axis]
        line_basis = np.column_stack([step / fine, geometry.basis[:, (axis + 1) % 3],
                                      geometry.basis[:, (axis + 2) % 3]])
        line = np.abs(scattering.bragg_peak(positions, g, line_basis, (32 * fine, 1, 1), backend="finufft")[:, 0, 0])
        t = (np.arange(32 * fine) - 16 * fine) / fine  # voxels of the detector-frame grid along this axis
        after = t > 0
        rising = np.diff(line[after]) > 0
        assert rising.any()
        first_zero = t[after][np.argmax(rising)]  # the first minimum past the centre
        expected = 1 / (cells * a * np.abs(step).max())  # a few voxels: the oversampling along an oblique step
        assert first_zero == pytest.approx(expected, abs=1.5 / fine)
        assert line[after][np.argmax(rising)] < 2e-2 * cells**3
    # the frame is sheared: the rocking steps are normal to G, the detector rows at the Bragg angle from it
    unit = geometry.basis / np.linalg.norm(geometry.basis, axis=0)
    assert abs(unit[:, 0] @ g) < 1e-12
    assert abs(np.degrees(np.arccos(unit[:, 0] @ unit[:, 1])) - 90) > 5


def test_the_drawn_oversampling_is_what_the_grid_samples():
    atoms = shapes.build_particle({"kind": "cube", "element": "Au"}, size_nm=4.0)
    g = scattering.reciprocal_vector((1, 1, 1), atoms.info["lattice_constant"])
    rng = np.random.default_rng(3)
    draws = frames.draw_detector(np.random.default_rng(3), atoms.positions, g, SETTINGS)
    s_rocking, s_detector = rng.uniform(2.5, 4.5, size=2)
    assert draws.oversampling[0] == pytest.approx(s_rocking, rel=1e-12)
    assert min(draws.oversampling[1:]) == pytest.approx(s_detector, rel=1e-12)
    np.testing.assert_allclose(frames.oversampling_of(draws.basis, atoms.positions), draws.oversampling)


@pytest.mark.parametrize("frame", ["detector", "orthogonal"])
def test_the_rocking_axis_draws_its_oversampling_from_its_own_range(frame):
    """oversampling_rocking [2, 2.2] against a detector plane of [5, 6]: axis 0 of every grid is sampled
    at 2-2.2, the others at 5 or more (the detector frame's shear only oversamples them more)."""
    atoms = shapes.build_particle({"kind": "cube", "element": "Au"}, size_nm=4.0)
    g = scattering.reciprocal_vector((1, 1, 1), atoms.info["lattice_constant"])
    settings = {**SETTINGS, "frame": frame, "oversampling": [5.0, 6.0], "oversampling_rocking": [2.0, 2.2]}
    for seed in range(5):
        geometry = frames.draw_pattern(np.random.default_rng(seed), atoms.positions, g, settings)
        assert geometry.frame == frame
        assert 2.0 <= geometry.oversampling[0] <= 2.2 + 1e-9
        assert geometry.oversampling[1:].min() >= 5.0 - 1e-9
        np.testing.assert_allclose(frames.oversampling_of(geometry.basis, atoms.positions), geometry.oversampling)
    unset = {**SETTINGS, "oversampling_rocking": None}
    np.testing.assert_array_equal(frames.draw_pattern(np.random.default_rng(0), atoms.positions, g, unset).basis,
                                  frames.draw_pattern(np.random.default_rng(0), atoms.positions, g, SETTINGS).basis)


def test_a_patterns_file_records_the_geometry_that_rebuilds_its_grid(tmp_path):
    """PyNX and cdiutils read energy (J), distance and pixel sizes (m) where CXI puts them; with the
    recorded angles and rocking step, scattering.detector_frame_basis gives back the grid."""
    import h5py

    atoms = shapes.build_particle({"kind": "octahedron", "element": "Au"}, size_nm=4.0)
    g = scattering.reciprocal_vector((1, 1, 1), atoms.info["lattice_constant"])
    geometry = frames.draw_pattern(np.random.default_rng(4), atoms.positions, g, SETTINGS)
    amplitude = scattering.bragg_peak(atoms.positions, g, geometry.basis, (16, 16, 16))
    path = tmp_path / "peak.h5"
    io.write_peak(path, amplitude=amplitude, reflection=(1, 1, 1), reflection_vector=g, geometry=geometry,
                  backend="finufft", tolerance=1e-6, amplitude_dtype="complex64", natoms=len(atoms), record={})
    peak = io.read_peak(path)
    drawn = peak["detector_frame"]
    assert peak["frame"] == "detector" and "rotation" not in peak
    with h5py.File(path) as h5:
        assert h5["entry_1/instrument_1/source_1/energy"][()] == pytest.approx(drawn["energy_kev"] * 1.602176634e-16)
        assert h5["entry_1/instrument_1/detector_1/distance"][()] == drawn["detector_distance_m"]
        assert h5["entry_1/instrument_1/detector_1/x_pixel_size"][()] == drawn["pixel_size_m"]
    assert 8 <= drawn["energy_kev"] <= 10 and 55e-6 <= drawn["pixel_size_m"] <= 75e-6
    rebuilt = scattering.axis_angle_rotation(g, drawn["azimuth_deg"]) @ scattering.detector_frame_basis(
        g, drawn["energy_kev"], drawn["detector_distance_m"], drawn["pixel_size_m"], drawn["rocking_step_deg"],
        (drawn["delta_deg"], drawn["nu_deg"]))
    np.testing.assert_allclose(rebuilt, peak["q_basis"], rtol=0, atol=1e-12 * np.abs(rebuilt).max())


def test_mixed_frames_draw_each_frame_about_as_often_as_asked():
    atoms = shapes.build_particle({"kind": "cube", "element": "Au"}, size_nm=3.0)
    g = scattering.reciprocal_vector((1, 1, 1), atoms.info["lattice_constant"])
    rng = np.random.default_rng(5)
    drawn = [frames.draw_pattern(rng, atoms.positions, g, {**SETTINGS, "frame": "mixed", "detector_fraction": 0.3})
             for _ in range(200)]
    share = np.mean([geometry.frame == "detector" for geometry in drawn])
    assert 0.2 < share < 0.4


def test_an_in_plane_angle_beyond_the_scattering_angle_is_refused():
    g = scattering.reciprocal_vector((1, 1, 1), shapes.lattice_constant("Au"))
    two_theta, delta = frames.bragg_angles_deg(g, 9.0, 0.0)
    assert delta == pytest.approx(two_theta)
    with pytest.raises(ValueError, match="beyond the scattering angle"):
        frames.bragg_angles_deg(g, 9.0, two_theta + 1)
