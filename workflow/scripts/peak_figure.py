"""Rule peak_figure: log-scale central slices of every pattern of a shape's first particles."""

from pathlib import Path

from braggsynth import figures, io
from braggsynth.cli import setup_logging
from braggsynth.data import shards

setup_logging(snakemake.log[0])
read = [(Path(path).stem, io.read_peak(path)) for path in shards.verified_files(snakemake.params.peaks)]
peaks = [(f"{name} ({peak['frame']} frame)", peak["intensity"]) for name, peak in read]
reflection = read[0][1]["reflection"].tolist()
figures.peak_slices(peaks, snakemake.output[0], title=f"{snakemake.wildcards.shape}, reflection {reflection}")
