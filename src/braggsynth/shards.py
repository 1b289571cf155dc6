"""Shard jobs: the simulation stages run for a group of particles in one process.

A shape's particles (zero-padded sample indices ``0000``, ``0001``, ...) are
grouped ``particles_per_job`` at a time into shards ``0000``, ``0001``, ...;
shard k holds samples k N to min((k + 1) N, count) - 1. Each stage writes one
folder per shard holding one file per particle (``<sample>.h5``) or per
pattern (``<sample>_<pattern>.h5``), in the layout of :mod:`braggsynth.io`.
Every random draw is seeded by (seed, stage, shape, sample[, pattern]) as
:func:`braggsynth.seeds.rng` does, so a particle's numbers do not depend on
the shard size or on which shard holds it.

Each stage function reads its input folder, computes, and writes its output
folder; the science is in :mod:`shapes`, :mod:`relax`, :mod:`scattering`,
:mod:`detector` and :mod:`patches`.
"""

from __future__ import annotations

import functools
import logging
import time
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from braggsynth import dataset, detector, frames, io, patches, reflections, relax, scattering, seeds, shapes

log = logging.getLogger("braggsynth")


def shard_count(count: int, particles_per_job: int) -> int:
    """Number of shards that hold ``count`` particles, ``particles_per_job`` at most each."""
    if particles_per_job < 1:
        raise ValueError(f"particles_per_job must be at least 1, got {particles_per_job}")
    return -(-int(count) // int(particles_per_job))


def shard_samples(shard: int, count: int, particles_per_job: int) -> list[str]:
    """The zero-padded sample indices that shard ``shard`` holds (empty past the last shard)."""
    first = int(shard) * int(particles_per_job)
    return [f"{index:04d}" for index in range(first, min(int(count), first + int(particles_per_job)))]


def shard_of(sample, particles_per_job: int) -> str:
    """The shard (zero-padded) that holds a sample index."""
    return f"{int(sample) // int(particles_per_job):04d}"


def memory_mb(spec: dict, grid) -> tuple[int, int]:
    """MB a shard job needs for the shape's largest particle: (relax: LAMMPS with its neighbour lists,
    peaks: the NUFFT's grid arrays, amplitude and fine grid of twice the size per axis, plus the atoms)."""
    atoms = shapes.max_atoms(spec)
    voxels = int(np.prod(grid))
    return 500 + atoms // 25, 500 + (voxels * 16 * 10) // 2**20 + atoms // 500


def pattern_name(sample: str, pattern: str) -> str:
    """``<sample>_<pattern>``: a pattern's file stem and, with its shape, its name in tables."""
    return f"{sample}_{pattern}"


def _bar(items, stage: str, shape: str):
    return tqdm(items, desc=f"{stage} {shape}", unit="particle", leave=False, disable=len(items) < 2)


def build(shape: str, spec: dict, samples, seed: int, folder) -> None:
    """Draw each particle's size and cut it from the FCC lattice: ``folder/<sample>.h5``."""
    folder = Path(folder)
    for sample in _bar(samples, "build", shape):
        size_nm = shapes.draw_size_nm(seeds.rng(seed, "build_particle", shape, int(sample)), spec["size_nm"])
        atoms = shapes.build_particle(spec, size_nm)
        log.info("%s %s: %s %s, %.2f nm, %d atoms", shape, sample, spec["element"], spec["kind"], size_nm,
                 len(atoms))
        io.write_particle(folder / f"{sample}.h5", atoms, spec, seed, io.provenance({"shape": shape, **spec}, seed))


def relax_particles(particles, samples, settings: dict, folder, *, threads: int = 1) -> None:
    """Clamp a Winterbottom interface to its substrate and minimise each particle with LAMMPS:
    ``particles/<sample>.h5`` to ``folder/<sample>.h5``."""
    folder = Path(folder)
    for sample in _bar(samples, "relax", Path(particles).parent.name):
        atoms, attrs = io.read_particle(Path(particles) / f"{sample}.h5")
        spec, held = attrs["spec"], atoms.info["held"]
        start = atoms.positions
        if held.any():
            start = relax.substrate_clamp(start, held, spec["interface"]["hkl"], spec["substrate_misfit"])
        t0 = time.perf_counter()
        result = relax.relax(attrs["element"], start, fixed=held, threads=threads, **settings)
        log.info("%s: %d atoms, %.3f -> %.3f eV in %d iterations (%s), %.1f s", sample, len(atoms),
                 result.energy_initial, result.energy_final, result.iterations, result.stop_reason,
                 time.perf_counter() - t0)
        io.write_relaxed(
            folder / f"{sample}.h5", element=attrs["element"], lattice_constant=float(attrs["lattice_constant"]),
            ideal=atoms.positions, relaxed=result.positions, held=held, relaxation=result, spec=spec,
            record=io.provenance({"spec": spec, "relax": settings}, int(attrs["seed"])),
        )


def compute_peaks(relaxed, shape: str, samples, patterns, settings: dict, seed: int, folder, *,
                  threads: int = 1) -> None:
    """Each pattern's grid drawn (:mod:`braggsynth.frames`; again while it reaches another reflection,
    :mod:`braggsynth.reflections`), F(q) computed by NUFFT around the reflection:
    ``relaxed/<sample>.h5`` to ``folder/<sample>_<pattern>.h5``."""
    folder = Path(folder)
    backend = scattering.resolve_backend(settings["backend"])
    for sample in _bar(samples, "peaks", shape):
        particle = io.read_relaxed(Path(relaxed) / f"{sample}.h5")
        positions = particle["relaxed_positions"]
        reflection_vector = scattering.reciprocal_vector(settings["reflection"], float(particle["lattice_constant"]))
        for pattern in patterns:
            geometry, draws = reflections.draw_clear(
                seeds.rng(seed, "bragg_peak", shape, int(sample), int(pattern)),
                functools.partial(frames.draw_pattern, positions=positions, reflection_vector=reflection_vector,
                                  settings=settings),
                settings["reflection"], float(particle["lattice_constant"]), settings["grid"])
            t0 = time.perf_counter()
            amplitude = scattering.bragg_peak(positions, reflection_vector, geometry.basis, settings["grid"],
                                              backend=backend, tolerance=settings["tolerance"], threads=threads)
            log.info("%s: %d atoms, grid %s, %s frame, oversampling %s (draw %d), backend %s: %.3f s",
                     pattern_name(sample, pattern), len(positions), settings["grid"], geometry.frame,
                     np.round(geometry.oversampling, 3).tolist(), draws, backend, time.perf_counter() - t0)
            io.write_peak(
                folder / f"{pattern_name(sample, pattern)}.h5", amplitude=amplitude,
                reflection=settings["reflection"], reflection_vector=reflection_vector, geometry=geometry,
                backend=backend, tolerance=settings["tolerance"], amplitude_dtype=settings["amplitude_dtype"],
                natoms=len(positions),
                record=io.provenance({"spec": particle["spec"], "peaks": settings}, seed),
            )


def record(peaks, shape: str, samples, patterns, settings: dict, seed: int, folder) -> None:
    """Each peak scaled to a photon flux, with Poisson noise and the detector's gaps:
    ``peaks/<sample>_<pattern>.h5`` to ``folder/<sample>_<pattern>.h5``."""
    folder = Path(folder)
    model = detector.detector_model(settings["model"])
    for sample in _bar(samples, "detector", shape):
        for pattern in patterns:
            name = pattern_name(sample, pattern)
            peak_path = Path(peaks) / f"{name}.h5"
            peak = io.read_peak(peak_path)
            recorded = detector.simulate_detector(
                peak["intensity"].astype(np.float64), seeds.rng(seed, "detector", shape, int(sample), int(pattern)),
                detector=model, max_counts_range=settings["max_counts"], background=settings["background"],
                blur_sigma_px=settings["blur_sigma_px"], orientation_probabilities=settings["orientation_probabilities"],
                offset_range_px=settings["offset_range_px"],
            )
            log.info("%s: %s", name, recorded.provenance())
            io.write_detector_pattern(folder / f"{name}.h5", gapped=recorded.gapped, mask=recorded.mask,
                                      counts=recorded.counts, expected=recorded.expected,
                                      record=io.provenance({"detector": settings, **recorded.provenance()}, seed),
                                      geometry=io.read_geometry(peak_path))


def cut_patches(recordings, shape: str, samples, patterns, settings: dict, count: int, element: str, seed: int,
                folder) -> None:
    """Patches of each recording with a gap plane through each centre:
    ``recordings/<sample>_<pattern>.h5`` to ``folder/<sample>_<pattern>.h5``."""
    folder = Path(folder)
    for sample in _bar(samples, "patches", shape):
        for pattern in patterns:
            name = pattern_name(sample, pattern)
            recording = io.read_detector_pattern(Path(recordings) / f"{name}.h5")
            made = patches.make_patches(
                recording["counts"], seeds.rng(seed, "simulated_patches", shape, int(sample), int(pattern)),
                expected=recording["expected"], count=count, patch_size=settings["size"],
                gap_widths_px=settings["gap_widths_px"], cross_probability=settings["cross_probability"],
            )
            io.write_patch_shard(
                folder / f"{name}.h5", made, source_id=dataset.source_id(shape, sample), origin="simulated",
                shape_name=shape, element=element, record=io.provenance({"patches": settings, "count": count}, seed),
            )
        log.info("%s: %d patterns, %d patches of %d^3 each", sample, len(patterns), count, settings["size"])


def files_in(folders) -> list[Path]:
    """The HDF5 files of shard folders, folder by folder, each folder's by sample, then pattern."""
    def order(path):
        return tuple(int(part) for part in path.stem.split("_"))

    return [path for folder in folders for path in sorted(Path(folder).glob("*.h5"), key=order)]
