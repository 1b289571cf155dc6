"""One reflection per grid: which other reciprocal-lattice points a q grid reaches, and pattern geometries
that reach none.

A pattern samples F(q) on q = G + B k around one reflection G (:func:`braggsynth.scattering.grid_basis`).
The reciprocal lattice of an FCC crystal of lattice constant a is the set of (h, k, l) / a with h, k, l
all odd or all even; (0, 0, 0) is the forward beam, where F = N as at G. A rocking scan around one
reflection records neither: a grid *reaches* another point H when H lies inside the grid, or closer to
its edge than ``clearance`` fringes of the particle (a fringe along grid axis i is 1 / L_i, L_i the
particle's extent along that axis), where that peak's central lobe and first fringes would show.

In voxel coordinates k_H = B^-1 (H - G); with B = R diag(1 / (s_i L_i)), the grid of n_i voxels per axis
is clear of H when, along some axis i, |k_H,i| >= n_i / 2 + clearance s_i.
"""

from __future__ import annotations

import itertools

import numpy as np

from braggsynth import scattering

#: Fringes of the particle's peak kept between another reflection and the edge of the grid.
CLEARANCE_FRINGES = 2.0

#: Draws of a pattern's geometry tried before giving up on a particle.
MAX_DRAWS = 1000


class UnavoidableReflection(ValueError):
    """No drawn geometry keeps every other reciprocal-lattice point off the grid."""


def lattice_points_near(reflection, lattice_constant: float, radius: float) -> np.ndarray:
    """FCC reciprocal-lattice points H != G with |H - G| <= ``radius`` (1/Angstrom), as offsets H - G.

    Returns an (M, 3) float64 array in the cubic crystal frame, 1/Angstrom.
    """
    hkl = np.asarray(reflection, dtype=int)
    reach = int(np.ceil(radius * lattice_constant))
    steps = np.arange(-reach, reach + 1)
    offsets = np.array(list(itertools.product(steps, steps, steps)))
    points = hkl + offsets
    fcc = (points % 2 == points[:, :1] % 2).all(axis=1) & np.any(offsets != 0, axis=1)
    vectors = offsets[fcc] / float(lattice_constant)
    return vectors[np.linalg.norm(vectors, axis=1) <= radius]


def _extents(positions, rotation) -> np.ndarray:
    projected = np.asarray(positions, dtype=np.float64) @ rotation
    return projected.max(axis=0) - projected.min(axis=0)


def clearance_scale(offsets, extents, rotation, oversampling, grid, clearance: float = CLEARANCE_FRINGES) -> float:
    """The smallest factor on the particle's extents for which the grid reaches none of ``offsets``.

    A point d = H - G is clear when, along some grid axis i, |(R^T d)_i| L_i f >= n_i / (2 s_i) + clearance:
    the grid is clear of every point at f = max over d of min over i of the right side over L_i |(R^T d)_i|.
    Below 1, the grid is clear as drawn.

    Parameters
    ----------
    offsets : (M, 3) H - G, 1/Angstrom, crystal frame (:func:`lattice_points_near`).
    extents : (3,) L_i, Angstrom, the particle's extent along each grid axis.
    rotation : (3, 3) R, array axes to crystal frame.
    oversampling : s_i, one or three.
    grid : n_i, three.
    """
    along_axes = np.abs(np.asarray(offsets, dtype=np.float64) @ np.asarray(rotation))  # (M, 3)
    ratio = np.broadcast_to(np.asarray(oversampling, dtype=np.float64), (3,))
    needed = np.asarray(grid, dtype=np.float64) / (2 * ratio) + clearance
    with np.errstate(divide="ignore"):
        factor = needed / (np.asarray(extents, dtype=np.float64) * along_axes)
    return float(factor.min(axis=1).max()) if len(factor) else 0.0


def largest_clear_grid(offsets, extents, rotation, oversampling, clearance: float = CLEARANCE_FRINGES) -> int:
    """The largest even number of voxels n per axis for which a grid reaches none of ``offsets``.

    Point d is clear when, along some axis i, n <= 2 s_i (L_i |(R^T d)_i| - clearance).
    """
    along_axes = np.abs(np.asarray(offsets, dtype=np.float64) @ np.asarray(rotation))
    ratio = np.broadcast_to(np.asarray(oversampling, dtype=np.float64), (3,))
    allowed = 2 * ratio * (np.asarray(extents, dtype=np.float64) * along_axes - clearance)
    largest = float(allowed.max(axis=1).min()) if len(allowed) else np.inf
    return max(0, int(np.floor(largest / 2)) * 2) if np.isfinite(largest) else 2**31


