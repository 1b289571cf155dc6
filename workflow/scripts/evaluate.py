"""Rule evaluate: the trained (and shipped) models against every classic baseline, on the test split,
whole held-out patterns and the measured files' held-out halves."""

import os
from pathlib import Path

import numpy as np

# TensorFlow reads its thread pools' sizes once, at import: keep them to the rule's threads
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", str(snakemake.threads))
os.environ.setdefault("TF_NUM_INTEROP_THREADS", str(snakemake.threads))

import scipy.fft

from braggsynth import inpaint, io
from braggsynth.cli import setup_logging
from braggsynth.data import shards
from braggsynth.learn import model
from braggsynth.report import evaluate
from braggsynth.simulate import gaps

log = setup_logging(snakemake.log[0])
settings, gap_widths = snakemake.params.settings, snakemake.params.gap_widths
widest = snakemake.params.patch_size - 2 * inpaint.MIN_CONTEXT_PX

simulated = []
for path in shards.verified_files(snakemake.params.patterns):
    recording = io.read_detector_pattern(path)
    width = gaps.gap_width_px(recording["mask"])
    if width > widest:
        log.warning("%s: its %d px gap is wider than %d px patches can fill; not evaluated", path, width, widest)
    elif gap_widths is None or width in gap_widths:
        simulated.append({"scope": "held-out patterns vs counts",
                          "name": f"{Path(path).parents[1].name}/{Path(path).stem}",
                          "intensity": recording["counts"].astype(np.float32), "expected": recording["expected"],
                          "gap_mask": recording["mask"], "gap_width_px": width})
measured_files = [(Path(path).parent.name, *io.read_measured(path)) for path in snakemake.input.measured]
models = {"model": model.load_model(snakemake.input.model)}
if snakemake.input.shipped:
    models["shipped"] = model.load_model(snakemake.input.shipped[0])
calibrations = {"model": snakemake.output.calibration}
if "shipped" in models:
    calibrations["shipped"] = snakemake.output.shipped_calibration
wide_models = ({"shipped wide": model.load_model(snakemake.input.shipped_wide[0])}
               if snakemake.input.shipped_wide else {})
with scipy.fft.set_workers(snakemake.threads):  # phase retrieval's FFTs, when phasing_fill is on
    rows = evaluate.evaluate(
        snakemake.input.dataset, models, Path(snakemake.output.report).parent, simulated=simulated,
        measured_files=measured_files, max_patches=settings["max_patches"], stride=settings["stride"],
        gap_widths=gap_widths, offsets_px=settings["offsets_px"], crops=settings["crops"],
        seed=snakemake.params.seed, wide_models=wide_models, wide_gap_widths=snakemake.params.wide_gaps,
        measured_gap_widths=snakemake.params.training_gap_widths, phasing_fill=settings["phasing_fill"],
        calibrations=calibrations)
for row in rows:
    log.info("%s", row)
