"""The real-space study of issue 16: every gap mode with the shipped models, at the widths and positions a
beamline meets, on held-out simulated patterns of a finished run and on measured files.

It runs :func:`braggsynth.report.realspace.real_space_check` (the rule ``real_space``'s engine) with the shipped
models only (the 32^3 one for gaps up to 24 px, the wide 64^3 one beyond, each with its calibrated
intervals), every baseline but ``zero`` (which is the ``zero`` mode) forced, on a ``--crop``^3 cube, and writes
the report and the table. A run
of the default config provides the patterns (its test split, never trained on) and the measured file.

Usage (after ``make``; about an hour on 2 cores for the defaults)::

    python benchmarks/bench_real_space.py --out results/study \\
        --patterns results/detector/cube/shard0000/0001_00.h5:results/peaks/cube/shard0000/0001_00.h5 \\
        --measured results/measured/s11/intensity.h5

``--models NAME=MODEL.keras`` phases beside them another model's fill (the wide model shipped before, say, taken
with ``git show COMMIT:src/braggsynth/models/inpainting_wide.keras``), at the widths of its patch size;
``NAME=MODEL.keras@0.95`` takes its 95 % interval instead of the 68 % one (the same model twice: both levels).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder for real_space.md, real_space.csv and the figures")
    parser.add_argument("--patterns", nargs="*", default=[], metavar="RECORDING:PEAK")
    parser.add_argument("--measured", nargs="*", default=[], metavar="INTENSITY.h5")
    parser.add_argument("--widths", type=int, nargs="+", default=[3, 6, 12, 38])
    parser.add_argument("--positions", nargs="+", default=["through", "off"])
    parser.add_argument("--crop", type=int, default=64)
    parser.add_argument("--starts", type=int, default=2)
    parser.add_argument("--reference-starts", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--models", nargs="*", default=[], metavar="NAME=MODEL.keras[@LEVEL]",
                        help="more models beside the shipped ones (a model shipped before, say), each at the widths "
                             "of its patch size, with the intervals of MODEL.calibration.json where there is one, "
                             "at LEVEL (0.68 or 0.95; default 0.68)")
    args = parser.parse_args()

    from braggsynth import io
    from braggsynth.learn import model, uncertainty
    from braggsynth.models import SHIPPED_MAX_GAP_PX, SHIPPED_MODEL, SHIPPED_PATCH_SIZE, SHIPPED_WIDE_MODEL
    from braggsynth.phase import phasing, reconstruction
    from braggsynth.report import realspace
    from braggsynth.score import baselines

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    def fill_of(entry):
        path, _, level = str(entry).partition("@")
        calibration = Path(path).with_suffix(".calibration.json")
        net = model.load_model(path)
        fill = reconstruction.model_fill(net, uncertainty.read_calibration(calibration)
                                         if calibration.is_file() else None, interval_level=float(level or 0.68))
        return fill, model.patch_size_of(net) > SHIPPED_PATCH_SIZE

    named = {"shipped": SHIPPED_MODEL, "shipped wide": SHIPPED_WIDE_MODEL,
             **dict(entry.split("=", 1) for entry in args.models)}
    fill_functions = {name: fill_of(path) for name, path in named.items()}  # name -> (fill, for wide gaps)
    options = {"sequence": phasing.DEFAULT_SEQUENCE}
    started = time.perf_counter()
    rows, gap_rows, first = [], [], None
    with realspace.ParallelRunner(args.workers) as runner:
        cases = []
        for pair in args.patterns:
            recording, peak = pair.split(":")
            cases.append(realspace.read_simulated_case(recording, peak, args.crop))
        for path in args.measured:
            cases.append(realspace.measured_case(f"measured {Path(path).parent.name}", *io.read_measured(path),
                                                 args.crop, reference_starts=args.reference_starts, seed=args.seed,
                                                 runner=runner, **options))
        for width in args.widths:
            wide = width > SHIPPED_MAX_GAP_PX
            found = realspace.real_space_check(cases, {name: fill for name, (fill, for_wide) in fill_functions.items()
                                                       if for_wide == wide}, baselines=baselines.BASELINES[1:],
                                               gap_widths_px=[width], positions=args.positions, starts=args.starts,
                                               seed=args.seed, runner=runner, **options)
            rows += found[0]
            gap_rows += found[1]
            first = first or found
            print(f"{width} px done after {time.perf_counter() - started:.0f} s", flush=True)
    realspace.write_report(out / "real_space.md", out / "real_space.csv", out / "real_space.png",
                           out / "real_space_errors.png", (rows, gap_rows, *first[2:]), cases=cases,
                           models=list(fill_functions), crop_px=args.crop, sequence=options["sequence"],
                           starts=args.starts)
    print(f"wrote {out / 'real_space.md'} in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
