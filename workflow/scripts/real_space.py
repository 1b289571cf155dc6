"""Rule real_space: held-out patterns and measured files phased with cohere-core with a gap in every mode,
scored in real space (the report's opening table).

The phasing runs in worker processes started by "spawn", which run this file again as ``__mp_main__``
(without Snakemake's ``snakemake`` object): everything happens in ``main()``, under the ``__main__`` guard.
"""

import csv
import os
from pathlib import Path


def main():
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", str(snakemake.threads))
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", str(snakemake.threads))
    from braggsynth.cli import setup_logging
    from braggsynth import evaluate, figures, io, model, phasing, realspace, reconstruction, uncertainty  # noqa: I001

    log = setup_logging(snakemake.log[0])
    settings, output, seed = snakemake.params.settings, snakemake.output, snakemake.params.seed
    with open(snakemake.input.metrics, newline="") as handle:
        held_out = [{**row, "pcc_mean": float(row["pcc_mean"])} for row in csv.DictReader(handle)
                    if row["scope"] == "held-out patterns vs counts"]
    best = evaluate.best_baseline(held_out) or "biharmonic"
    chosen_baselines = list(dict.fromkeys(best if name == "best" else name for name in settings["baselines"]))
    fill_functions = {
        name: reconstruction.model_fill(model.load_model(path), uncertainty.read_calibration(calibration))
        for name, path, calibration in zip(("model", "shipped"), snakemake.input.models, snakemake.input.calibrations)}
    phasing_options = {"sequence": settings["sequence"], "library": settings["library"], "device": settings["gpu"]}
    crop = settings["crop_px"]
    with realspace.ParallelRunner(settings["workers"] or snakemake.threads) as runner:
        cases = []
        for recording_path, peak_path in snakemake.params.patterns:
            counts, amplitude = realspace.crop_around_peak(io.read_detector_pattern(recording_path)["counts"], crop,
                                                           io.read_peak(peak_path)["amplitude"])
            cases.append(realspace.Case(f"{Path(recording_path).parents[1].name}/{Path(recording_path).stem}",
                                        "simulated", counts, phasing.true_object(amplitude)))
        for path in snakemake.input.measured:
            intensity, mask = io.read_measured(path)
            counts, unmeasured = realspace.crop_around_peak(intensity, crop, mask)
            reference, floor = realspace.measured_reference(counts, starts=settings["reference_starts"], seed=seed,
                                                            runner=runner, unmeasured=unmeasured, **phasing_options)
            log.info("%s: gap-free starts agree with the reference at %s", path, floor)
            cases.append(realspace.Case(f"measured {Path(path).parent.name}", "measured", counts, reference, floor,
                                        unmeasured))
        rows, gap_rows, examples, curves, title = realspace.real_space_check(
            cases, fill_functions, baselines=chosen_baselines, gap_widths_px=settings["gap_widths_px"],
            positions=settings["positions"], starts=settings["starts"], seed=seed, runner=runner, **phasing_options)
    table = realspace.summary(rows)
    gap_table = realspace.summary(gap_rows, key="method", scores=("pcc", "amplitude_r"))
    for row in table + gap_table:
        log.info("%s", row)
    columns = list(dict.fromkeys(key for row in rows for key in row))
    with io.atomic_path(output.table) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(rows)
    figures.real_space_slices(examples, output.figure, title=title)
    figures.error_curves(curves, output.curves, title=f"{title}: start 0 of each version")
    choices = sorted({f"{row['pattern']}, {row['gap_width_px']} px {row['position']}, {row['version']}: {row['choice']}"
                      for row in rows if "choice" in row and row["start"] == 0})
    with io.atomic_path(output.report) as tmp:
        Path(tmp).write_text(realspace.report_markdown(
            table, gap_table, floors={case.name: case.floor for case in cases}, models=list(fill_functions),
            crop_px=crop, sequence=settings["sequence"], starts=settings["starts"], figure_name=Path(output.figure).name,
            curves_name=Path(output.curves).name, choices=choices))


if __name__ == "__main__":
    main()
