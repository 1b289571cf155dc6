"""Rule particle_shard: build the shard's particles, then relax them with LAMMPS."""

from braggsynth.cli import setup_logging
from braggsynth.data import shards

setup_logging(snakemake.log[0])
shape, params, output = snakemake.wildcards.shape, snakemake.params, snakemake.output
spec, samples = params.job["spec"], params.job["samples"]
shards.build(shape, spec, samples, params.seed, output.particles)
shards.relax_particles(output.particles, samples, params.relax, output.relaxed, threads=snakemake.threads)