def grid_radius(extents, oversampling, grid, clearance: float = CLEARANCE_FRINGES) -> float:
    """Half-diagonal of the grid plus the clearance, 1/Angstrom: no point beyond it can be reached."""
    ratio = np.broadcast_to(np.asarray(oversampling, dtype=np.float64), (3,))
    half = (np.asarray(grid, dtype=np.float64) / (2 * ratio) + clearance) / np.asarray(extents, dtype=np.float64)
    return float(np.linalg.norm(half))


def reached_reflections(positions, reflection, lattice_constant: float, oversampling, rotation, grid,
                        clearance: float = CLEARANCE_FRINGES) -> list[tuple[int, int, int]]:
    """The (h, k, l) of every other reciprocal-lattice point a pattern's grid reaches ((0, 0, 0) included)."""
    extents = _extents(positions, rotation)
    offsets = lattice_points_near(reflection, lattice_constant, grid_radius(extents, oversampling, grid, clearance))
    reached = [d for d in offsets if clearance_scale(d[None], extents, rotation, oversampling, grid, clearance) > 1]
    return [tuple(int(v) for v in np.rint(np.asarray(reflection) + d * lattice_constant)) for d in reached]


def draw_clear_geometry(rng: np.random.Generator, positions, reflection, lattice_constant: float, grid,
                        oversampling_range, *, per_axis: bool = False, max_rotation_deg: float = 180.0,
                        clearance: float = CLEARANCE_FRINGES, max_draws: int = MAX_DRAWS):
    """Draw a pattern's oversampling and rotation (:func:`braggsynth.scattering.draw_pattern_geometry`)
    again from ``rng`` until its grid reaches no other reciprocal-lattice point.

    The first draw is the one :func:`~braggsynth.scattering.draw_pattern_geometry` makes, so a pattern that
    was clear keeps its numbers. Returns (oversampling, rotation, draws).

    Raises
    ------
    UnavoidableReflection
        When ``max_draws`` draws all reach another point.
    """
    for draws in range(1, max_draws + 1):
        oversampling, rotation = scattering.draw_pattern_geometry(rng, oversampling_range, per_axis=per_axis,
                                                                  max_rotation_deg=max_rotation_deg)
        extents = _extents(positions, rotation)
        offsets = lattice_points_near(reflection, lattice_constant,
                                      grid_radius(extents, oversampling, grid, clearance))
        if clearance_scale(offsets, extents, rotation, oversampling, grid, clearance) <= 1:
            return oversampling, rotation, draws
    raise UnavoidableReflection(
        f"{max_draws} drawn grids of {list(grid)} voxels around reflection {list(reflection)} all reach another "
        f"reciprocal-lattice point for this {np.ptp(np.asarray(positions), axis=0).max() / 10:.1f} nm particle")


def unavoidable(vertices, reflection, lattice_constant: float, grid, oversampling_range, *,
                max_rotation_deg: float = 180.0, clearance: float = CLEARANCE_FRINGES, orientations: int = 500):
    """Whether every grid reaches another reciprocal-lattice point, for a particle whose outline is
    ``vertices`` (Angstrom) at the largest oversampling, over ``orientations`` rotations drawn as the
    patterns draw theirs (seeded, so the answer repeats; the identity included).

    Returns None when some orientation is clear, else (the smallest factor on the particle's size that
    makes one clear, the largest even grid that is clear at this size).
    """
    high = float(oversampling_range[1])
    rng = np.random.default_rng(0)
    rotations = [np.eye(3)] + [scattering.random_rotation(rng, max_rotation_deg) for _ in range(orientations)]
    scale, largest = np.inf, 0
    for rotation in rotations:
        extents = _extents(vertices, rotation)
        radius = grid_radius(extents, high, grid, clearance)
        offsets = lattice_points_near(reflection, lattice_constant, radius)
        factor = clearance_scale(offsets, extents, rotation, high, grid, clearance)
        if factor <= 1:
            return None
        scale = min(scale, factor)
        largest = max(largest, largest_clear_grid(offsets, extents, rotation, high, clearance))
    return scale, largest
