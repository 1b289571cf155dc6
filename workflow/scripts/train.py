"""Rule train: train the inpainting model on the dataset, resuming from its checkpoints after an interruption."""

import shutil
from pathlib import Path

from braggsynth.cli import setup_logging
from braggsynth import model  # noqa: I001 - before keras: it enables TensorFlow's fast CPU kernels

log = setup_logging(snakemake.log[0])
settings = dict(snakemake.params.settings)
folder = Path(snakemake.params.checkpoints)
per_width = settings.pop("per_gap_width")
log.info("training %s (one model per gap width: %s) in %s", snakemake.wildcards.model, per_width, folder)
model.train(snakemake.input[0], folder, seed=snakemake.params.seed, verbose=2, **settings)
for name, target in (("best.keras", snakemake.output.model), ("history.csv", snakemake.output.history),
                     ("learning_curve.png", snakemake.output.curve)):
    shutil.copyfile(folder / name, target)
