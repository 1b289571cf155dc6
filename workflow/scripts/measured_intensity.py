"""Rule measured_intensity: a user's measured peak (or the peak of a reconstructed object) as CXI with its mask."""

import numpy as np

from braggsynth import io, seeds
from braggsynth.cli import setup_logging
from braggsynth.data import measured
from braggsynth.simulate import detector

log = setup_logging(snakemake.log[0])
entry, seed = snakemake.params.entry, snakemake.params.seed
if entry["object"]:
    obj = io.read_object(entry["path"], entry["key"])
    rng = seeds.rng(seed, "measured_intensity", entry["name"])
    intensity = measured.peak_from_object(obj, entry["object_grid"])
    counts = detector.poisson_counts(detector.expected_counts(intensity, entry["max_counts"]), rng)
    intensity, mask = counts.astype(np.float32), None
else:
    intensity, mask = io.read_measured(entry["path"], entry["key"], entry["mask_key"])
log.info("%s: shape %s, max %.3g, %s masked voxels", entry["path"], intensity.shape, intensity.max(),
         0 if mask is None else int(mask.sum()))
io.write_cxi_intensity(snakemake.output[0], intensity, mask, record=io.provenance({"experimental": entry}, seed))
