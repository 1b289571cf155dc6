"""Particle files: a built particle (its atoms and shape) and a relaxed one (ideal and relaxed positions)."""

from __future__ import annotations

import numpy as np
from ase import Atoms

from braggsynth.io.files import atomic_h5, open_h5, read_json_attr, write_json_attr


def write_particle(path, atoms: Atoms, spec: dict, seed: int, record: dict) -> None:
    """Write an unrelaxed particle.

    Layout: ``species`` (N,) str, ``positions`` (N, 3) float64 Angstrom (x, y, z
    in the cubic crystal frame), ``held`` (N,) bool (atoms held by a substrate
    during relaxation); attributes ``element``, ``lattice_constant``
    (Angstrom), ``size_nm``, ``natoms``, ``seed``, ``spec`` and ``provenance``
    (JSON).
    """
    held = atoms.info.get("interface_layer", np.zeros(len(atoms), dtype=bool))
    with atomic_h5(path) as h5:
        h5.create_dataset("species", data=np.array(atoms.get_chemical_symbols(), dtype="S2"))
        h5.create_dataset("positions", data=atoms.positions.astype(np.float64))
        h5.create_dataset("held", data=held)
        h5.attrs["element"] = atoms.get_chemical_symbols()[0]
        h5.attrs["lattice_constant"] = atoms.info["lattice_constant"]
        h5.attrs["size_nm"] = atoms.info["size_nm"]
        h5.attrs["natoms"] = len(atoms)
        h5.attrs["seed"] = seed
        write_json_attr(h5, "spec", spec)
        write_json_attr(h5, "provenance", record)


def read_particle(path) -> tuple[Atoms, dict]:
    """Read a particle file; returns (Atoms, attributes) with ``held`` in ``atoms.info``."""
    with open_h5(path) as h5:
        species = [s.decode() for s in h5["species"][()]]
        atoms = Atoms(symbols=species, positions=h5["positions"][()])
        atoms.info["held"] = h5["held"][()]
        attrs = {key: h5.attrs[key] for key in ("element", "lattice_constant", "size_nm", "natoms", "seed")}
        attrs["spec"] = read_json_attr(h5, "spec")
    atoms.info["lattice_constant"] = float(attrs["lattice_constant"])
    return atoms, attrs


def write_relaxed(path, *, element, lattice_constant, ideal, relaxed, held, relaxation, spec, record) -> None:
    """Write a relaxed particle.

    Layout: ``ideal_positions``, ``relaxed_positions``, ``displacement``
    (relaxed - ideal), each (N, 3) float64 in Angstrom ordered by LAMMPS atom
    id (= row of the particle file); ``held`` (N,) bool; attributes
    ``element``, ``lattice_constant``, ``energy_initial`` and ``energy_final``
    (eV), ``stop_reason``, ``iterations``, ``force_evaluations``, ``spec`` and
    ``provenance`` (JSON).
    """
    with atomic_h5(path) as h5:
        h5.create_dataset("ideal_positions", data=ideal)
        h5.create_dataset("relaxed_positions", data=relaxed)
        h5.create_dataset("displacement", data=relaxed - ideal)
        h5.create_dataset("held", data=held)
        h5.attrs["element"] = element
        h5.attrs["lattice_constant"] = lattice_constant
        h5.attrs["natoms"] = len(ideal)
        h5.attrs["energy_initial"] = relaxation.energy_initial
        h5.attrs["energy_final"] = relaxation.energy_final
        h5.attrs["stop_reason"] = relaxation.stop_reason
        h5.attrs["iterations"] = relaxation.iterations
        h5.attrs["force_evaluations"] = relaxation.force_evaluations
        write_json_attr(h5, "spec", spec)
        write_json_attr(h5, "provenance", record)


def read_relaxed(path) -> dict:
    """Read a relaxed-particle file into a dict of arrays and attributes."""
    with open_h5(path) as h5:
        data = {key: h5[key][()] for key in ("ideal_positions", "relaxed_positions", "displacement", "held")}
        for key in ("element", "lattice_constant", "natoms", "energy_initial", "energy_final", "stop_reason"):
            value = h5.attrs[key]
            data[key] = value.decode() if isinstance(value, bytes) else value
        data["spec"] = read_json_attr(h5, "spec")
    return data


#: Joules per keV, for CXI's source energy.
