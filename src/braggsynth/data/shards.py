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
folder, whose last write is ``manifest.json`` (each file's name, size and
SHA-256): a folder without one is unfinished, and :func:`files_in` and
:func:`verified_files` check a folder against it before anything reads it.
The science is in :mod:`braggsynth.simulate.shapes`, :mod:`braggsynth.simulate.relax`,
:mod:`braggsynth.simulate.scattering`, :mod:`braggsynth.simulate.detector` and
:mod:`braggsynth.data.patches`.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import shutil
import time
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from braggsynth import io, seeds
from braggsynth.data import dataset, patches
from braggsynth.simulate import detector, frames, reflections, relax, scattering, shapes

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
    names = []
    for sample in _bar(samples, "build", shape):
        size_nm = shapes.draw_size_nm(seeds.rng(seed, "build_particle", shape, int(sample)), spec["size_nm"])
        atoms = shapes.build_particle(spec, size_nm)
        log.info("%s %s: %s %s, %.2f nm, %d atoms", shape, sample, spec["element"], spec["kind"], size_nm,
                 len(atoms))
        io.write_particle(folder / f"{sample}.h5", atoms, spec, seed, io.provenance({"shape": shape, **spec}, seed))
        names.append(f"{sample}.h5")
    write_manifest(folder, names)


def relax_particles(particles, samples, settings: dict, folder, *, threads: int = 1) -> None:
    """Clamp a Winterbottom interface to its substrate and minimise each particle with LAMMPS:
    ``particles/<sample>.h5`` to ``folder/<sample>.h5``."""
    folder = Path(folder)
    names = []
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
        names.append(f"{sample}.h5")
    write_manifest(folder, names)


def compute_peaks(relaxed, shape: str, samples, patterns, settings: dict, seed: int, folder, *,
                  threads: int = 1) -> None:
    """Each pattern's grid drawn (:mod:`braggsynth.simulate.frames`; again while it reaches another reflection,
    :mod:`braggsynth.simulate.reflections`), F(q) computed by NUFFT around the reflection:
    ``relaxed/<sample>.h5`` to ``folder/<sample>_<pattern>.h5``."""
    folder = Path(folder)
    backend = scattering.resolve_backend(settings["backend"])
    verified_files(Path(relaxed) / f"{sample}.h5" for sample in samples)
    names = []
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
            names.append(f"{pattern_name(sample, pattern)}.h5")
    write_manifest(folder, names)


def record(peaks, shape: str, samples, patterns, settings: dict, seed: int, folder, *, threads: int = 1) -> None:
    """Each peak recorded as a measured scan is (:func:`braggsynth.simulate.detector.simulate_detector`: partial
    coherence, the pixel's and the frame's integration, flux, backgrounds, aliens, Poisson noise, bad pixels and
    the detector's gaps):
    ``peaks/<sample>_<pattern>.h5`` to ``folder/<sample>_<pattern>.h5``."""
    folder = Path(folder)
    models = detector.detector_models(settings["model"])
    names = []
    for sample in _bar(samples, "detector", shape):
        for pattern in patterns:
            name = pattern_name(sample, pattern)
            model = detector.draw_detector(models, seeds.rng(seed, "detector_model", shape, int(sample), int(pattern)))
            peak_path = Path(peaks) / f"{name}.h5"
            peak = io.read_peak(peak_path)
            recorded = detector.simulate_detector(
                peak["intensity"].astype(np.float64), seeds.rng(seed, "detector", shape, int(sample), int(pattern)),
                detector=model, max_counts_range=settings["max_counts"], background=settings["background"],
                smooth_background=settings["smooth_background"], blur_sigma_px=settings["blur_sigma_px"],
                coherence_sigma_px=settings["coherence_sigma_px"],
                lorentzian_fraction=settings["lorentzian_fraction"], pixel_area=settings["pixel_area"],
                rocking_integration=settings["rocking_integration"],
                bad_pixel_fraction=settings["bad_pixel_fraction"], aliens=settings["aliens"],
                orientation_probabilities=settings["orientation_probabilities"],
                offset_range_px=settings["offset_range_px"], workers=threads,
            )
            log.info("%s: %s", name, recorded.provenance())
            io.write_detector_pattern(folder / f"{name}.h5", gapped=recorded.gapped, mask=recorded.mask,
                                      bad=recorded.bad, counts=recorded.counts, expected=recorded.expected,
                                      record=io.provenance({"detector": settings, **recorded.provenance()}, seed),
                                      geometry=io.read_geometry(peak_path))
            names.append(f"{name}.h5")
    write_manifest(folder, names)


