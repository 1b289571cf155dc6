"""Is a measured file's result typical of simulated recordings? The model's margin over a baseline on a measured
file, placed among the same margin on simulated recordings at the file's flux, scored by the same protocol.

A measured file is one particle; a model can lose to a baseline on it the way it loses on some simulated
particles, without the file being unlike the simulation. This benchmark measures that spread: each held-out
recording of a run (validation and test splits, a maximum within ``--flux-ratio`` of the file's) is scored
exactly as the evaluation scores a measured file (:func:`braggsynth.report.evaluate.measured_volumes`: gap planes
of 3, 6, 9 and 12 px through its maximum in both orientations, in a 96^3 box, the scored half of the rocking
axis only; its own gaps, bad pixels and aliens join the gap and are never scored; a recording whose own gap is
wider than the model's window can fill, EIGER's 38 px, is skipped, as the evaluation skips it), and the file's
margin (model minus baseline, PCC of normalised log(I + 1) over the gap, mean of the volumes) is given its
percentile among the recordings'. A file far in the tail says the simulation does not predict it; one inside
says a retraining for realism cannot be judged on it alone.

With ``--set KEY=VALUE`` (``detector:`` settings of the run's config, as ``bench_realism.py``) the held-out
noise-free peaks are recorded again first, exactly as rule pattern_shard records them (same seeds), so that a
recipe can be tried: e.g. every one at the measured file's flux, on MAXIPIX only, with another coherence.

Usage (after ``make``, and a run with recordings, e.g. ``make pretrain``; about 25 s a recording on 2 cores)::

    python benchmarks/bench_measured_null.py runs/pretrain --measured results/measured/*/intensity.h5
    python benchmarks/bench_measured_null.py runs/pretrain --measured results/measured/sixs/intensity.h5 \\
        --set "max_counts=[1.0e+4,1.0e+5]" "model=[maxipix]" --patterns 20 --baselines smoothed_linear
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np


def peak_counts(intensity) -> float:
    """Counts at the peak in the scored half of the rocking axis, where :func:`braggsynth.report.evaluate.
    measured_volumes` centres its gaps (:func:`~braggsynth.report.evaluate.peak_position`: not a hot voxel)."""
    from braggsynth.data import measured
    from braggsynth.report import evaluate

    intensity = np.asarray(intensity, dtype=np.float64)
    return float(intensity[evaluate.peak_position(np.where(measured.scoring_region(intensity.shape), intensity, 0))])


def margins(volumes, model, baselines) -> dict:
    """{(method, width): mean PCC} of the model and the baselines over ``volumes`` (width "all" pooled)."""
    from braggsynth.report import evaluate

    rows, _ = evaluate.evaluate_volumes(volumes, {"model": model}, baselines=baselines, stride=16, progress=False)
    return {(row["method"], row["gap_width_px"]): row["pcc_mean"] for row in rows}


def margin(scores, baseline: str, width, baselines) -> float:
    """The model's PCC minus ``baseline``'s (``best``: the best of ``baselines``) at ``width``."""
    if baseline == "best":
        return scores[("model", width)] - max(scores[(name, width)] for name in baselines)
    return scores[("model", width)] - scores[(baseline, width)]


def held_out_recordings(run: Path, stage: str = "detector") -> list[Path]:
    """The run's files of ``stage`` (detector recordings, or peaks) of validation- and test-split particles, in
    path order (the splits of the run's config, schema defaults filled in, as the workflow draws them)."""
    from recipe import validated_config

    from braggsynth.data.dataset import source_id, split_of

    config = validated_config(run / "config.yaml")
    fractions = config["dataset"]["split_fractions"]
    return [path for path in sorted((run / "results" / stage).glob("*/*/*.h5"))
            if split_of(source_id(path.parents[1].name, path.stem.split("_")[0]), config["seed"], fractions) != "train"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="run folder with config.yaml and results/detector/")
    parser.add_argument("--measured", nargs="+", required=True, metavar="INTENSITY.h5")
    parser.add_argument("--model", help="model (.keras; default the shipped one)")
    parser.add_argument("--flux-ratio", type=float, default=3.0,
                        help="recordings within this factor of the file's peak")
    parser.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE",
                        help="record the held-out peaks again with these detector settings changed")
    parser.add_argument("--patterns", type=int, help="the first N held-out recordings (or peaks) only")
    parser.add_argument("--baselines", nargs="+", help="baselines scored (default every one but zero)")
    parser.add_argument("--half", choices=("scored", "fit"), default="scored",
                        help="the measured files' half scored: fit, the half a recipe may be chosen on (the rocking "
                             "axis flipped, a symmetry of the task; a model trained with the file's patches saw it)")
    parser.add_argument("--out", type=Path, help="also write the table and per-recording figures (markdown)")
    args = parser.parse_args()

    from recipe import measured_name
    from tqdm import tqdm

    from braggsynth import inpaint, io
    from braggsynth.learn import model as keras_model
    from braggsynth.report import evaluate
    from braggsynth.report.realism import percentile_of
    from braggsynth.score.baselines import BASELINES
    from braggsynth.simulate import gaps

    model = keras_model.load_model(args.model)
    widest = keras_model.patch_size_of(model) - 2 * inpaint.MIN_CONTEXT_PX  # wider own gaps (EIGER's 38 px): skipped
    baselines = list(dict.fromkeys(["smoothed_linear", *(args.baselines or [b for b in BASELINES if b != "zero"])]))
    widths = (3, 6, 9, 12, "all")
    files = {}
    for path in args.measured:
        intensity, unmeasured = io.read_measured(path)
        if args.half == "fit":
            intensity, unmeasured = intensity[::-1], None if unmeasured is None else unmeasured[::-1]
        name = measured_name(path)
        volumes = evaluate.measured_volumes(intensity, name=name, offsets_px=(0,), excluded=unmeasured)
        files[name] = {"peak": peak_counts(intensity),
                       "scores": margins(volumes, model, baselines)}
    lowest = min(f["peak"] for f in files.values()) / args.flux_ratio
    highest = max(f["peak"] for f in files.values()) * args.flux_ratio
    recordings = []
    with tempfile.TemporaryDirectory() as folder:
        if args.set:
            from recipe import detector_settings, record_peak

            settings, seed = detector_settings(args.run / "config.yaml", args.set)
            print(f"held-out peaks recorded with {settings}", flush=True)
            peaks = held_out_recordings(args.run, "peaks")[:args.patterns]
            paths = [record_peak(peak, settings, seed, Path(folder))
                     for peak in tqdm(peaks, desc="record", unit="peak")]
        else:
            paths = held_out_recordings(args.run)[:args.patterns]
        for path in tqdm(paths, desc="recordings", unit="file"):
            recording = io.read_detector_pattern(path)
            counts = recording["counts"].astype(np.float64)
            peak = peak_counts(counts)
            if not lowest <= peak <= highest or gaps.gap_width_px(recording["mask"]) > widest:
                continue
            volumes = evaluate.measured_volumes(counts, name=path.stem, offsets_px=(0,),
                                                excluded=recording["mask"] | recording["bad"])
            recordings.append({"name": f"{path.parents[1].name}/{path.stem}", "peak": peak,
                               "scores": margins(volumes, model, baselines)})

    lines = [f"Model `{args.model or 'shipped'}`; recordings: held-out splits of `{args.run}`"
             + (f", recorded again with {' '.join(args.set)}" if args.set else "")
             + ("; the measured files' fit half" if args.half == "fit" else "") + ", peak within "
             f"{args.flux_ratio:g}x of each file's. Margin: model minus baseline, mean PCC of normalised log(I + 1) "
             "over the gap (gap planes through the maximum, both orientations, the scored half).", "",
             "| file (peak counts) | recordings | baseline | width | file's margin | recordings' margin: median "
             "(10-90 %) | model behind in | file's percentile |", "|---|---:|---|---|---:|---|---:|---:|"]
    for name, found in files.items():
        near = [r for r in recordings
                if found["peak"] / args.flux_ratio <= r["peak"] <= found["peak"] * args.flux_ratio]
        if not near:
            lines.append(f"| {name} ({found['peak']:.3g}) | 0 | - | - | - | - | - | - |")
            continue
        for baseline in ("smoothed_linear", "best"):
            for width in widths:
                population = [margin(r["scores"], baseline, width, baselines) for r in near]
                population = [value for value in population if np.isfinite(value)]  # a gap of zeros has no PCC
                mine = margin(found["scores"], baseline, width, baselines)
                low, mid, high = np.percentile(population, [10, 50, 90])
                behind = sum(value < 0 for value in population)
                lines.append(f"| {name} ({found['peak']:.3g}) | {len(population)} | {baseline} | {width} | "
                             f"{mine:+.4f} | {mid:+.4f} ({low:+.4f} to {high:+.4f}) | {behind} of {len(population)} | "
                             f"{percentile_of(mine, population):.0f} % |")
    lines += ["", "| recording | peak | " + " | ".join(f"model - smoothed_linear, {w}" for w in widths) + " |",
              "|---|---:|" + "---:|" * len(widths)]
    for r in recordings:
        lines.append(f"| {r['name']} | {r['peak']:.3g} | " + " | ".join(
            f"{r['scores'][('model', w)] - r['scores'][('smoothed_linear', w)]:+.4f}" for w in widths) + " |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
