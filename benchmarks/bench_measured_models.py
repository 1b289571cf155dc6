"""Several 32^3 models side by side on measured files, with the evaluation's protocol, and every baseline.

The protocol of rule evaluate's "measured <file>" tables (:func:`braggsynth.report.evaluate.measured_volumes`):
artificial gap planes of each width, normal to x and to y, at each offset from the peak, in a 96^3 box; only gap
voxels of the half of the rocking axis that training never used are scored (PCC of normalised log(I + 1), mean
over the planes). It answers "is the model I am about to ship better than the one shipped now on measured
data?", which a pretraining's card does not: its measured tables hold the new model only.

Usage (a pretraining run's measured files, the shipped model against the one shipped at a commit)::

    git show e9e04c6:src/braggsynth/models/inpainting.keras > before.keras
    python benchmarks/bench_measured_models.py --models shipped=src/braggsynth/models/inpainting.keras \\
        before=before.keras --measured runs/pretrain/results/measured/*/intensity.h5

A measured file is read as rule measured_intensity writes it, or as a raw CXI with its mask
(:func:`braggsynth.io.read_measured`); its name in the table is its folder's (``.../<name>/intensity.h5``) or
its stem up to the first underscore.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from recipe import measured_name

from braggsynth import io
from braggsynth.learn import model as gapmodel
from braggsynth.report import evaluate


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", required=True, metavar="NAME=PATH")
    parser.add_argument("--measured", nargs="+", required=True, type=Path, metavar="FILE")
    parser.add_argument("--widths", nargs="+", type=int, default=[3, 6, 9, 12])
    parser.add_argument("--offsets", nargs="+", type=int, default=[-6, 0, 6])
    args = parser.parse_args(argv)
    models = {}
    for item in args.models:
        name, _, path = item.partition("=")
        if not path:
            parser.error(f"--models {item!r}: expected NAME=PATH")
        models[name] = gapmodel.load_model(path)
    columns = [str(w) for w in args.widths] + ["all"]
    for path in args.measured:
        start = time.perf_counter()
        intensity, mask = io.read_measured(path)
        volumes = evaluate.measured_volumes(intensity, name=measured_name(path), gap_widths_px=args.widths,
                                            offsets_px=args.offsets, excluded=mask)
        rows, _ = evaluate.evaluate_volumes(volumes, models, stride=16, progress=False)
        table = {}
        for row in rows:
            table.setdefault(row["method"], {})[str(row["gap_width_px"])] = row["pcc_mean"]
        print(f"\n{measured_name(path)} ({path}; {time.perf_counter() - start:.0f} s): PCC of log(I + 1) over the "
              "scored gap voxels\n")
        print("| method | " + " | ".join(f"{c} px" if c != "all" else c for c in columns) + " |")
        print("|---|" + "---:|" * len(columns))
        for method, scores in table.items():
            print(f"| {method} | " + " | ".join(f"{scores.get(c, float('nan')):.4f}" for c in columns) + " |",
                  flush=True)


if __name__ == "__main__":
    main()
