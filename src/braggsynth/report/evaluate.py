"""Evaluation of gap inpainting: models against every classic baseline, in one run, on data none of them saw.

Four protocols, each giving rows of mean ± std scores per gap width and method
(:mod:`braggsynth.score.metrics`: PCC, SSIM and MAE over the scored gap voxels, in
normalised log(I + 1) space):

- :func:`evaluate_patches`: the test split's patches, scored against the
  photon counts and against the expected counts of the simulation (the
  noise-free truth: Poisson noise inside a gap is unpredictable by any
  method and caps every score against counts);
- :func:`evaluate_volumes`: whole held-out simulated patterns with their
  detector gaps, inpainted window by window (:func:`braggsynth.inpaint.inpaint`);
- :func:`measured_volumes`: a measured peak with artificial gap planes of
  each width through its signal at several offsets, inpainted whole; only
  gap voxels of the half of the file that training never used
  (:func:`braggsynth.data.measured.scoring_region`) are scored;
- :func:`evaluate_crops`: the protocol of Masto et al. (2024): random 32^3
  crops of a measured peak (scaled to a maximum of 1e5 photons), a vertical
  gap through each crop's centre, PCC per crop averaged in 20 bins of the
  crops' mean log(I + 1), so our numbers sit beside their published ones.

:func:`calibrate_intervals` measures a model's intervals on the validation
split (:mod:`braggsynth.learn.uncertainty`) and their coverage on the test split.

Methods are the models given by name (e.g. ``model``: trained in this run,
``shipped``: the package's) and :data:`braggsynth.score.baselines.BASELINES`.
"""

from __future__ import annotations

import csv
import logging
import time
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from braggsynth import io
from braggsynth.data import measured, patches
from braggsynth.learn import uncertainty
from braggsynth.phase.phasing import GAP_FILL
from braggsynth.score import baselines, metrics
from braggsynth.score.baselines import BASELINES
from braggsynth.score.metrics import METRICS
from braggsynth.simulate.detector import gap_planes

log = logging.getLogger("braggsynth.report.evaluate")

#: Intensity maximum and number of mean-intensity bins of the published crop protocol.
CROP_MAX_COUNTS = 1.0e5
CROP_BINS = 20


def fill_batch(method: str, volumes, masks, models: dict) -> np.ndarray:
    """Fill the gaps of a batch (b, z, y, x) of normalised volumes with a model (by name) or a baseline."""
    if method in models:
        from braggsynth.learn.model import fill_patches

        return fill_patches(models[method], volumes, masks)
    return baselines.fill_batch(method, volumes, masks)


def fill_methods(methods, volumes, masks, models: dict) -> dict:
    """Every method's fill of one batch (b, z, y, x) of normalised volumes, with the seconds each took.

    A classic filler that is a baseline here and a model's prefill (``smoothed_linear``) is computed once;
    its seconds count for every method that used it, so each one's time is what it takes alone.

    Returns
    -------
    dict method -> (filled (b, z, y, x) float32, seconds).
    """
    from braggsynth.learn.model import fill_patches, prefill_of

    classic = {}  # filler -> (fill, seconds)

    def fill_classic(name):
        if name not in classic:
            start = time.perf_counter()
            classic[name] = baselines.fill_batch(name, volumes, masks), time.perf_counter() - start
        return classic[name]

    found = {}
    for method in methods:
        if method not in models:
            found[method] = fill_classic(method)
            continue
        prefilled, prefill_seconds = fill_classic(prefill_of(models[method]))
        start = time.perf_counter()
        filled = fill_patches(models[method], volumes, masks, prefilled=prefilled)
        found[method] = filled, prefill_seconds + time.perf_counter() - start
    return found


def _methods(models, chosen_baselines):
    for method in chosen_baselines:
        if method not in BASELINES:
            raise ValueError(f"unknown baseline {method!r}; expected one of {', '.join(BASELINES)}")
    return list(models) + list(chosen_baselines)


