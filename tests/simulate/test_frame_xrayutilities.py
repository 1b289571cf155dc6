"""The detector frame against xrayutilities: the q basis a pattern's file records, rebuilt by xrayutilities
from the instrument values the same file records.

Conventions. braggsynth's q is crystallographic, 1/Angstrom without 2 pi (|k| = 1 / lambda,
F = sum exp(2 pi i q.r)); xrayutilities' q carries the 2 pi, so it is divided by 2 pi. braggsynth's lab has
z along the beam, y up, x horizontal; xrayutilities' (r_i = [1, 0, 0]) has x along the beam, z up, so our
(x, y, z) is its (y, z, x), a proper rotation. In it our frame is ``QConversion(['y+'], ['z+', 'y-'],
[1, 0, 0])``: the rocking eta about +y (our x, a positive step moves q by -d_omega a x q in the sample frame),
the in-plane angle nu about +z, the elevation delta about -y, detector rows up (``'z+'``, delta increasing)
and columns along +y (nu increasing). At eta = 0 xrayutilities' sample frame is the lab; the file's basis is
in the crystal frame, a rotation of the lab, so it is compared by lengths and angles (with handedness),
and the lab basis of ``scattering.detector_frame_basis`` vector by vector.

The grid q = G + B k is the tangent of the rocking scan at the central voxel. Its steps are compared with
xrayutilities' central differences over a thousandth of a pixel and of a rocking step; the whole pixels
and frames next to the centre differ from them by the flat detector's and the rotation's curvature,
(p / D)^2 / 2 and d_omega^2 / 6 relative (6e-5 for the 4 nm cube below: 4.8 mm, steps of 1.06 degrees).
"""

import math

import numpy as np
import pytest

from braggsynth import io
from braggsynth.simulate import frames, scattering, shapes

xu = pytest.importorskip("xrayutilities", reason="the reference for the detector frame: pip install xrayutilities")

#: (particle, size nm, reflection, oversampling, energy keV, pixel um, in-plane angle deg)
GEOMETRIES = [
    ({"kind": "cube", "element": "Au"}, 4.0, (1, 1, 1), 3.0, 8.0, 55.0, 0.0),
    ({"kind": "octahedron", "element": "Pt"}, 6.0, (2, 0, 0), [2.5, 4.5], 10.5, 75.0, 12.0),
    ({"kind": "cube", "element": "Ag"}, 8.0, (1, 1, 1), [3.5, 4.5], 13.0, 172.0, -9.0),
]


def xrayutilities_q(drawn, fraction, sample="y+", detector=("z+", "y-"), rows="z+", nu_sign=1.0):
    """q / 2 pi (1/Angstrom, xrayutilities' lab) of the 3 x 3 x 3 voxels around the centre, (rocking, rows,
    columns, 3), pixels and rocking steps shrunk by ``fraction``."""
    qconv = xu.experiment.QConversion([sample], list(detector), [1, 0, 0], en=drawn["energy_kev"] * 1e3)
    pixel = drawn["pixel_size_m"] * fraction
    qconv.init_area(rows, "y+", cch1=1, cch2=1, Nch1=3, Nch2=3, distance=drawn["detector_distance_m"],
                    pwidth1=pixel, pwidth2=pixel)
    eta = drawn["rocking_step_deg"] * fraction * np.array([-1.0, 0.0, 1.0])
    q = qconv.area(eta, np.full(3, nu_sign * drawn["nu_deg"]), np.full(3, drawn["delta_deg"]))
    return np.stack(q, axis=-1) / (2 * np.pi)


def centre_and_steps(q, fraction):
    """q of the central voxel and the (3, 3) central-difference steps (columns: rocking, rows, columns)."""
    steps = [q[2, 1, 1] - q[0, 1, 1], q[1, 2, 1] - q[1, 0, 1], q[1, 1, 2] - q[1, 1, 0]]
    return q[1, 1, 1], np.column_stack(steps) / (2 * fraction)


def lengths_and_angles(vectors):
    """Lengths of the columns and the angles (degrees) between each pair."""
    lengths = np.linalg.norm(vectors, axis=0)
    cosines = (vectors.T @ vectors) / np.outer(lengths, lengths)
    return lengths, np.degrees(np.arccos(np.clip(cosines[np.triu_indices(len(lengths), 1)], -1, 1)))


