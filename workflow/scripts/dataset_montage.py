"""Rule dataset_montage: random patches (input, target, mask) of each split."""

from braggsynth import seeds
from braggsynth.cli import setup_logging
from braggsynth.data import dataset

setup_logging(snakemake.log[0])
dataset.patch_montage(snakemake.input[0], snakemake.output[0], rng=seeds.rng(snakemake.params.seed, "dataset_montage"))
