"""The q grid of a pattern, drawn per pattern: an orthogonal frame (a rotated cube of q) or the detector
frame of a rocking scan (sheared, as measured data come).

Both sample F(q) on q = G + B k (:func:`braggsynth.simulate.scattering.bragg_peak`); they differ in the basis B.
Along array axis i the oversampling is ``s_i = 1 / (|b_i| L_i)``, with L_i the particle's extent along the
step b_i: the real-space cell of the grid is ``1 / |b_i|`` wide across the faces normal to b_i. L_i is the
extent of the atom centres, one atomic plane spacing d short of the width that diffracts (N planes span
(N - 1) d and diffract like N d), so a fringe spans s_i L_i / (L_i + d) voxels, not s_i: an FCC cube of
16 cells (L = 16 a, 33 (200) planes at a / 2) diffracts like 16.5 cells along its axes, fringes 3 % tighter
than nominal (about 4.5 % at 11 cells, a 6 nm Au cube).

Detector frame (:func:`detector_grid_basis`): array axis 0 is the rocking angle (rotation about the lab
x axis, as the eta circle of ID01), axes 1 and 2 the detector's rows and columns, sheared against the
rocking axis by the Bragg angle. A detector at distance D with pixels p sees q steps of p / (D lambda);
a 6-8 nm particle sampled at s = 2.5-4.5 on 55 um pixels needs D of a few millimetres, and a rocking
step of a few degrees (a 200 nm crystal has the same pattern, in pixels, at D near 0.3 m and steps of
hundredths of a degree). So the oversampling is drawn, as for the orthogonal frame, and D and the
rocking step follow from it; the photon energy, the pixel size, the detector's in-plane angle and the
crystal's azimuth about G are drawn from their ranges. Every value is recorded with the pattern.

ID01's conventions flip the rocking and row axes relative to ours. In xrayutilities' lab (x along the
beam, z up: our x, y, z are its y, z, x) this frame is ``QConversion(['y+'], ['z+', 'y-'], [1, 0, 0])``
(rocking eta about +y, nu about +z, delta about -y) with ``init_area('z+', 'y+', ...)`` (rows up, columns
along +y); ID01's has eta about -y, nu about -z and rows down (``'z-'``). A raw ID01 array is thus a
braggsynth array flipped along axes 0 and 1, ``array[::-1, ::-1, :]`` (:func:`to_id01`, its own
inverse), at ID01 angles eta step = rocking_step_deg, delta = delta_deg, nu = -nu_deg.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from braggsynth.simulate import scattering

FRAMES = ("orthogonal", "detector", "mixed")


@dataclass
class PatternGeometry:
    """A pattern's grid: B (3, 3) in 1/Angstrom (column i the step of array axis i), the oversampling
    per axis, the frame, and what was drawn (``rotation`` of an orthogonal frame, or the ``instrument``
    of a detector frame: energy_kev, pixel_size_m, detector_distance_m, rocking_step_deg, delta_deg,
    nu_deg, azimuth_deg)."""

    basis: np.ndarray
    oversampling: np.ndarray
    frame: str
    rotation: np.ndarray | None = None
    instrument: dict = field(default_factory=dict)


def oversampling_of(basis, positions) -> np.ndarray:
    """``s_i = 1 / (|b_i| L_i)`` per array axis."""
    basis = np.asarray(basis, dtype=np.float64)
    lengths = np.linalg.norm(basis, axis=0)
    return 1.0 / (lengths * scattering.extents_along(positions, (basis / lengths).T))


def bragg_angles_deg(reflection_vector, energy_kev: float, nu_deg: float = 0.0) -> tuple[float, float]:
    """(2 theta, delta): the scattering angle of ``|G|`` and the detector elevation that reaches it at in-plane
    angle nu (cos 2 theta = cos delta cos nu), degrees."""
    wavelength = scattering.HC_KEV_ANGSTROM / float(energy_kev)
    sin_theta = wavelength * np.linalg.norm(reflection_vector) / 2.0
    if not 0.0 < sin_theta < 1.0:
        raise ValueError(f"no Bragg condition for |G| = {np.linalg.norm(reflection_vector):.4f} 1/A at "
                         f"{energy_kev} keV")
    two_theta = 2.0 * math.asin(sin_theta)
    cos_delta = math.cos(two_theta) / math.cos(math.radians(nu_deg))
    if abs(nu_deg) >= math.degrees(two_theta) or cos_delta > 1:
        raise ValueError(f"an in-plane angle of {nu_deg} degrees is beyond the scattering angle "
                         f"{math.degrees(two_theta):.2f} degrees of this reflection at {energy_kev} keV")
    return math.degrees(two_theta), math.degrees(math.acos(cos_delta))


def detector_grid_basis(positions, reflection_vector, oversampling, *, energy_kev: float, pixel_size_m: float,
                        nu_deg: float = 0.0, azimuth_deg: float = 0.0, rocking_axis=(1.0, 0.0, 0.0)):
    """The detector-frame basis that samples a particle at the given oversampling, and its instrument.

    Parameters
    ----------
    positions
        (N, 3) atoms, Angstrom, crystal frame.
    reflection_vector
        (3,) G, 1/Angstrom.
    oversampling
        (s_rocking, s_detector): the smallest oversampling along the rocking axis, and across
        the detector's rows and columns (square pixels share one step); one number for both.
    energy_kev, pixel_size_m
        photon energy and detector pixel size.
    nu_deg
        the detector's in-plane angle; its elevation delta follows from the Bragg condition.
    azimuth_deg
        rotation of the crystal about G.
    rocking_axis
        lab axis of the rocking rotation (lab: z along the beam, y up).

    Returns
    -------
    basis, instrument
        B (3, 3) 1/Angstrom and a dict with energy_kev, pixel_size_m,
        detector_distance_m, rocking_step_deg, delta_deg, nu_deg, azimuth_deg.
    """
    g = np.asarray(reflection_vector, dtype=np.float64)
    s_rocking, s_detector = np.broadcast_to(np.asarray(oversampling, dtype=np.float64), (2,))
    _, delta = bragg_angles_deg(g, energy_kev, nu_deg)
    wavelength = scattering.HC_KEV_ANGSTROM / float(energy_kev)
    # unit steps: any distance and rocking step give the directions; the lengths are set below
    shape = scattering.detector_frame_basis(g, energy_kev, 1.0, 1e-4, 0.01, (delta, nu_deg), rocking_axis)
    shape = scattering.axis_angle_rotation(g, azimuth_deg) @ shape
    directions = shape / np.linalg.norm(shape, axis=0)
    extents = scattering.extents_along(positions, directions.T)
    rocking_length = 1.0 / (s_rocking * extents[0])
    pixel_length = 1.0 / (s_detector * max(extents[1], extents[2]))
    basis = directions * np.array([rocking_length, pixel_length, pixel_length])
    # a rotation d omega about the lab axis a moves q by d omega |a x q|
    axis = np.asarray(rocking_axis, dtype=np.float64) / np.linalg.norm(rocking_axis)
    lever = np.linalg.norm(np.cross(axis, scattering.lab_scattering_vector(energy_kev, delta, nu_deg)))
    instrument = {
        "energy_kev": float(energy_kev), "pixel_size_m": float(pixel_size_m),
        "detector_distance_m": float(pixel_size_m / (wavelength * pixel_length)),  # p / (D lambda) = |b|
        "rocking_step_deg": math.degrees(rocking_length / lever), "delta_deg": float(delta),
        "nu_deg": float(nu_deg), "azimuth_deg": float(azimuth_deg),
    }
    return basis, instrument


def to_id01(array) -> np.ndarray:
    """A detector-frame array (z, y, x) = (rocking, rows, columns) in ID01's orientation: flipped along axes 0
    and 1 (a view). Voxel (i0, i1, i2) goes to (n0 - 1 - i0, n1 - 1 - i1, i2), so the Bragg voxel n // 2 of an
    even axis lands at n // 2 - 1, and the q steps of axes 0 and 1 change sign."""
    return np.asarray(array)[::-1, ::-1]