def summarise(scores: dict, widths, seconds: dict, scope: str) -> list[dict]:
    """Rows of mean and std per (method, gap width) and per method over all widths (``gap_width_px`` "all").

    ``scores`` maps method -> metric -> per-sample values; ``widths`` the
    samples' gap widths; ``seconds`` method -> total fill time.
    """
    widths = np.asarray(widths)
    rows = []
    groups = [(int(w), widths == w) for w in np.unique(widths)] + [("all", np.ones(widths.size, dtype=bool))]
    for method, values_of in scores.items():
        for width, selected in groups:
            row = {"scope": scope, "gap_width_px": width, "method": method, "samples": int(selected.sum())}
            for name in METRICS:
                values = np.asarray(values_of[name], dtype=np.float64)[selected]
                finite = values[np.isfinite(values)]
                row[f"{name}_mean"] = float(finite.mean()) if finite.size else float("nan")
                row[f"{name}_std"] = float(finite.std()) if finite.size else float("nan")
            row["seconds_per_sample"] = seconds[method] / max(widths.size, 1)
            rows.append(row)
    return rows


def evaluate_patches(dataset_path, models: dict, *, split: str = "test", batch_size: int = 64,
                     baselines=BASELINES, gap_widths=None, max_patches: int | None = None,
                     progress: bool = True) -> list[dict]:
    """Score the models and the baselines on the patches of one split, against counts and expected counts.

    Parameters
    ----------
    dataset_path
        HDF5 patch dataset (:mod:`braggsynth.data.dataset` layout).
    models
        dict name -> Keras model (may be empty: baselines only).
    split
        "test" (default), "validation" or "train".
    batch_size
        patches per step.
    baselines
        names from :data:`braggsynth.score.baselines.BASELINES`.
    gap_widths
        optional collection of int, only patches of these widths.
    max_patches
        evaluate at most this many patches, spread evenly over the split (:func:`evaluated_positions`).
    progress
        show a progress bar.

    Returns
    -------
    list of dict
        Rows of :func:`summarise` with scopes "<split> patches vs counts" and
        "<split> patches vs expected".
    """
    from braggsynth.learn.training import PatchBatches

    methods = _methods(models, baselines)
    data = PatchBatches(dataset_path, split, batch_size, gap_widths=gap_widths)
    chosen = evaluated_positions(data.indices.size, max_patches)
    total = chosen.size
    truths = {"counts": "target", "expected": "expected"}
    scores = {truth: {m: {name: [] for name in METRICS} for m in methods} for truth in truths}
    seconds = dict.fromkeys(methods, 0.0)
    try:
        bar = tqdm(total=total, unit="patch", desc=f"evaluating {split}", disable=not progress)
        for first in range(0, total, batch_size):
            rows = data.indices[chosen[first:first + batch_size]]
            inputs, masks, counts, expected = data.read(rows, ("input", "mask", "target", "expected"))
            for method, (filled, took) in fill_methods(methods, inputs, masks, models).items():
                seconds[method] += took
                for truth, values in (("counts", counts), ("expected", expected)):
                    for name, result in metrics.gap_metrics(filled, values, masks).items():
                        scores[truth][method][name].extend(result)
            bar.update(len(rows))
        bar.close()
    finally:
        data.close()
    widths = data.gap_width_px[chosen]
    return [row for truth in truths
            for row in summarise(scores[truth], widths, seconds, f"{split} patches vs {truth}")]


def evaluated_positions(count: int, max_patches: int | None = None) -> np.ndarray:
    """Positions (int, sorted) of the patches of a split of ``count`` to evaluate: all, or ``max_patches`` of them
    spaced evenly along it. A split stores its patches source after source, so its first patches would come from a
    few patterns, of a few fluxes, and say little about the rest."""
    if max_patches is not None and max_patches < 1:
        raise ValueError(f"max_patches must be at least 1, got {max_patches}")
    if max_patches is None or max_patches >= count:
        return np.arange(count)
    return (np.arange(int(max_patches)) * count) // int(max_patches)


def split_fills(dataset_path, model, *, split: str, batch_size: int = 64, max_patches: int | None = None):
    """(fills, truths, gaps) of a split's patches, (b, n, n, n): the model's fill and the counts, both
    normalised (:func:`braggsynth.data.patches.normalise`), and the gap masks."""
    from braggsynth.learn.training import PatchBatches

    data = PatchBatches(dataset_path, split, batch_size)
    chosen = evaluated_positions(data.indices.size, max_patches)
    found = ([], [], [])
    try:
        for first in range(0, chosen.size, batch_size):
            inputs, masks, counts = data.read(data.indices[chosen[first:first + batch_size]])
            for collected, values in zip(found, (fill_batch("model", inputs, masks, {"model": model}), counts, masks)):
                collected.append(values)
    finally:
        data.close()
    return tuple(np.concatenate(values) for values in found)


