"""Rule real_space: held-out patterns phased with cohere-core in every version of their gap, scored in real space."""

import csv
import os
from pathlib import Path

os.environ.setdefault("TF_NUM_INTRAOP_THREADS", str(snakemake.threads))
os.environ.setdefault("TF_NUM_INTEROP_THREADS", str(snakemake.threads))

import scipy.fft  # noqa: E402

from braggsynth.cli import setup_logging  # noqa: E402
from braggsynth import evaluate, figures, io, model, realspace  # noqa: E402, I001

log = setup_logging(snakemake.log[0])
settings, output = snakemake.params.settings, snakemake.output
with open(snakemake.input.metrics, newline="") as handle:
    held_out = [{**row, "pcc_mean": float(row["pcc_mean"])} for row in csv.DictReader(handle)
                if row["scope"] == "held-out patterns vs counts"]
baseline = evaluate.best_baseline(held_out) or "biharmonic"
models = {name: model.load_model(path) for name, path in zip(("model", "shipped"), snakemake.input.models)}
rows, gap_rows, examples = [], [], None
with scipy.fft.set_workers(snakemake.threads):
    for recording_path, peak_path in snakemake.params.patterns:
        name = f"{Path(recording_path).parents[1].name}/{Path(recording_path).stem}"
        found, gap_found, shown = realspace.real_space_check(
            io.read_detector_pattern(recording_path)["counts"], io.read_peak(peak_path)["amplitude"], models,
            baseline=baseline, gap_widths_px=settings["gap_widths_px"], crop_px=settings["crop_px"],
            starts=settings["starts"], seed=snakemake.params.seed, sequence=settings["sequence"], name=name,
            library=settings["library"], device=settings["gpu"])
        rows += found
        gap_rows += gap_found
        examples = examples or shown
table = realspace.summary(rows)
gap_table = realspace.summary(gap_rows, key="method", scores=("pcc",))
for row in table + gap_table:
    log.info("%s", row)
with io.atomic_path(output.table) as tmp, open(tmp, "w", newline="") as handle:
    writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
figures.real_space_slices(examples, output.figure, title=f"{rows[0]['pattern']}, {settings['gap_widths_px'][0]} px gap")
with io.atomic_path(output.report) as tmp:
    Path(tmp).write_text(realspace.report_markdown(
        table, gap_table, patterns=[f"{Path(p).parents[1].name}/{Path(p).stem}" for p, _ in snakemake.params.patterns],
        baseline=baseline, crop_px=settings["crop_px"], sequence=settings["sequence"],
        figure_name=Path(output.figure).name))
