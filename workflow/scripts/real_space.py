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
    from braggsynth import io
    from braggsynth.cli import setup_logging
    from braggsynth.data import shards
    from braggsynth.learn import model, uncertainty
    from braggsynth.phase import reconstruction
    from braggsynth.report import evaluate, realspace

    log = setup_logging(snakemake.log[0])
    shards.verified_files(path for pair in snakemake.params.patterns for path in pair)
    settings, output, seed = snakemake.params.settings, snakemake.output, snakemake.params.seed
    with open(snakemake.input.metrics, newline="") as handle:
        held_out = [{**row, "pcc_mean": float(row["pcc_mean"])} for row in csv.DictReader(handle)
                    if row["scope"] == "held-out patterns vs counts"]
    best = evaluate.best_baseline(held_out) or "biharmonic"
    chosen_baselines = list(dict.fromkeys(best if name == "best" else name for name in settings["baselines"]))
    fill_functions = {
        name: reconstruction.model_fill(model.load_model(path), uncertainty.read_calibration(calibration))
        for name, path, calibration in zip(("model", "shipped"), snakemake.input.models, snakemake.input.calibrations)}
    options = {"sequence": settings["sequence"], "library": settings["library"], "device": settings["gpu"],
               "psf": settings["psf"]}
    crop = settings["crop_px"]
    with realspace.ParallelRunner(settings["workers"] or snakemake.threads) as runner:
        cases = [realspace.read_simulated_case(recording, peak, crop) for recording, peak in snakemake.params.patterns]
        for path in snakemake.input.measured:
            cases.append(realspace.measured_case(f"measured {Path(path).parent.name}", *io.read_measured(path), crop,
                                                 reference_starts=settings["reference_starts"], seed=seed,
                                                 runner=runner, **options))
            log.info("%s: gap-free starts agree with the reference at %s", path, cases[-1].floor)
        found = realspace.real_space_check(
            cases, fill_functions, baselines=chosen_baselines, gap_widths_px=settings["gap_widths_px"],
            positions=settings["positions"], starts=settings["starts"], seed=seed, runner=runner, **options)
    for row in found[0]:
        log.info("%s", row)
    realspace.write_report(output.report, output.table, output.figure, output.curves, found, cases=cases,
                           models=list(fill_functions), crop_px=crop, sequence=settings["sequence"],
                           starts=settings["starts"], psf=settings["psf"])


if __name__ == "__main__":
    main()