def calibrate_intervals(dataset_path, model, *, max_patches: int | None = None) -> dict:
    """The model's calibration on the validation split, with ``coverage_test``: the share of the test
    split's gap voxels inside each interval (:func:`braggsynth.learn.uncertainty.coverage`)."""
    calibration = uncertainty.calibrate(*split_fills(dataset_path, model, split="validation", max_patches=max_patches),
                                        source=f"{Path(dataset_path).name}, validation split")
    test = split_fills(dataset_path, model, split="test", max_patches=max_patches)
    coverage = uncertainty.coverage(calibration, *test)
    calibration["coverage_test"] = {str(level): value for level, value in coverage.items()}
    calibration["test_patches"] = int(len(test[0]))
    return calibration


def _fill_volume(method, gapped, mask, models, *, stride, batch_size, progress):
    """Intensity (photons) with the gap filled by a model (window by window), a baseline (in log space), or
    phase retrieval with the gap left free (:data:`braggsynth.phase.phasing.GAP_FILL`)."""
    if method == GAP_FILL:
        from braggsynth.phase.phasing import fill

        return fill(gapped, mask)
    if method in models:
        from braggsynth.inpaint import inpaint

        return inpaint(gapped, mask, models[method], stride=stride, batch_size=batch_size, progress=progress)
    return np.expm1(baselines.baseline_fill(method, np.log1p(gapped), mask))


def evaluate_volumes(volumes, models: dict, *, baselines=BASELINES, stride: int | None = None,
                     batch_size: int = 32, progress: bool = True,
                     phasing_fill: bool = False) -> tuple[list[dict], dict | None]:
    """Score the models (through :func:`braggsynth.inpaint.inpaint`) and the baselines on whole volumes.

    Parameters
    ----------
    volumes
        iterable of dict with ``scope`` (the table the volume belongs
        to), ``name``, ``gap_width_px``, ``intensity`` (z, y, x) the truth in
        photons, ``gap_mask`` (z, y, x) bool, and optionally ``expected``
        (z, y, x) noise-free truth (scored as a second scope "<scope> vs
        expected") and ``scored`` (z, y, x) bool, the gap voxels to score
        (default: the whole gap).  The gapped input is the truth with its
        gap removed.
    models
        dict name -> Keras model.
    baselines, stride, batch_size, progress
        as in :func:`evaluate_patches`
        and :func:`braggsynth.inpaint.inpaint`.
    phasing_fill
        also score the fill of phase retrieval with the gap left free
        (:data:`braggsynth.phase.phasing.GAP_FILL`; cohere-core, :data:`braggsynth.phase.phasing.DEFAULT_SEQUENCE`).

    Returns
    -------
    rows
        rows of :func:`summarise` per scope (one sample per volume).
    example
        the first volume with every fill, for :func:`write_report`'s figure.
    """
    methods = _methods(models, baselines) + ([GAP_FILL] if phasing_fill else [])
    collected = {}  # scope -> (scores, widths, seconds)
    example = None
    for volume in volumes:
        truth = np.asarray(volume["intensity"], dtype=np.float64)
        mask = np.asarray(volume["gap_mask"], dtype=bool)
        scored = np.asarray(volume.get("scored", mask), dtype=bool) & mask
        _, (low, high) = patches.normalise(truth, mask)
        truths = {volume["scope"]: patches.scale(truth, low, high)}
        if volume.get("expected") is not None:
            truths[f"{volume['scope']} vs expected"] = patches.scale(volume["expected"], low, high)
        gapped = np.where(mask, 0.0, truth)
        predictions = {}
        for method in methods:
            start = time.perf_counter()
            predictions[method] = _fill_volume(method, gapped, mask, models, stride=stride, batch_size=batch_size,
                                               progress=False)
            elapsed = time.perf_counter() - start
            filled = patches.scale(predictions[method], low, high)
            for scope, true_values in truths.items():
                scores, widths, seconds = collected.setdefault(
                    scope, ({m: {name: [] for name in METRICS} for m in methods}, [], dict.fromkeys(methods, 0.0)))
                for name, values in metrics.gap_metrics(filled[None], true_values[None], scored[None]).items():
                    scores[method][name].append(float(values[0]))
                seconds[method] += elapsed
        for scope in truths:
            collected[scope][1].append(int(volume["gap_width_px"]))
        if progress:
            log.info("%s: %s (%d px) done", volume["scope"], volume.get("name", ""), volume["gap_width_px"])
        if example is None:
            example = {"truth": truth, "gapped": gapped, "mask": mask, "predictions": predictions,
                       "title": f"{volume['scope']}: {volume.get('name', '')}"}
    rows = [row for scope, (scores, widths, seconds) in collected.items()
            for row in summarise(scores, widths, seconds, scope)]
    return rows, example