def draw_axis_oversampling(rng: np.random.Generator, settings: dict, size: int) -> np.ndarray:
    """``size`` oversampling ratios (``settings`` = the ``peaks`` config), the rocking axis first: from
    ``oversampling_rocking`` when it is set and ``size`` > 1 (a coarse rocking step is the experimenter's
    choice, the detector plane's sampling the detector distance's), the rest from ``oversampling``."""
    distribution = settings.get("oversampling_distribution", "uniform")
    rocking = settings.get("oversampling_rocking")
    if rocking is None or size == 1:
        return scattering.draw_oversampling(rng, settings["oversampling"], size, distribution)
    return np.concatenate([scattering.draw_oversampling(rng, rocking, 1, distribution),
                           scattering.draw_oversampling(rng, settings["oversampling"], size - 1, distribution)])


def draw_orthogonal(rng: np.random.Generator, positions, settings: dict) -> PatternGeometry:
    """The oversampling (:func:`draw_axis_oversampling`: one, or one per axis with ``oversampling_per_axis``)
    and the rotation of :func:`braggsynth.simulate.scattering.random_rotation`, in this order."""
    oversampling = draw_axis_oversampling(rng, settings, 3 if settings["oversampling_per_axis"] else 1)
    rotation = scattering.random_rotation(rng, settings["max_rotation_deg"])
    basis = scattering.grid_basis(positions, oversampling, rotation)
    return PatternGeometry(basis, np.broadcast_to(oversampling, (3,)).copy(), "orthogonal", rotation=rotation)


def draw_detector(rng: np.random.Generator, positions, reflection_vector, settings: dict) -> PatternGeometry:
    """Oversampling (one, or rocking and detector with ``oversampling_per_axis``), photon energy, pixel
    size, in-plane angle and azimuth, in this order, each uniform in its range."""
    ranges = settings["detector_frame"]
    oversampling = draw_axis_oversampling(rng, settings, 2 if settings["oversampling_per_axis"] else 1)
    energy = rng.uniform(*ranges["energy_kev"])
    pixel = rng.uniform(*ranges["pixel_size_um"]) * 1e-6
    nu = rng.uniform(*ranges["in_plane_angle_deg"])
    azimuth = rng.uniform(0.0, 360.0)
    basis, instrument = detector_grid_basis(positions, reflection_vector, oversampling, energy_kev=energy,
                                            pixel_size_m=pixel, nu_deg=nu, azimuth_deg=azimuth)
    return PatternGeometry(basis, oversampling_of(basis, positions), "detector", instrument=instrument)


def draw_pattern(rng: np.random.Generator, positions, reflection_vector, settings: dict) -> PatternGeometry:
    """A pattern's grid in the configured frame (``settings`` = the ``peaks`` config); ``mixed`` first draws
    the frame, detector with probability ``detector_fraction``."""
    frame = settings["frame"]
    if frame == "mixed":
        frame = "detector" if rng.random() < settings["detector_fraction"] else "orthogonal"
    if frame == "detector":
        return draw_detector(rng, positions, reflection_vector, settings)
    return draw_orthogonal(rng, positions, settings)
