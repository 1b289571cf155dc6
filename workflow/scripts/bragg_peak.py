"""Rule bragg_peak: draw the pattern's oversampling and q-frame rotation, compute F(q), write a CXI-style file."""

import time

import numpy as np

from braggsynth import io, scattering, seeds
from braggsynth.cli import setup_logging

log = setup_logging(snakemake.log[0])
settings, seed = snakemake.params.peaks, snakemake.params.seed
wildcards = snakemake.wildcards
relaxed = io.read_relaxed(snakemake.input[0])
positions = relaxed["relaxed_positions"]

rng = seeds.rng(seed, "bragg_peak", wildcards.shape, int(wildcards.sample), int(wildcards.pattern))
oversampling, rotation = scattering.draw_pattern_geometry(rng, settings["oversampling"],
                                                         per_axis=settings["oversampling_per_axis"],
                                                         max_rotation_deg=settings["max_rotation_deg"])
reflection_vector = scattering.reciprocal_vector(settings["reflection"], float(relaxed["lattice_constant"]))
basis = scattering.grid_basis(positions, oversampling, rotation)
backend = scattering.resolve_backend(settings["backend"])

t0 = time.perf_counter()
amplitude = scattering.bragg_peak(positions, reflection_vector, basis, settings["grid"], backend=backend,
                                  tolerance=settings["tolerance"], threads=snakemake.threads)
log.info("%d atoms, grid %s, oversampling %s, backend %s: %.3f s", len(positions), settings["grid"],
         np.round(oversampling, 3).tolist(), backend, time.perf_counter() - t0)
io.write_peak(
    snakemake.output[0], amplitude=amplitude, reflection=settings["reflection"], reflection_vector=reflection_vector,
    basis=basis, oversampling=oversampling, rotation=rotation, backend=backend, tolerance=settings["tolerance"],
    amplitude_dtype=settings["amplitude_dtype"], natoms=len(positions),
    record=io.provenance({"spec": relaxed["spec"], "peaks": settings}, seed),
)
