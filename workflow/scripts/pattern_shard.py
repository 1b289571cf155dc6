"""Rule pattern_shard: the Bragg peaks of the shard's relaxed particles, their detector recordings, patches."""

from braggsynth.cli import setup_logging
from braggsynth.data import shards

setup_logging(snakemake.log[0])
shape, params, output = snakemake.wildcards.shape, snakemake.params, snakemake.output
samples, patterns, seed = params.job["samples"], params.patterns, params.seed
shards.compute_peaks(snakemake.input[0], shape, samples, patterns, params.peaks, seed, output.peaks,
                     threads=snakemake.threads)
shards.record(output.peaks, shape, samples, patterns, params.detector, seed, output.detector,
              threads=snakemake.threads)
shards.cut_patches(output.detector, shape, samples, patterns, params.patches, params.patch_count,
                   params.job["spec"]["element"], seed, output.patches)
