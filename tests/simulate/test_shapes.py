import numpy as np
import pytest
from ase.build import bulk
from conftest import AU_SURFACE_ENERGIES
from wulffpack import SingleCrystal, Winterbottom

from braggsynth.simulate import shapes

WULFF = {"kind": "wulff", "element": "Au", "surface_energies": AU_SURFACE_ENERGIES}
WINTERBOTTOM = {
    "kind": "winterbottom", "element": "Au", "surface_energies": AU_SURFACE_ENERGIES[:2],
    "interface": {"hkl": [0, 0, -1], "energy": -0.3},
}


def bounding_families(atoms, tolerance=0.2):
    """Miller families {hkl} whose outermost atomic planes bound the particle on every member."""
    r = atoms.positions - atoms.positions.mean(axis=0)
    extent = {}
    for family in ([1, 0, 0], [1, 1, 0], [1, 1, 1]):
        normals = shapes.miller_family(family) / np.linalg.norm(family)
        extent[tuple(family)] = (r @ normals.T).max(axis=0)
    return extent


def test_cube_is_bounded_by_100_planes():
    atoms = shapes.build_particle({"kind": "cube", "element": "Au"}, size_nm=4.0)
    a = atoms.info["lattice_constant"]
    r = atoms.positions
    for axis in range(3):
        # every {100} face is a full square atomic plane: many atoms share the extreme coordinate
        top = np.isclose(r[:, axis], r[:, axis].max())
        assert top.sum() > 0.8 * (np.ptp(r[:, (axis + 1) % 3]) / (a / 2)) ** 2 / 2
    # the cube's diagonal reaches further than its face centre by sqrt(3)
    extent = bounding_families(atoms)
    assert extent[(1, 1, 1)].max() / extent[(1, 0, 0)].max() == pytest.approx(np.sqrt(3), rel=0.05)


def test_octahedron_is_bounded_by_111_planes():
    atoms = shapes.build_particle({"kind": "octahedron", "element": "Au"}, size_nm=4.0)
    height = atoms.positions @ shapes.miller_family([1, 1, 1]).T / np.sqrt(3)
    # all eight {111} planes carry a facet at the same distance
    assert np.ptp(height.max(axis=0)) < 1e-9
    # vertices along <100> reach sqrt(3) times further than the {111} facets
    extent = bounding_families(atoms)
    assert extent[(1, 0, 0)].max() / extent[(1, 1, 1)].max() == pytest.approx(np.sqrt(3), rel=0.06)


def test_winterbottom_has_a_flat_interface_facet():
    atoms = shapes.build_particle(WINTERBOTTOM, size_nm=5.0)
    layer = atoms.info["interface_layer"]
    z = atoms.positions[:, 2]
    # the interface is the bottom (001) plane: all its atoms at one height, and it is wide
    assert np.ptp(z[layer]) < 1e-9 and np.isclose(z[layer][0], z.min())
    assert layer.sum() > 0.05 * len(atoms)
    # the particle is truncated: the substrate side is closer to the centre than the free top
    centre = atoms.positions.mean(axis=0)
    assert centre[2] - z.min() < z.max() - centre[2]


@pytest.mark.parametrize(
    "spec", [{"kind": "cube"}, {"kind": "octahedron"}, WULFF, WINTERBOTTOM], ids=lambda s: s["kind"]
)
def test_atom_count_matches_volume(spec):
    size_nm = 12.0
    atoms = shapes.build_particle({"element": "Au", **spec}, size_nm=size_nm)
    a = atoms.info["lattice_constant"]
    expected = np.pi / 6 * (10 * size_nm) ** 3 * 4 / a**3
    assert len(atoms) == pytest.approx(expected, rel=0.05)


@pytest.mark.parametrize("element", shapes.SUPPORTED_ELEMENTS)
def test_every_element_uses_its_own_lattice(element):
    atoms = shapes.build_particle({"kind": "cube", "element": element}, size_nm=2.0)
    a = shapes.lattice_constant(element)
    nearest = np.linalg.norm(atoms.positions[1:] - atoms.positions[0], axis=1).min()
    assert nearest == pytest.approx(a / np.sqrt(2))
    assert set(atoms.get_chemical_symbols()) == {element}


def family_fractions(poly, interface_hkl=None):
    """Fraction of the surface area carried by each {hkl} family (and the interface)."""
    areas = poly.facet_areas()
    fractions = {}
    for hkl, area in zip(poly.hkl, areas):
        is_interface = interface_hkl is not None and list(hkl) == list(interface_hkl)
        key = "interface" if is_interface else tuple(sorted(np.abs(hkl))[::-1])
        fractions[key] = fractions.get(key, 0.0) + area / areas.sum()
    return {key: value for key, value in fractions.items() if value > 0}


def test_wulff_shape_matches_wulffpack():
    """Our half-space Wulff polyhedron carries wulffpack's facet fractions."""
    energies = {tuple(e["hkl"]): e["energy"] for e in AU_SURFACE_ENERGIES}
    reference = SingleCrystal(energies, primitive_structure=bulk("Au", a=4.08), natoms=5000).facet_fractions
    ours = family_fractions(shapes.shape_polyhedron(WULFF))
    assert set(ours) == set(reference)
    for family, fraction in reference.items():
        assert ours[family] == pytest.approx(fraction, abs=1e-6)


@pytest.mark.parametrize("interface_hkl", [[1, 1, 1], [1, 0, 0]])
def test_winterbottom_shape_matches_wulffpack(interface_hkl):
    energies = {tuple(e["hkl"]): e["energy"] for e in AU_SURFACE_ENERGIES[:2]}
    reference = Winterbottom(
        energies, tuple(interface_hkl), -0.3, primitive_structure=bulk("Au", a=4.08), natoms=5000
    ).facet_fractions
    spec = {**WINTERBOTTOM, "interface": {"hkl": interface_hkl, "energy": -0.3}}
    ours = family_fractions(shapes.shape_polyhedron(spec), interface_hkl)
    assert set(ours) == set(reference)
    for family, fraction in reference.items():
        assert ours[family] == pytest.approx(fraction, abs=1e-6)


def test_facets_that_do_not_close_a_polyhedron_are_rejected():
    open_below = ([1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1])
    spec = {"kind": "facets", "facets": [{"hkl": h, "distance": 1.0} for h in open_below]}
    with pytest.raises(ValueError, match="do not close a polyhedron: it is open along \\[0.0, 0.0, -1.0\\]"):
        shapes.shape_polyhedron(spec)


def test_explicit_facets_build_a_truncated_octahedron():
    spec = {"kind": "facets", "element": "Au", "facets": [
        {"hkl": [1, 1, 1], "distance": 1.0, "family": True}, {"hkl": [1, 0, 0], "distance": 1.1, "family": True}]}
    poly = shapes.shape_polyhedron(spec)
    assert np.count_nonzero(poly.facet_areas()) == 14  # 8 hexagons and 6 squares


def test_interplanar_spacing_follows_fcc_centring():
    a = 4.0
    assert shapes.interplanar_spacing([1, 1, 1], a) == pytest.approx(a / np.sqrt(3))
    assert shapes.interplanar_spacing([1, 0, 0], a) == pytest.approx(a / 2)
    assert shapes.interplanar_spacing([2, 2, 0], a) == pytest.approx(a / (2 * np.sqrt(2)))


def test_unknown_element_and_kind_are_named():
    with pytest.raises(ValueError, match="element 'Fe' is not supported"):
        shapes.lattice_constant("Fe")
    with pytest.raises(ValueError, match="unknown shape kind 'sphere'"):
        shapes.shape_polyhedron({"kind": "sphere"})
