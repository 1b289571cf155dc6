"""Rule particle_overview: one drawing of every relaxed particle."""

from pathlib import Path

from braggsynth import figures, io
from braggsynth.cli import setup_logging

setup_logging(snakemake.log[0])
particles = [(f"{Path(p).parent.name}/{Path(p).stem}", io.read_relaxed(p)) for p in snakemake.input]
figures.particle_overview(particles, snakemake.output[0])