def cut_patches(recordings, shape: str, samples, patterns, settings: dict, count: int, element: str, seed: int,
                folder) -> None:
    """Patches of each recording with a gap plane through each centre:
    ``recordings/<sample>_<pattern>.h5`` to ``folder/<sample>_<pattern>.h5``."""
    folder = Path(folder)
    names = []
    for sample in _bar(samples, "patches", shape):
        for pattern in patterns:
            name = pattern_name(sample, pattern)
            recording = io.read_detector_pattern(Path(recordings) / f"{name}.h5")
            made = patches.make_patches(
                recording["counts"], seeds.rng(seed, "simulated_patches", shape, int(sample), int(pattern)),
                expected=recording["expected"], excluded=recording["bad"], count=count, patch_size=settings["size"],
                gap_widths_px=settings["gap_widths_px"], cross_probability=settings["cross_probability"],
            )
            io.write_patch_shard(
                folder / f"{name}.h5", made, source_id=dataset.source_id(shape, sample), origin="simulated",
                shape_name=shape, element=element, record=io.provenance({"patches": settings, "count": count}, seed),
            )
            names.append(f"{name}.h5")
        log.info("%s: %d patterns, %d patches of %d^3 each", sample, len(patterns), count, settings["size"])
    write_manifest(folder, names)


# --- Manifests: what a shard folder holds, checked before anything reads it ---------------------------

#: The file that lists a shard folder's files (name, size in bytes, SHA-256), written last by the job.
MANIFEST = "manifest.json"
#: The first 8 bytes of every HDF5 file h5py writes (no user block).
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
#: Suffix of a damaged shard folder set aside (:func:`set_aside_damaged`) until its job makes it again.
DAMAGED = ".damaged"


def write_manifest(folder, names) -> Path:
    """List ``names`` (files of ``folder``, in order) with their sizes and SHA-256 in ``folder/manifest.json``.

    Written atomically as the job's last write into the folder: a folder with a manifest is whole, and
    one without (an interrupted job, an older braggsynth) counts as damaged.  The folder's damaged copy
    (``<folder>.damaged``, :func:`set_aside_damaged`) is removed.
    """
    folder = Path(folder)
    files = [{"name": name, "bytes": (folder / name).stat().st_size, "sha256": _sha256(folder / name)}
             for name in names]
    with io.atomic_path(folder / MANIFEST) as tmp:
        tmp.write_text(json.dumps({"files": files}, indent=1) + "\n")
    shutil.rmtree(folder.with_name(folder.name + DAMAGED), ignore_errors=True)  # whole again: its damaged copy goes
    return folder / MANIFEST