@pytest.mark.parametrize("spec, size_nm, reflection, oversampling, energy, pixel_um, nu", GEOMETRIES)
def test_a_patterns_q_basis_is_what_xrayutilities_computes_from_its_recorded_instrument(
        tmp_path, spec, size_nm, reflection, oversampling, energy, pixel_um, nu):
    atoms = shapes.build_particle(spec, size_nm)
    g = scattering.reciprocal_vector(reflection, atoms.info["lattice_constant"])
    settings = {"oversampling": np.broadcast_to(oversampling, (2,)).tolist(), "oversampling_per_axis": True,
                "max_rotation_deg": 180.0, "frame": "detector", "detector_fraction": 1.0,
                "detector_frame": {"energy_kev": [energy, energy], "pixel_size_um": [pixel_um, pixel_um],
                                   "in_plane_angle_deg": [nu, nu]}}
    geometry = frames.draw_pattern(np.random.default_rng(int(size_nm)), atoms.positions, g, settings)
    io.write_peak(tmp_path / "peak.h5", amplitude=np.ones((4, 4, 4), np.complex64), reflection=reflection,
                  reflection_vector=g, geometry=geometry, backend="finufft", tolerance=1e-6,
                  amplitude_dtype="complex64", natoms=len(atoms), record={})
    peak = io.read_peak(tmp_path / "peak.h5")
    drawn = peak["detector_frame"]

    fraction = 1e-3
    q_centre, steps = centre_and_steps(xrayutilities_q(drawn, fraction), fraction)
    # lengths of G and of the three steps, and the six angles between them, shear and handedness included
    lengths, angles = lengths_and_angles(np.column_stack([q_centre, steps]))
    file_lengths, file_angles = lengths_and_angles(np.column_stack([peak["reflection_vector"], peak["q_basis"]]))
    np.testing.assert_allclose(lengths, file_lengths, rtol=1e-5)
    np.testing.assert_allclose(angles, file_angles, rtol=0, atol=1e-6)
    assert np.sign(np.linalg.det(steps)) == np.sign(np.linalg.det(peak["q_basis"]))
    # the lab vectors themselves (G = the lab q: no rotation to the crystal frame)
    q_lab = scattering.lab_scattering_vector(drawn["energy_kev"], drawn["delta_deg"], drawn["nu_deg"])
    lab = scattering.detector_frame_basis(q_lab, drawn["energy_kev"], drawn["detector_distance_m"],
                                          drawn["pixel_size_m"], drawn["rocking_step_deg"],
                                          (drawn["delta_deg"], drawn["nu_deg"]))
    ours = [1, 2, 0]  # our (x, y, z) are xrayutilities' (y, z, x)
    np.testing.assert_allclose(q_centre[ours], q_lab, rtol=0, atol=1e-6 * np.linalg.norm(q_lab))
    norms = np.linalg.norm(lab, axis=0)
    np.testing.assert_allclose(steps[ours] / norms, lab / norms, rtol=0, atol=1e-5)

    # whole pixels and frames: the grid is their tangent, off by the curvature only
    _, neighbours = centre_and_steps(xrayutilities_q(drawn, 1.0), 1.0)
    curvature = np.array([math.radians(drawn["rocking_step_deg"]) ** 2 / 6]
                         + 2 * [(drawn["pixel_size_m"] / drawn["detector_distance_m"]) ** 2 / 2])
    deviation = np.linalg.norm(neighbours, axis=0) / np.linalg.norm(steps, axis=0) - 1
    np.testing.assert_allclose(deviation, -curvature, rtol=0.05)


def test_id01_arrays_are_ours_flipped_along_the_rocking_and_row_axes():
    """xrayutilities' ID01 frame (eta about -y, nu about -z, rows down) sees in voxel (j0, j1, j2) the q that
    ours sees in (2 - j0, 2 - j1, j2), at ID01's nu = -nu_deg; to_id01 moves a voxel there."""
    drawn = {"energy_kev": 9.0, "pixel_size_m": 55e-6, "detector_distance_m": 0.02, "rocking_step_deg": 0.3,
             "delta_deg": 35.0, "nu_deg": 7.0}
    ours = xrayutilities_q(drawn, 1.0)
    id01 = xrayutilities_q(drawn, 1.0, sample="y-", detector=("z-", "y-"), rows="z-", nu_sign=-1.0)
    np.testing.assert_allclose(frames.to_id01(ours), id01, rtol=0, atol=1e-12)
    np.testing.assert_allclose(frames.to_id01(id01), ours, rtol=0, atol=1e-12)

    array = np.zeros((4, 5, 6))
    array[1, 3, 4], array[2, 2, 3] = 1.0, 2.0  # a voxel, and the Bragg voxel n // 2
    flipped = frames.to_id01(array)
    assert flipped.shape == array.shape and flipped[2, 1, 4] == 1.0 and flipped[1, 2, 3] == 2.0
    assert np.array_equal(frames.to_id01(flipped), array)
