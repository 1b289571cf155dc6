"""Test-time augmentation (issue 17, item 4): the shipped model alone, averaged over the 8 flips, and over all
16 symmetries (flips and the y-x swap, :class:`braggsynth.learn.model.Symmetrised`), against every baseline in the
same run, with the cost.

Scored, gap voxels only, normalised log(I + 1) PCC (and MAE):

- the validation split of a patch dataset (the decision to keep it is taken here) and its test split (the
  report), against counts and expected counts;
- a measured file, artificial gap planes of 3, 6, 9 and 12 px through its maximum and 6 px beside it in both
  orientations, inpainted whole (:func:`braggsynth.report.evaluate.measured_volumes`; the scored half only).

Usage (after ``make``, on its never-trained-on default dataset and measured file; about 15 minutes on 2 cores)::

    python benchmarks/bench_tta.py --dataset results/dataset/patches.h5 --measured results/measured/s11/intensity.h5
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def table(rows, methods, scope: str) -> str:
    """Markdown: PCC mean per gap width (columns) and method (rows), and the seconds a sample."""
    rows = [row for row in rows if row["scope"] == scope]
    widths = sorted({row["gap_width_px"] for row in rows if row["gap_width_px"] != "all"}) + ["all"]
    lines = [f"**{scope}**", "", "| method | " + " | ".join(f"{w} px" if w != "all" else "all" for w in widths)
             + " | s / sample |", "|---|" + "---:|" * (len(widths) + 1)]
    for method in methods:
        cells = {row["gap_width_px"]: row for row in rows if row["method"] == method}
        lines.append(f"| {method} | " + " | ".join(f"{cells[w]['pcc_mean']:.4f}" for w in widths)
                     + f" | {cells['all']['seconds_per_sample']:.4f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True, help="patch dataset (HDF5) the model never trained on")
    parser.add_argument("--measured", nargs="*", default=[], metavar="INTENSITY.h5")
    parser.add_argument("--model", help="model (.keras; default the shipped one)")
    parser.add_argument("--out", help="also write the tables to this markdown file")
    args = parser.parse_args()

    from braggsynth import io
    from braggsynth.learn import model
    from braggsynth.report import evaluate
    from braggsynth.score.baselines import BASELINES

    shipped = model.load_model(args.model)
    models = {"model": shipped, "model, 8 flips": model.Symmetrised(shipped, 8),
              "model, 16 symmetries": model.Symmetrised(shipped, 16)}
    methods = list(models) + list(BASELINES)
    sections, started = [], time.perf_counter()
    for split in ("validation", "test"):
        rows = evaluate.evaluate_patches(args.dataset, models, split=split)
        sections += [table(rows, methods, f"{split} patches vs {truth}") for truth in ("counts", "expected")]
    for path in args.measured:
        intensity, unmeasured = io.read_measured(path)
        name = Path(path).parent.name
        rows, _ = evaluate.evaluate_volumes(evaluate.measured_volumes(intensity, name=name, excluded=unmeasured),
                                            models)
        sections.append(table(rows, methods, f"measured {name}"))
    text = "\n".join(sections) + f"\n{time.perf_counter() - started:.0f} s in all\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