def _sha256(path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _manifest(folder) -> tuple[list[dict] | None, str]:
    """The manifest's file entries, or None and why there are none."""
    path = Path(folder) / MANIFEST
    try:
        files = json.loads(path.read_text())["files"]
        return [{"name": str(entry["name"]), "bytes": int(entry["bytes"]), "sha256": str(entry["sha256"])}
                for entry in files], ""
    except FileNotFoundError:
        return None, "missing (the job that makes the folder did not finish, or an older braggsynth made it)"
    except (OSError, ValueError, KeyError, TypeError) as error:
        return None, f"not a shard manifest ({type(error).__name__}: {error})"


def _file_damage(path, entry: dict, checksums: bool) -> str:
    """What is wrong with one listed file ('' when whole): size and HDF5 signature, then SHA-256.
    (os calls on str paths: about 10 us a file where pathlib takes 14, for the millions of a large run.)"""
    try:
        size = os.stat(path).st_size
        if size != entry["bytes"]:
            return f"{size} bytes, {MANIFEST} says {entry['bytes']}"
        handle = os.open(path, os.O_RDONLY)
        try:
            signature = os.read(handle, len(HDF5_SIGNATURE))
        finally:
            os.close(handle)
    except FileNotFoundError:
        return "missing"
    if signature != HDF5_SIGNATURE:
        return "not HDF5 (its first 8 bytes are not the HDF5 signature)"
    if checksums and _sha256(path) != entry["sha256"]:
        return f"its SHA-256 differs from the one {MANIFEST} lists (changed since the job wrote it)"
    return ""


def damage(folder, *, checksums: bool = True, names=None) -> tuple[Path, str] | None:
    """The first damaged file of a shard folder and what is wrong with it, or None when it is whole.

    Every file the manifest lists (or only ``names`` of them) must exist with its size and the HDF5
    signature; with ``checksums`` also its SHA-256 (which reads every byte: consumers do, the check
    at workflow start does not).  A missing or unreadable manifest, or a name it does not list, is damage.
    """
    folder = Path(folder)
    files, why = _manifest(folder)
    if files is None:
        return folder / MANIFEST, why
    listed, base = {entry["name"]: entry for entry in files}, os.fspath(folder)
    for name in listed if names is None else names:
        if name not in listed:
            return folder / name, f"not listed in {MANIFEST}"
        problem = _file_damage(os.path.join(base, name), listed[name], checksums)
        if problem:
            return folder / name, problem
    return None


def _raise_if_damaged(folder, names=None) -> list[Path]:
    found = damage(folder, names=names)
    if found:
        path, problem = found
        # io.remake_hint names the rule and the command from any HDF5 file of the folder
        raise io.DataFileError(f"damaged shard file {path}: {problem}{io.remake_hint(Path(folder) / 'any.h5')}")
    files, _ = _manifest(folder)
    return [Path(folder) / entry["name"] for entry in files]


def check_folder(folder) -> list[Path]:
    """The files of a shard folder in its manifest's order (sample, then pattern), each checked against the
    manifest (size, HDF5 signature, SHA-256); a damaged one raises :class:`braggsynth.io.files.DataFileError`
    naming it and the command that remakes the folder."""
    return _raise_if_damaged(folder)


def verified_files(paths) -> list[Path]:
    """``paths`` (files in shard folders), each checked against its folder's manifest as :func:`check_folder`
    does, in the order given."""
    paths = [Path(path) for path in paths]
    for folder in dict.fromkeys(path.parent for path in paths):
        _raise_if_damaged(folder, [path.name for path in paths if path.parent == folder])
    return paths


def files_in(folders) -> list[Path]:
    """The HDF5 files of shard folders, folder by folder, each folder's by sample, then pattern, each checked
    against its folder's manifest (:func:`check_folder`)."""
    return [path for folder in folders for path in check_folder(folder)]


def set_aside_damaged(folders, rule: str) -> tuple[list[str], list[str]]:
    """Move each damaged one of the existing shard ``folders`` (rule ``rule``'s outputs) to ``<folder>.damaged``,
    so that Snakemake sees it missing; return the folders to remake and one line for each.

    A folder stays to remake, start after start (dry runs included), while its ``.damaged`` copy exists:
    :func:`write_manifest` removes that copy when the job has made the folder whole again.  Cheap enough for
    every start: a stat and an 8-byte read per file (sizes and HDF5 signatures, no checksums, which
    :func:`check_folder` in the consumers reads every byte for).
    """
    remake, lines = [], []
    for folder in map(Path, folders):
        aside = folder.with_name(folder.name + DAMAGED)
        found = damage(folder, checksums=False) if folder.is_dir() else None
        if found:
            path, problem = found
            if aside.exists():
                shutil.rmtree(folder)  # damaged again before it was remade: the first damaged copy stays
                done = f"removed the folder (its first damaged copy is {aside})"
            else:
                folder.rename(aside)
                done = f"moved the folder to {aside}"
            lines.append(f"damaged shard file {path}: {problem}; {done}, rule {rule} remakes it")
        elif folder.is_dir() or not aside.is_dir():
            continue  # whole, or missing as any intermediate may be (Snakemake's rule)
        else:
            lines.append(f"{folder} is missing since it was found damaged (now {aside}): rule {rule} remakes it")
        remake.append(str(folder))
    return remake, lines


# --- What a large config costs before any job runs -------------------------------------------------

#: Seconds and GiB that building the DAG costs (every dry run, every start) — a fixed part, a part per
#: configured particle (the config checks walk every one) and a part per shard job.  The first two are
#: dry runs of one shape of 20, 2e6 and 1e7 particles in 48 jobs (4.7 s, 9.8 s, 27 s; 0.21, 0.48, 1.6 GB);
#: the last fits the dry runs of 1e6 and 1e7 particles at 100 per shard (20,000 and 200,000 shard jobs:
#: 43 s, 0.74 GB and 320 s, 5.2 GiB) to 20 %.  Measured on 2 cores.
DAG_SECONDS = {"start": 5.0, "particle": 2.3e-6, "job": 1.5e-3}
DAG_GIB = {"start": 0.2, "particle": 1.3e-7, "job": 1.8e-5}
#: Above this many particles the start says what the DAG costs.
LARGE_RUN_PARTICLES = 1_000_000
#: Shard jobs of the 1e6-particle default (100 per shard), the size a hint aims at.
HINTED_SHARD_JOBS = 20_000


def shard_jobs(counts, particles_per_job: int) -> int:
    """Shard jobs (particle_shard and pattern_shard: two per shard) of shapes with these particle counts."""
    return 2 * sum(shard_count(count, particles_per_job) for count in counts)


def dag_cost(particles: int, jobs: int) -> tuple[float, float]:
    """(seconds, GiB) that building the DAG of ``particles`` particles in ``jobs`` shard jobs takes (estimate)."""
    return tuple(cost["start"] + cost["particle"] * particles + cost["job"] * jobs for cost in (DAG_SECONDS, DAG_GIB))


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    return f"{seconds} s" if seconds < 60 else f"{seconds // 60} min {seconds % 60} s"


def dag_estimate(counts, particles_per_job: int) -> str | None:
    """One line for the start of a run of more than 1e6 particles (None for fewer): what a dry run costs,
    and the ``simulate.particles_per_job`` that brings the shard jobs near 20,000 (the 1e6-particle default)."""
    counts = [int(count) for count in counts]
    particles = sum(counts)
    if particles <= LARGE_RUN_PARTICLES:
        return None
    jobs = shard_jobs(counts, particles_per_job)
    seconds, gib = dag_cost(particles, jobs)
    line = (f"{particles:,} particles in {jobs:,} shard jobs (simulate.particles_per_job {particles_per_job}): "
            f"a dry run (and the start of every run) takes about {_duration(seconds)} and {gib:.1f} GiB")
    hinted = 10 * -(-particles // (10 * (HINTED_SHARD_JOBS // 2)))  # particles per shard, rounded up to tens
    if hinted > particles_per_job:
        fewer = shard_jobs(counts, hinted)
        seconds, gib = dag_cost(particles, fewer)
        return (f"{line}; simulate.particles_per_job {hinted} makes {fewer:,} jobs, "
                f"about {_duration(seconds)} and {gib:.1f} GiB")
    return f"{line}; a larger simulate.particles_per_job would save little"
