"""Rule train: train the inpainting model on the dataset, resuming from its checkpoints after an interruption."""

import hashlib
import os
import shutil
from pathlib import Path

# TensorFlow reads its thread pools' sizes once, at import: keep them to the rule's threads
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", str(snakemake.threads))
os.environ.setdefault("TF_NUM_INTEROP_THREADS", str(snakemake.threads))

from braggsynth import io
from braggsynth.cli import setup_logging
from braggsynth.learn import training

log = setup_logging(snakemake.log[0])
settings = dict(snakemake.params.settings)
per_width = settings.pop("per_gap_width")
# Checkpoints belong to one dataset file: a rebuilt dataset starts a new training, an interrupted one resumes.
stat = Path(snakemake.input[0]).stat()
dataset_key = hashlib.sha256(f"{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:12]
folder = Path(snakemake.params.checkpoints) / f"dataset-{dataset_key}"
log.info("training %s (one model per gap width: %s) in %s", snakemake.wildcards.model, per_width, folder)
training.train(snakemake.input[0], folder, seed=snakemake.params.seed, verbose=2, **settings)
for name, target in ((training.BEST_MODEL, snakemake.output.model), (training.HISTORY_CSV, snakemake.output.history),
                     (training.CURVE_PNG, snakemake.output.curve)):
    with io.atomic_path(target) as tmp:
        shutil.copyfile(folder / name, tmp)
