"""Rule particle_overview: one drawing of the first relaxed particles of each shape."""

from pathlib import Path

from braggsynth import figures, io
from braggsynth.cli import setup_logging
from braggsynth.data import shards

setup_logging(snakemake.log[0])
particles = [(f"{Path(p).parents[1].name}/{Path(p).stem}", io.read_relaxed(p))
             for p in shards.verified_files(snakemake.params.particles)]
figures.particle_overview(particles, snakemake.output[0])
