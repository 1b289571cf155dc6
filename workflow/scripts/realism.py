"""Rule realism: the simulated recordings against the run's measured files (braggsynth.report.realism)."""

import json
from pathlib import Path

from tqdm import tqdm

from braggsynth import figures, io
from braggsynth.cli import setup_logging
from braggsynth.data import shards
from braggsynth.report import realism

log = setup_logging(snakemake.log[0])
settings = snakemake.params.settings
paths = shards.files_in(snakemake.input.recordings)


def recordings():
    for path in paths:
        recording = io.read_detector_pattern(path)
        yield f"{path.parents[1].name}/{path.stem}", recording["counts"], recording["bad"]


measured = [(Path(path).parent.name, *io.read_measured(path)) for path in snakemake.input.measured]
found = realism.assess(recordings(), measured, seed=snakemake.params.seed,
                       patches_per_recording=settings["patches_per_recording"],
                       patches_per_file=settings["patches_per_file"],
                       stand_ins=settings["stand_ins"],
                       progress=lambda items: tqdm(items, desc="realism", unit="recording", total=len(paths)))
markdown = realism.report_markdown(found)
log.info("\n%s", markdown)
with io.atomic_path(snakemake.output.report) as tmp:
    tmp.write_text(markdown)
with io.atomic_path(snakemake.output.table) as tmp:
    tmp.write_text(json.dumps(found, indent=1, default=float) + "\n")
figures.realism_histograms(found, snakemake.output.figure)
