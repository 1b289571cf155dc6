"""One reflection per grid: which other reciprocal-lattice points a q grid reaches, and pattern geometries
that reach none.

A pattern samples F(q) on q = G + B k around one reflection G (:mod:`braggsynth.simulate.frames`). The reciprocal
lattice of an FCC crystal of lattice constant a is the set of (h, k, l) / a with h, k, l all odd or all
even; (0, 0, 0) is the forward beam, where F = N as at G. A rocking scan around one reflection records
neither: a grid *reaches* another point H when H lies inside the grid, or closer to its edge than
``clearance`` fringes of the particle, where that peak's central lobe and first fringes would show.

In voxel coordinates k_H = B^-1 (H - G). A fringe of the particle spans s_i voxels along array axis i
(s_i its oversampling there), so the grid of n_i voxels per axis is clear of H when, along some axis i,
``|k_H,i| >= n_i / 2 + clearance s_i``.
"""

from __future__ import annotations

import itertools

import numpy as np

#: Fringes of the particle's peak kept between another reflection and the edge of the grid.
CLEARANCE_FRINGES = 2.0

#: Draws of a pattern's geometry tried before giving up on a particle.
MAX_DRAWS = 1000


class UnavoidableReflection(ValueError):
    """No drawn geometry keeps every other reciprocal-lattice point off the grid."""


def lattice_points_near(reflection, lattice_constant: float, radius: float) -> np.ndarray:
    """FCC reciprocal-lattice points H != G with ``|H - G| <= radius`` (1/Angstrom), as offsets H - G.

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


def _margins(grid, oversampling, clearance):
    """n_i / 2 + clearance s_i: the voxels from the centre that must stay clear along each axis."""
    ratio = np.broadcast_to(np.asarray(oversampling, dtype=np.float64), (3,))
    return np.asarray(grid, dtype=np.float64) / 2 + clearance * ratio


def nearby_offsets(basis, oversampling, reflection, lattice_constant: float, grid,
                   clearance: float = CLEARANCE_FRINGES) -> np.ndarray:
    """The points H - G that a grid could reach: within the sphere around its cleared box."""
    corner = np.abs(np.asarray(basis, dtype=np.float64)) @ _margins(grid, oversampling, clearance)
    return lattice_points_near(reflection, lattice_constant, float(np.linalg.norm(corner)))


def voxel_offsets(basis, offsets) -> np.ndarray:
    """k_H = B^-1 (H - G) of each offset, voxels: (M, 3)."""
    return np.linalg.solve(np.asarray(basis, dtype=np.float64), np.asarray(offsets, dtype=np.float64).T).T


def reached(basis, oversampling, offsets, grid, clearance: float = CLEARANCE_FRINGES) -> np.ndarray:
    """Whether the grid reaches each offset H - G: (M,) bool."""
    k = np.abs(voxel_offsets(basis, offsets))
    return ~np.any(k >= _margins(grid, oversampling, clearance), axis=1)


def reached_reflections(basis, oversampling, reflection, lattice_constant: float, grid,
                        clearance: float = CLEARANCE_FRINGES) -> list[tuple[int, int, int]]:
    """The (h, k, l) of every other reciprocal-lattice point a pattern's grid reaches ((0, 0, 0) included)."""
    offsets = nearby_offsets(basis, oversampling, reflection, lattice_constant, grid, clearance)
    hits = offsets[reached(basis, oversampling, offsets, grid, clearance)]
    return [tuple(int(v) for v in np.rint(np.asarray(reflection) + d * lattice_constant)) for d in hits]


def size_factor_needed(basis, oversampling, offsets, grid, clearance: float = CLEARANCE_FRINGES) -> float:
    """The smallest factor f on the particle's size that makes the grid clear of every offset.

    Scaling the particle by f divides B by f (steps of 1 / (s L)), so k_H becomes f k_H: point H is clear
    once ``f |k_H,i| >= n_i / 2 + clearance s_i`` along some axis. At most 1: clear as drawn.
    """
    k = np.abs(voxel_offsets(basis, offsets))
    with np.errstate(divide="ignore"):
        factor = _margins(grid, oversampling, clearance) / k
    return float(factor.min(axis=1).max()) if len(factor) else 0.0


def largest_clear_grid(basis, oversampling, offsets, clearance: float = CLEARANCE_FRINGES) -> int:
    """The largest even number of voxels n per axis for which the grid is clear of every offset:
    point H is clear when ``n <= 2 (|k_H,i| - clearance s_i)`` along some axis i."""
    ratio = np.broadcast_to(np.asarray(oversampling, dtype=np.float64), (3,))
    allowed = 2 * (np.abs(voxel_offsets(basis, offsets)) - clearance * ratio)
    largest = float(allowed.max(axis=1).min()) if len(allowed) else 2.0**31
    return max(0, int(np.floor(largest / 2)) * 2)


def draw_clear(rng: np.random.Generator, draw, reflection, lattice_constant: float, grid, *,
               clearance: float = CLEARANCE_FRINGES, max_draws: int = MAX_DRAWS):
    """Draw a pattern's geometry (``draw(rng)``: a :class:`braggsynth.simulate.frames.PatternGeometry`) again from
    ``rng`` until its grid reaches no other reciprocal-lattice point.

    The first draw is the one ``draw`` alone makes, so a pattern that was clear keeps its numbers.
    Returns (geometry, draws).

    Raises
    ------
    UnavoidableReflection
        When ``max_draws`` draws all reach another point.
    """
    for draws in range(1, max_draws + 1):
        geometry = draw(rng)
        offsets = nearby_offsets(geometry.basis, geometry.oversampling, reflection, lattice_constant, grid, clearance)
        if not reached(geometry.basis, geometry.oversampling, offsets, grid, clearance).any():
            return geometry, draws
    raise UnavoidableReflection(
        f"{max_draws} drawn grids of {list(grid)} voxels around reflection {list(reflection)} all reach another "
        f"reciprocal-lattice point")


def unavoidable(draw, reflection, lattice_constant: float, grid, *, clearance: float = CLEARANCE_FRINGES,
                tries: int = 500):
    """Whether every grid reaches another reciprocal-lattice point, over ``tries`` geometries of
    ``draw(rng)`` (seeded, so the answer repeats): give it a particle outline at the largest oversampling.

    Returns None when some geometry is clear, else (the smallest factor on the particle's size that makes
    one clear, the largest even grid that one of them allows at this size).
    """
    rng = np.random.default_rng(0)
    scale, largest = np.inf, 0
    for _ in range(tries):
        geometry = draw(rng)
        offsets = nearby_offsets(geometry.basis, geometry.oversampling, reflection, lattice_constant, grid, clearance)
        factor = size_factor_needed(geometry.basis, geometry.oversampling, offsets, grid, clearance)
        if factor <= 1:
            return None
        scale = min(scale, factor)
        largest = max(largest, largest_clear_grid(geometry.basis, geometry.oversampling, offsets, clearance))
    return scale, largest