def peak_position(intensity) -> tuple[int, int, int]:
    """Voxel (z, y, x) of the maximum of the intensity smoothed over 3^3 voxels (a hot pixel is not a peak)."""
    from scipy.ndimage import uniform_filter

    smooth = uniform_filter(np.asarray(intensity, dtype=np.float64), size=3, mode="constant")
    return tuple(int(i) for i in np.unravel_index(np.argmax(smooth), smooth.shape))


def _window(centre: int, size: int, n: int) -> slice:
    start = int(np.clip(centre - size // 2, 0, max(n - size, 0)))
    return slice(start, min(start + size, n))


def peak_window(intensity, size: int, centre=None) -> tuple[slice, slice, slice]:
    """The (z, y, x) slices of the ``size``^3 cube around the intensity's maximum (:func:`peak_position`), or
    around ``centre`` (z, y, x) when given, shifted inwards at the edges and cut to the volume where it is
    smaller."""
    centre = peak_position(intensity) if centre is None else tuple(int(c) for c in centre)
    return tuple(_window(c, size, n) for c, n in zip(centre, np.shape(intensity)))


def measured_volumes(intensity, *, name: str, gap_widths_px=(3, 6, 9, 12), offsets_px=(-6, 0, 6),
                     box=(96, 96, 96), excluded=None) -> list[dict]:
    """Volumes for :func:`evaluate_volumes`: artificial gap planes through the signal of a measured peak.

    For each width, gap planes normal to x ("vertical") and to y
    ("horizontal") at each offset from the peak (:func:`peak_position`), in a
    box of ``box`` voxels around it that reaches at least 32 frames into the
    scored half of the rocking axis (:func:`braggsynth.data.measured.scoring_region`);
    only gap voxels of that half, measured in the file, are scored.

    Parameters
    ----------
    intensity
        (z, y, x) measured photons.
    name
        the file's name in the report.
    gap_widths_px, offsets_px
        widths and offsets (pixels) of the planes.
    box
        (z, y, x) size of the region inpainted (clipped to the volume).
    excluded
        optional (z, y, x) bool, voxels the file does not measure
        (never scored; they join the gap).
    """
    intensity = np.asarray(intensity, dtype=np.float64)
    n_z = intensity.shape[0]
    scoring = measured.scoring_region(intensity.shape)
    centre = peak_position(np.where(scoring, intensity, 0.0))
    first_scored = n_z // 2
    z_size = min(box[0], n_z)
    z_start = int(np.clip(first_scored - z_size // 3, 0, n_z - z_size))
    crop = (slice(z_start, z_start + z_size), _window(centre[1], box[1], intensity.shape[1]),
            _window(centre[2], box[2], intensity.shape[2]))
    truth = intensity[crop]
    unmeasured = np.zeros(truth.shape, dtype=bool) if excluded is None else np.asarray(excluded, dtype=bool)[crop]
    local_centre = (centre[1] - crop[1].start, centre[2] - crop[2].start)
    volumes = []
    for width in gap_widths_px:
        for orientation in ("vertical", "horizontal"):
            for offset in offsets_px:
                position = (local_centre[0] + (offset if orientation == "horizontal" else 0),
                            local_centre[1] + (offset if orientation == "vertical" else 0))
                gap = gap_planes(truth.shape, orientation, position, int(width))
                volumes.append({"scope": f"measured {name}", "name": f"{name} {orientation} {offset:+d} px",
                                "gap_width_px": int(width), "intensity": truth, "gap_mask": gap | unmeasured,
                                "scored": gap & ~unmeasured & scoring[crop]})
    return volumes


def wide_gap_volumes(simulated, measured_files, *, gap_widths_px=(38, 41), offsets_px=(0,), seed: int = 0,
                     offset_range_px=(-8, 8)) -> list[dict]:
    """Volumes for :func:`evaluate_volumes` with EIGER-like wide gaps: bands of rows through the peak.

    Each held-out simulated pattern of ``simulated`` (the dicts of
    :func:`evaluate_volumes`) gets, for each width, a horizontal gap (a band
    of rows, as between EIGER modules) centred on the frame's centre row
    shifted by an offset drawn uniformly in ``offset_range_px`` (seeded by
    ``seed``) in place of its detector gap (frames too small to keep
    measured rows on both sides of the widest offset gap are skipped); each
    measured file (name, intensity, mask or None) gets the gap planes of
    :func:`measured_volumes`.  Scopes end in "(wide gaps)".
    """
    from braggsynth.inpaint import MIN_CONTEXT_PX

    rng = np.random.default_rng((int(seed), 38))
    volumes = []
    for volume in simulated:
        shape = np.shape(volume["intensity"])
        for width in gap_widths_px:
            row = shape[1] // 2 + int(rng.integers(offset_range_px[0], offset_range_px[1], endpoint=True))
            if width + 2 * (MIN_CONTEXT_PX + max(map(abs, offset_range_px))) > shape[1]:
                continue  # the frame is too small for such a gap to leave measured rows on both sides
            volumes.append({**volume, "scope": f"{volume['scope']} (wide gaps)", "gap_width_px": int(width),
                            "gap_mask": gap_planes(shape, "horizontal", (row, 0), int(width))})
    for name, intensity, mask in measured_files:
        for volume in measured_volumes(intensity, name=name, gap_widths_px=gap_widths_px, offsets_px=offsets_px,
                                       excluded=mask):
            volumes.append({**volume, "scope": f"{volume['scope']} (wide gaps)"})
    return volumes


def evaluate_crops(intensity, models: dict, *, name: str, rng: np.random.Generator, crops: int = 1000,
                   gap_widths_px=(3, 6, 9, 12), baselines=BASELINES, patch_size: int = 32,
                   bins: int = CROP_BINS, excluded=None, progress: bool = True) -> list[dict]:
    """The crop protocol of Masto et al. (2024) on the scored half of a measured peak.

    ``crops`` random patch_size^3 crops lying wholly in
    :func:`braggsynth.data.measured.scoring_region` (and holding no ``excluded``
    voxel) of the intensity scaled to a maximum of 1e5 photons, each with a
    vertical gap (normal to x) through its centre for every width; crops
    whose gap holds no photon are redrawn.  Each method's PCC per crop (in
    log(I + 1), as normalised), averaged in ``bins`` equal-width bins of the
    crops' mean log(I + 1), then over the bins: the number the paper reports.

    Returns rows with ``scope`` "crops <name>", ``gap_width_px``, ``method``,
    ``samples`` (crops), ``pcc_binned`` (the protocol's number), and the
    plain means and stds of :func:`summarise`.
    """
    intensity = np.asarray(intensity, dtype=np.float64)
    scaled = intensity * (CROP_MAX_COUNTS / intensity.max())
    n_z = intensity.shape[0]
    allowed = measured.scoring_region(intensity.shape)
    if excluded is not None:
        allowed &= ~np.asarray(excluded, dtype=bool)
    free = patches.window_sums(~allowed, patch_size) < 0.5  # corners of crops holding only allowed voxels
    corners_all = np.argwhere(free)
    if corners_all.size == 0:
        raise ValueError(f"{name}: no {patch_size}^3 crop fits in the scored half (z >= {n_z // 2})")
    methods = _methods(models, baselines)
    rows = []
    for width in gap_widths_px:
        gap = patches.gap_through_centre(patch_size, int(width), "vertical")
        chosen, inputs, truths = [], [], []
        for _ in range(100 * crops):
            if len(chosen) == crops:
                break
            corner = corners_all[rng.integers(len(corners_all))]
            box = tuple(slice(c, c + patch_size) for c in corner)
            crop = scaled[box]
            if not np.any(crop[gap] >= 1.0) or not np.any(crop[~gap] > 0):
                continue
            x, (low, high) = patches.normalise(crop, gap)
            chosen.append(float(np.log1p(crop).mean()))
            inputs.append(x)
            truths.append(patches.scale(crop, low, high))
        if not chosen:
            raise ValueError(f"{name}: no crop with photons in a {width} px gap")
        inputs, truths = np.stack(inputs), np.stack(truths)
        masks = np.broadcast_to(gap, inputs.shape).copy()
        scores = {m: {metric: [] for metric in METRICS} for m in methods}
        seconds = dict.fromkeys(methods, 0.0)
        for i in tqdm(range(0, len(inputs), 64), desc=f"crops {name} {width} px", disable=not progress):
            chunk = slice(i, i + 64)
            for method, (filled, took) in fill_methods(methods, inputs[chunk], masks[chunk], models).items():
                seconds[method] += took
                for metric, values in metrics.gap_metrics(filled, truths[chunk], masks[chunk]).items():
                    scores[method][metric].extend(values)
        for row in summarise(scores, np.full(len(chosen), int(width)), seconds, f"crops {name}"):
            if row["gap_width_px"] == "all":
                continue
            row["pcc_binned"] = metrics.binned_mean(scores[row["method"]]["pcc"], chosen, bins)[2]
            rows.append(row)
    return rows


# --------------------------------------------------------------------------- report


def best_baseline(rows) -> str | None:
    """The baseline with the highest mean PCC over the widths of ``rows`` (None when there is none)."""
    values = {}
    for row in rows:
        if row["method"] in BASELINES and row["gap_width_px"] != "all" and np.isfinite(row["pcc_mean"]):
            values.setdefault(row["method"], []).append(row["pcc_mean"])
    scores = {method: float(np.mean(v)) for method, v in values.items()}
    return max(scores, key=scores.get) if scores else None


def _cell(mean, std=None) -> str:
    if not np.isfinite(mean):
        return "n/a"
    return f"{mean:.4f}" if std is None or not np.isfinite(std) else f"{mean:.4f} ± {std:.4f}"


def verdicts(rows, model_names) -> list[str]:
    """One line per (scope, width): each model's PCC against the best baseline's (the classic fills of
    :data:`~braggsynth.score.baselines.BASELINES` and, when scored, the phasing fill), and whether it is above."""
    lines = []
    by_scope = {}
    for row in rows:
        if row["gap_width_px"] != "all":
            by_scope.setdefault((row["scope"], row["gap_width_px"]), {})[row["method"]] = row
    for (scope, width), methods in by_scope.items():
        key = "pcc_binned" if any("pcc_binned" in r for r in methods.values()) else "pcc_mean"
        base = {m: r[key] for m, r in methods.items() if m in (*BASELINES, GAP_FILL) and np.isfinite(r[key])}
        if not base:
            continue
        best = max(base, key=base.get)
        for name in model_names:
            if name in methods:
                value = methods[name][key]
                verdict = "above" if value > base[best] else "NOT above"
                lines.append(f"| {scope} | {width} | {name} | {value:.4f} | {verdict} | {best} {base[best]:.4f} "
                             f"| {value - base[best]:+.4f} |")
    return lines


def report_markdown(rows, *, model_names=(), figure_name: str | None = None, title: str = "Gap inpainting",
                    notes=()) -> str:
    """Markdown report: the verdict table, then each scope's table of mean ± std scores per width and method."""
    lines = [f"# {title}", "",
             "Scores over the gap voxels in normalised log(I + 1) space; PCC and SSIM higher is better, MAE lower. "
             "Methods: " + ", ".join(f"`{m}`" for m in model_names) + (" (models), " if model_names else "")
             + "zero fill, 1D linear across the gap, linear from masked-Gaussian-smoothed voxels "
             "(`smoothed_linear`), biharmonic per detector frame.", ""]
    lines += [f"- {note}" for note in notes] + ([""] if notes else [])
    verdict_lines = verdicts(rows, model_names)
    if verdict_lines:
        lines += ["## Models against the best baseline (PCC)", "",
                  "| scope | gap (px) | model | PCC | | best baseline | difference |",
                  "|---|---:|---|---:|---|---|---:|",
                  *verdict_lines, ""]
    scopes = list(dict.fromkeys(row["scope"] for row in rows))
    for scope in scopes:
        chosen = [row for row in rows if row["scope"] == scope]
        binned = any("pcc_binned" in row for row in chosen)
        lines += [f"## {scope[0].upper() + scope[1:]}", ""]
        header = "| gap (px) | method | samples | " + ("PCC (20 bins) | " if binned else "") + \
            "PCC | SSIM | MAE | ms/sample |"
        lines += [header, "|---|---|---:|" + ("---:|" if binned else "") + "---:|---:|---:|---:|"]
        for row in chosen:
            cells = [_cell(row[f"{m}_mean"], row[f"{m}_std"]) for m in METRICS]
            lines.append(f"| {row['gap_width_px']} | {row['method']} | {row['samples']} | "
                         + (f"{_cell(row['pcc_binned'])} | " if binned else "")
                         + " | ".join(cells) + f" | {1000 * row['seconds_per_sample']:.1f} |")
        lines.append("")
    if figure_name:
        lines += [f"![central slices: truth, gapped, models, best baseline, error]({figure_name})", ""]
    return "\n".join(lines)


def write_report(markdown_path, csv_path, figure_path=None, *, rows=(), example=None, model_names=(),
                 title: str = "Gap inpainting", notes=()) -> None:
    """Write the evaluation report: Markdown, a CSV of every number, and a figure of ``example``.

    Parameters
    ----------
    markdown_path, csv_path
        files to write (atomically).
    figure_path
        PNG of the central slices of ``example`` (truth, gapped,
        each model, the best baseline, error of the first); skipped when None
        or no example.
    rows
        rows of the ``evaluate_*`` functions.
    example
        dict of :func:`evaluate_volumes`.
    model_names
        the models among the methods.
    notes
        lines printed under the title.
    """
    from braggsynth.figures import inpainting_slices

    rows = list(rows)
    figure_written = False
    if figure_path is not None and example is not None:
        best = best_baseline(rows) or "linear"
        shown = [(name, example["predictions"][name]) for name in (*model_names, best)
                 if name in example["predictions"]]
        inpainting_slices(example["truth"], example["gapped"], shown, example["mask"], figure_path,
                          title=f"{example.get('title', '')}: models and best baseline ({best})")
        figure_written = True
    text = report_markdown(rows, model_names=model_names, title=title, notes=notes,
                           figure_name=Path(figure_path).name if figure_written else None)
    with io.atomic_path(markdown_path) as tmp:
        Path(tmp).write_text(text)
    columns = []
    for row in rows:
        columns += [key for key in row if key not in columns]
    with io.atomic_path(csv_path) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(rows)


def evaluate(dataset_path, models: dict, output_dir, *, simulated=(), measured_files=(), max_patches=None,
             stride: int | None = None, gap_widths=None, offsets_px=(-6, 0, 6), crops: int = 1000,
             seed: int = 0, wide_models: dict | None = None, wide_gap_widths=(38, 41),
             measured_gap_widths=(3, 6, 9, 12), phasing_fill: bool = False, calibrations: dict | None = None,
             progress: bool = True) -> list[dict]:
    """Run every protocol and write ``report.md``, ``metrics.csv`` and ``slices.png`` to ``output_dir``.

    Parameters
    ----------
    dataset_path
        the patch dataset; its test split is scored (:func:`evaluate_patches`).
    models
        dict name -> Keras model.
    simulated
        volumes for :func:`evaluate_volumes` (held-out simulated patterns).
    measured_files
        iterable of (name, intensity, mask or None), each scored with
        :func:`measured_volumes` and :func:`evaluate_crops` (``crops`` per width; 0 skips).
    max_patches, gap_widths
        limit the test patches (``gap_widths`` also sets the
        widths of the measured files' gap planes, ``measured_gap_widths`` when None).
    stride
        window stride of whole-volume inpainting.
    offsets_px
        offsets of the artificial gap planes of measured files.
    seed
        seeds the crops and the wide gaps' offsets.
    wide_models
        dict name -> Keras model for wide gaps (e.g. the shipped
        64^3 one), scored with the baselines on :func:`wide_gap_volumes` of
        ``wide_gap_widths`` (none: skipped).
    phasing_fill
        also score, on the held-out ``simulated`` patterns, the fill of phase retrieval
        with the gap left free (:func:`evaluate_volumes`).
    calibrations
        dict model name -> JSON path: calibrate those models' intervals
        (:func:`calibrate_intervals`), write them there and report their coverage.

    Returns
    -------
    every row written to ``metrics.csv``.
    """
    output_dir = Path(output_dir)
    widths = tuple(measured_gap_widths) if gap_widths is None else tuple(gap_widths)
    rows = evaluate_patches(dataset_path, models, max_patches=max_patches, gap_widths=gap_widths, progress=progress)
    volumes = []
    for name, intensity, mask in measured_files:
        volumes += measured_volumes(intensity, name=name, gap_widths_px=widths, offsets_px=offsets_px,
                                    excluded=mask)
    example = None
    if simulated:
        simulated_rows, example = evaluate_volumes(simulated, models, stride=stride, progress=progress,
                                                   phasing_fill=phasing_fill)
        rows += simulated_rows
    if volumes:
        measured_rows, measured_example = evaluate_volumes(volumes, models, stride=stride, progress=progress)
        rows += measured_rows
        example = example or measured_example
    wide_models = dict(wide_models or {})
    if wide_models and wide_gap_widths:
        wide = wide_gap_volumes(simulated, measured_files, gap_widths_px=wide_gap_widths, offsets_px=offsets_px,
                                seed=seed)
        rows += evaluate_volumes(wide, wide_models, stride=stride, progress=progress)[0]
    crop_size = 32  # the published protocol's; a run of other patches crops at its model's size
    if crops and models:
        from braggsynth.learn.model import patch_size_of

        crop_size = patch_size_of(next(iter(models.values())))
    if crops:
        for index, (name, intensity, mask) in enumerate(measured_files):
            rng = np.random.default_rng((int(seed), index))
            rows += evaluate_crops(intensity, models, name=name, rng=rng, crops=crops, gap_widths_px=widths,
                                   patch_size=crop_size,
                                   excluded=mask, progress=progress)
    notes = ["`... vs counts`: scored against the photon counts; `... vs expected`: against the noise-free "
             "expected counts of the simulation.",
             "`measured <file>`: artificial gap planes (vertical and horizontal, offsets "
             + ", ".join(f"{o:+d}" for o in offsets_px) + " px from the peak) inpainted whole; only gap voxels "
             "of the half of the rocking axis that training never used (z >= n_z / 2) are scored.",
             f"`crops <file>`: the protocol of Masto et al. (2024) on that half: {crops} random {crop_size}^3 crops "
             "per width scaled to a maximum of 1e5 photons, a vertical gap through the centre, PCC averaged in 20 "
             "bins of mean log(I + 1) (their published figures: 0.9886 / 0.9767 / 0.9549 / 0.9463)."]
    for name, path in (calibrations or {}).items():
        calibration = calibrate_intervals(dataset_path, models[name], max_patches=max_patches)
        uncertainty.write_calibration(calibration, path)
        coverage = calibration["coverage_test"]
        notes.append(f"`{name}`: intervals calibrated on {calibration['patches']} validation patches "
                     f"(:mod:`braggsynth.learn.uncertainty`) hold the counts of {100 * coverage['0.68']:.1f} % of the "
                     f"{calibration['test_patches']} test patches' gap voxels at 68 % and {100 * coverage['0.95']:.1f} "
                     "% at 95 %.")
    if phasing_fill and simulated:
        from braggsynth.phase.phasing import DEFAULT_SEQUENCE, iterations

        notes.append(f"`{GAP_FILL}`: the held-out patterns phased with cohere-core (ER and HIO with shrink-wrap, "
                     f"{iterations(DEFAULT_SEQUENCE)} iterations) with their gap pixels left free; the "
                     "reconstruction's |F|^2, scaled to the measured pixels, fills the gap.")
    if wide_models and wide_gap_widths:
        notes.append("`... (wide gaps)`: EIGER-like module gaps of " + " and ".join(map(str, wide_gap_widths))
                     + " px (a band of rows through the peak, offset up to 8 px) filled by "
                     + ", ".join(f"`{name}`" for name in wide_models) + " (64^3 windows) and the baselines.")
    write_report(output_dir / "report.md", output_dir / "metrics.csv", output_dir / "slices.png", rows=rows,
                 example=example, model_names=list(models) + list(wide_models), notes=notes,
                 title=f"Gap inpainting on {Path(dataset_path).name}")
    return rows
