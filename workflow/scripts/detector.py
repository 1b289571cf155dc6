"""Rule detector: scale a simulated peak to a photon flux, add Poisson noise and the detector's gaps."""

import numpy as np

from braggsynth import detector, io, seeds
from braggsynth.cli import setup_logging

log = setup_logging(snakemake.log[0])
settings, seed, wildcards = snakemake.params.detector, snakemake.params.seed, snakemake.wildcards
peak = io.read_peak(snakemake.input[0])
rng = seeds.rng(seed, "detector", wildcards.shape, int(wildcards.sample), int(wildcards.pattern))
recorded = detector.simulate_detector(
    peak["intensity"].astype(np.float64), rng, detector=detector.detector_model(settings["model"]),
    max_counts_range=settings["max_counts"], background=settings["background"],
    blur_sigma_px=settings["blur_sigma_px"], orientation_probabilities=settings["orientation_probabilities"],
    offset_range_px=settings["offset_range_px"],
)
log.info("%s", recorded.provenance())
io.write_detector_pattern(snakemake.output[0], gapped=recorded.gapped, mask=recorded.mask, counts=recorded.counts,
                          expected=recorded.expected,
                          record=io.provenance({"detector": settings, **recorded.provenance()}, seed))
