"""Rule evaluate: the model against classic baselines on the test split and on whole held-out patterns."""

import os
from pathlib import Path

import numpy as np

# TensorFlow reads its thread pools' sizes once, at import: keep them to the rule's threads
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", str(snakemake.threads))
os.environ.setdefault("TF_NUM_INTEROP_THREADS", str(snakemake.threads))

from braggsynth.cli import setup_logging  # noqa: E402
from braggsynth import evaluate, inpaint, io  # noqa: I001

log = setup_logging(snakemake.log[0])
settings, gap_widths = snakemake.params.settings, snakemake.params.gap_widths


def gap_width_px(mask):
    """Width of the detector gap: the widest band of fully masked rows or columns."""
    return int(max(mask.all(axis=(0, 2)).sum(), mask.all(axis=(0, 1)).sum()))


volumes = []
for path in snakemake.input.patterns:
    recording = io.read_detector_pattern(path)
    width = gap_width_px(recording["mask"])
    widest = snakemake.params.patch_size - 2 * inpaint.MIN_CONTEXT_PX
    if width > widest:
        log.warning("%s: its %d px gap is wider than %d px patches can fill; not evaluated", path, width, widest)
    elif gap_widths is None or width in gap_widths:
        volumes.append({"name": f"{Path(path).parent.name}/{Path(path).stem}",
                        "intensity": recording["counts"].astype(np.float32), "gap_mask": recording["mask"],
                        "gap_width_px": width})
results = evaluate.evaluate(snakemake.input.dataset, snakemake.input.model, Path(snakemake.output.report).parent,
                            volumes=volumes, max_patches=settings["max_patches"], stride=settings["stride"],
                            gap_widths=gap_widths)
for row in results["patches"] + results["volumes"]:
    log.info("%s", row)
