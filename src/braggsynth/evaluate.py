"""Evaluation of gap inpainting: the model against classic baselines, on test patches and whole patterns.

Metrics, computed over the gap voxels only, in the normalised log space of
:func:`braggsynth.patches.normalise` (log(I + 1) min-max scaled on the
measured voxels; an affine map of log(I + 1), so the PCC is that of
log(I + 1)):

- ``pcc``: Pearson correlation coefficient of prediction and truth (Masto et
  al. report it per gap width); NaN when either is constant in the gap (zero
  fill);
- ``ssim``: the 3D SSIM map of the filled patch against the truth (Gaussian
  window 11^3, sigma 1.5, data range 1; :func:`braggsynth.model.ssim_map`)
  averaged over the gap voxels at least 5 voxels from the border;
- ``mae``: mean absolute error (normalised units; 1 = the range of log(I + 1)
  over the measured voxels).

Each is computed per patch (per volume) and averaged over the patches of one
gap width.

Baselines, all working on the normalised log values (interpolating
log(I + 1), which follows the fringes far better than intensities do):

- ``zero``: the gap left at 0 (the input as the network sees it);
- ``linear``: 1D linear interpolation across the gap along its normal
  (y and x; a cross is filled in two passes, see :func:`linear_fill`);
- ``biharmonic``: scikit-image ``inpaint_biharmonic`` on each detector frame
  (2D slices normal to z), which handles a cross as one 2D region.
"""

from __future__ import annotations

import csv
import logging
import time
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from . import io, patches

log = logging.getLogger("braggsynth.evaluate")

BASELINES = ("zero", "linear", "biharmonic")
METRICS = ("pcc", "ssim", "mae")


# --------------------------------------------------------------------------- baselines


def zero_fill(volume, mask) -> np.ndarray:
    """The volume with its gap voxels set to 0 (float32)."""
    return np.where(np.asarray(mask, dtype=bool), 0.0, volume).astype(np.float32)


def _interpolate_along(values, known, axis):
    """Linear interpolation along ``axis`` between the nearest known voxels on either side (NaN where one lacks)."""
    values = np.moveaxis(values, axis, -1)
    known = np.moveaxis(known, axis, -1)
    n = values.shape[-1]
    index = np.broadcast_to(np.arange(n), values.shape)
    before = np.maximum.accumulate(np.where(known, index, -1), axis=-1)
    after = np.flip(np.minimum.accumulate(np.flip(np.where(known, index, n), axis=-1), axis=-1), axis=-1)
    ok = ~known & (before >= 0) & (after < n)
    low = np.take_along_axis(values, np.clip(before, 0, n - 1), axis=-1)
    high = np.take_along_axis(values, np.clip(after, 0, n - 1), axis=-1)
    span = np.maximum(after - before, 1)
    result = np.where(ok, low + (high - low) * (index - before) / span, np.nan)
    one_sided = ~known & ~ok & ((before >= 0) | (after < n))
    nearest = np.where(before >= 0, low, high)
    return np.moveaxis(result, -1, axis), np.moveaxis(np.where(one_sided, nearest, np.nan), -1, axis)


def linear_fill(volume, mask, axes=(1, 2)) -> np.ndarray:
    """1D linear interpolation across the gap, along the gap normals (float64).

    Each pass fills, along each of ``axes``, the gap voxels that have a known
    voxel on both sides on that axis (known: measured, or filled by an
    earlier pass), by linear interpolation between the two nearest; a voxel
    fillable along several axes in one pass takes the mean.  For a plane gap
    normal to y one pass along y does it; for a cross the arms come first and
    the crossing (whose lines along y and x are all gap) second, from the
    filled arms.  Voxels with a known voxel on one side only (a gap at the
    volume's edge) take the nearest known value; any left get the mean of
    the measured voxels.

    Parameters
    ----------
    volume : (z, y, x) array; values in the gap are ignored.
    mask : (z, y, x) bool, True in the gap.
    axes : axes to interpolate along (default y and x, the detector plane:
        gaps are planes through all z).
    """
    mask = np.asarray(mask, dtype=bool)
    filled = np.where(mask, 0.0, np.asarray(volume, dtype=np.float64))
    known = ~mask
    if not known.any():
        return filled
    for sides in ("both", "one"):
        while not known.all():
            total = np.zeros_like(filled)
            count = np.zeros(filled.shape, dtype=np.int64)
            for axis in axes:
                both, one = _interpolate_along(filled, known, axis)
                candidate = both if sides == "both" else one
                found = ~np.isnan(candidate)
                total[found] += candidate[found]
                count[found] += 1
            new = count > 0
            if not new.any():
                break
            filled[new] = total[new] / count[new]
            known |= new
    filled[~known] = filled[~mask].mean()
    return filled


def biharmonic_fill(volume, mask) -> np.ndarray:
    """scikit-image ``inpaint_biharmonic`` on each z slice (detector frame) with a gap (float64)."""
    from skimage.restoration import inpaint_biharmonic

    mask = np.asarray(mask, dtype=bool)
    filled = np.where(mask, 0.0, np.asarray(volume, dtype=np.float64))
    for z in range(filled.shape[0]):
        frame_mask = mask[z]
        if frame_mask.any() and not frame_mask.all():
            filled[z] = inpaint_biharmonic(filled[z], frame_mask)
    return filled


_BASELINE_FUNCTIONS = {"zero": zero_fill, "linear": linear_fill, "biharmonic": biharmonic_fill}


def baseline_fill(method: str, volume, mask) -> np.ndarray:
    """Fill the gap of ``volume`` with a classic baseline ("zero", "linear" or "biharmonic")."""
    try:
        return _BASELINE_FUNCTIONS[method](volume, mask)
    except KeyError:
        raise ValueError(f"unknown baseline {method!r}; expected one of {', '.join(BASELINES)}") from None


# --------------------------------------------------------------------------- metrics


def pcc(prediction, truth, mask) -> float:
    """Pearson correlation of ``prediction`` and ``truth`` over the voxels of ``mask`` (NaN if either is constant)."""
    mask = np.asarray(mask, dtype=bool)
    a = np.asarray(prediction, dtype=np.float64)[mask]
    b = np.asarray(truth, dtype=np.float64)[mask]
    a, b = a - a.mean(), b - b.mean()
    norm = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / norm) if norm > 0 else float("nan")


def gap_metrics(predictions, truths, masks) -> dict:
    """PCC, SSIM and MAE over the gap of each of a batch of patches or volumes (normalised log space).

    Parameters
    ----------
    predictions, truths : (b, z, y, x) arrays, filled and true volumes.
    masks : (b, z, y, x) bool, True in the gap.

    Returns
    -------
    dict metric -> float64 (b,) array.
    """
    from keras import ops

    from .model import SSIM_WINDOW, ssim_map

    predictions = np.asarray(predictions, dtype=np.float32)
    truths = np.asarray(truths, dtype=np.float32)
    masks = np.asarray(masks, dtype=bool)
    local = ops.convert_to_numpy(ssim_map(predictions[..., None], truths[..., None]))[..., 0]
    border = (SSIM_WINDOW - 1) // 2
    inner = masks[:, border:-border, border:-border, border:-border]
    out = {"pcc": np.empty(len(masks)), "ssim": np.empty(len(masks)), "mae": np.empty(len(masks))}
    for i, mask in enumerate(masks):
        out["pcc"][i] = pcc(predictions[i], truths[i], mask)
        out["ssim"][i] = local[i][inner[i]].mean() if inner[i].any() else np.nan
        error = np.abs(predictions[i][mask].astype(np.float64) - truths[i][mask])
        out["mae"][i] = error.mean() if mask.any() else np.nan
    return out


def _summarise(scores: dict, widths: np.ndarray, seconds: dict, scope: str) -> list[dict]:
    rows = []
    groups = [(int(w), widths == w) for w in np.unique(widths)] + [("all", np.ones(widths.size, dtype=bool))]
    for method, metrics in scores.items():
        for width, selected in groups:
            row = {"scope": scope, "gap_width_px": width, "method": method, "patches": int(selected.sum())}
            for name in METRICS:
                values = np.asarray(metrics[name])[selected]
                finite = values[np.isfinite(values)]
                row[f"{name}_mean"] = float(finite.mean()) if finite.size else float("nan")
                row[f"{name}_std"] = float(finite.std()) if finite.size else float("nan")
            row["seconds_per_patch"] = seconds[method] / max(widths.size, 1)
            rows.append(row)
    return rows


# --------------------------------------------------------------------------- evaluation runs


def evaluate_patches(dataset_path, model, *, split: str = "test", batch_size: int = 32, baselines=BASELINES,
                     gap_widths=None, max_patches: int | None = None, progress: bool = True) -> list[dict]:
    """Evaluate the model and the baselines on the patches of one split, streamed in batches.

    Parameters
    ----------
    dataset_path : HDF5 patch dataset (:mod:`braggsynth.dataset` layout).
    model : Keras model (or path to one, see :func:`braggsynth.model.load_model`), or None for baselines only.
    split : "test" (default), "validation" or "train".
    batch_size : patches per model call.
    baselines : names from :data:`BASELINES`.
    gap_widths : optional collection of int, only patches of these widths.
    max_patches : evaluate at most the first this many patches.
    progress : show a progress bar.

    Returns
    -------
    list of dict, one per (method, gap width) and per method over all widths
    (``gap_width_px`` = "all"): ``scope``, ``gap_width_px``, ``method``,
    ``patches``, ``pcc_mean``, ``pcc_std``, ``ssim_mean``, ``ssim_std``,
    ``mae_mean``, ``mae_std``, ``seconds_per_patch``.
    """
    from .model import PatchBatches, load_model, model_inputs

    if isinstance(model, (str, Path)):
        model = load_model(model)
    methods = (["model"] if model is not None else []) + list(baselines)
    for method in baselines:
        if method not in BASELINES:
            raise ValueError(f"unknown baseline {method!r}; expected one of {', '.join(BASELINES)}")
    data = PatchBatches(dataset_path, split, batch_size, gap_widths=gap_widths)
    total = data.indices.size if max_patches is None else min(int(max_patches), data.indices.size)
    scores = {method: {name: [] for name in METRICS} for method in methods}
    seconds = dict.fromkeys(methods, 0.0)
    try:
        bar = tqdm(total=total, unit="patch", desc=f"evaluating {split}", disable=not progress)
        for first in range(0, total, batch_size):
            inputs, masks, targets = data.read(data.indices[first:min(first + batch_size, total)])
            for method in methods:
                start = time.perf_counter()
                if method == "model":
                    filled = np.asarray(model.predict_on_batch(model_inputs(inputs, masks)))[..., 0]
                else:
                    filled = np.stack([baseline_fill(method, x, m) for x, m in zip(inputs, masks)])
                seconds[method] += time.perf_counter() - start
                for name, values in gap_metrics(filled, targets, masks).items():
                    scores[method][name].extend(values)
            bar.update(len(inputs))
        bar.close()
    finally:
        data.close()
    return _summarise(scores, data.gap_width_px[:total], seconds, f"{split} patches")


def evaluate_volumes(volumes, model, *, baselines=BASELINES, stride: int | None = None, batch_size: int = 32,
                     progress: bool = True) -> tuple[list[dict], dict]:
    """Evaluate the model (through :func:`braggsynth.inpaint.inpaint`) and the baselines on whole patterns.

    Parameters
    ----------
    volumes : iterable of dict with ``name``, ``intensity`` (z, y, x) the
        truth (photons), ``gap_mask`` (z, y, x) bool, and optionally
        ``gap_width_px``.  The gapped input is the truth with its gap removed.
    model : Keras model or path, or None for baselines only.
    baselines, stride, batch_size, progress : as in :func:`evaluate_patches`
        and :func:`braggsynth.inpaint.inpaint`.

    Returns
    -------
    rows : list of dict per (volume, method): ``scope`` "volume", ``volume``,
        ``gap_width_px``, ``method``, ``pcc``, ``ssim``, ``mae``, ``seconds``;
        metrics in the normalised log space of the whole volume
        (:func:`braggsynth.patches.scale` with the bounds of its measured voxels).
    example : dict for :func:`write_report`'s figure, from the first volume:
        ``truth``, ``gapped``, ``mask`` and ``predictions`` {method: intensity}.
    """
    from .inpaint import inpaint
    from .model import load_model

    if isinstance(model, (str, Path)):
        model = load_model(model)
    rows, example = [], None
    for volume in volumes:
        truth = np.asarray(volume["intensity"], dtype=np.float64)
        mask = np.asarray(volume["gap_mask"], dtype=bool)
        _, (low, high) = patches.normalise(truth, mask)
        truth_scaled = patches.scale(truth, low, high)
        gapped = np.where(mask, 0.0, truth)
        predictions = {}
        for method in (["model"] if model is not None else []) + list(baselines):
            start = time.perf_counter()
            if method == "model":
                filled = inpaint(gapped, mask, model, stride=stride, batch_size=batch_size, progress=progress)
            else:
                filled = np.expm1(baseline_fill(method, np.log1p(gapped), mask))
            seconds = time.perf_counter() - start
            predictions[method] = filled
            metrics = gap_metrics(patches.scale(filled, low, high)[None], truth_scaled[None], mask[None])
            rows.append({"scope": "volume", "volume": str(volume.get("name", len(rows))),
                         "gap_width_px": volume.get("gap_width_px", ""), "method": method,
                         **{name: float(values[0]) for name, values in metrics.items()}, "seconds": seconds})
        if example is None:
            example = {"truth": truth, "gapped": gapped, "mask": mask, "predictions": predictions,
                       "title": str(volume.get("name", ""))}
    return rows, example


def example_patch(dataset_path, model, *, split: str = "test", index: int = 0, baselines=BASELINES) -> dict:
    """One patch with the model's and the baselines' fills, for :func:`write_report`'s figure (normalised values)."""
    from .model import PatchBatches, load_model, model_inputs

    if isinstance(model, (str, Path)):
        model = load_model(model)
    data = PatchBatches(dataset_path, split, 1)
    try:
        inputs, masks, targets = data.read([int(data.indices[index])])
    finally:
        data.close()
    predictions = {}
    if model is not None:
        predictions["model"] = np.asarray(model.predict_on_batch(model_inputs(inputs, masks)))[0, ..., 0]
    for method in baselines:
        predictions[method] = baseline_fill(method, inputs[0], masks[0])
    return {"truth": targets[0], "gapped": inputs[0], "mask": masks[0], "predictions": predictions,
            "title": f"{split} patch {index}", "log_scale": False}


# --------------------------------------------------------------------------- report


def best_baseline(rows, metric: str = "pcc") -> str | None:
    """The baseline with the highest mean ``metric`` (PCC; SSIM where the PCC is undefined).

    ``rows`` are those of :func:`evaluate_patches` (their "all" widths rows)
    or of :func:`evaluate_volumes` (averaged over the volumes).
    """
    values = {}
    for row in rows:
        if row["method"] not in BASELINES:
            continue
        if f"{metric}_mean" in row:
            if row.get("gap_width_px") != "all":
                continue
            score, fallback = row[f"{metric}_mean"], row.get("ssim_mean", np.nan)
        else:
            score, fallback = row.get(metric, np.nan), row.get("ssim", np.nan)
        values.setdefault(row["method"], []).append(score if np.isfinite(score) else fallback - 10.0)
    scores = {method: float(np.mean(v)) for method, v in values.items() if np.all(np.isfinite(v))}
    return max(scores, key=scores.get) if scores else None


def _cell(value) -> str:
    if isinstance(value, float):
        return "n/a" if not np.isfinite(value) else f"{value:.4f}"
    return str(value)


def report_markdown(patch_rows, volume_rows=(), *, figure_name: str | None = None,
                    title: str = "Gap inpainting") -> str:
    """Markdown report: per gap width, each method's mean ± std of PCC, SSIM and MAE; then whole volumes."""
    lines = [f"# {title}", "",
             "Metrics over the gap voxels in normalised log(I + 1) space; PCC and SSIM higher is better, MAE lower. "
             "Baselines: zero fill, 1D linear across the gap, biharmonic per detector frame.", ""]
    if patch_rows:
        scope = patch_rows[0]["scope"]
        lines += [f"## {scope.capitalize()}", "",
                  "| gap (px) | method | patches | PCC | SSIM | MAE | ms/patch |", "|---|---|---:|---:|---:|---:|---:|"]
        for row in patch_rows:
            lines.append(
                f"| {row['gap_width_px']} | {row['method']} | {row['patches']} | "
                + " | ".join(f"{_cell(row[f'{m}_mean'])} ± {_cell(row[f'{m}_std'])}" if np.isfinite(row[f"{m}_mean"])
                             else "n/a" for m in METRICS)
                + f" | {1000 * row['seconds_per_patch']:.1f} |")
    if volume_rows:
        lines += ([] if lines[-1] == "" else [""]) + [
            "## Whole patterns", "", "| volume | gap (px) | method | PCC | SSIM | MAE | seconds |",
            "|---|---|---|---:|---:|---:|---:|"]
        for row in volume_rows:
            lines.append(f"| {row['volume']} | {row['gap_width_px']} | {row['method']} | "
                         + " | ".join(_cell(row[m]) for m in METRICS) + f" | {row['seconds']:.2f} |")
    if figure_name:
        lines += ["", f"![central slices: truth, gapped, model, best baseline, error]({figure_name})"]
    return "\n".join(lines) + "\n"


def write_report(markdown_path, csv_path, figure_path=None, *, patch_rows=(), volume_rows=(), example=None,
                 title: str = "Gap inpainting") -> None:
    """Write the evaluation report: Markdown tables, a CSV of every number, and a figure.

    Parameters
    ----------
    markdown_path, csv_path : files to write (atomically).
    figure_path : PNG of the central slices of ``example`` (truth, gapped,
        model, best baseline, error); skipped when None or no example.
    patch_rows : rows of :func:`evaluate_patches`.
    volume_rows : rows of :func:`evaluate_volumes`.
    example : dict of :func:`example_patch` or :func:`evaluate_volumes`.
    """
    from .figures import inpainting_slices

    patch_rows, volume_rows = list(patch_rows), list(volume_rows)
    figure_written = False
    if figure_path is not None and example is not None:
        best = (best_baseline(patch_rows) or best_baseline(volume_rows)
                or next((m for m in BASELINES if m in example["predictions"]), None))
        shown = [(name, example["predictions"][name]) for name in ("model", best) if name in example["predictions"]]
        inpainting_slices(example["truth"], example["gapped"], shown, example["mask"], figure_path,
                          log_scale=example.get("log_scale", True),
                          title=f"{example.get('title', '')}: model and best baseline ({best})")
        figure_written = True
    text = report_markdown(patch_rows, volume_rows, title=title,
                           figure_name=Path(figure_path).name if figure_written else None)
    with io.atomic_path(markdown_path) as tmp:
        Path(tmp).write_text(text)
    columns = []
    for row in patch_rows + volume_rows:
        columns += [key for key in row if key not in columns]
    with io.atomic_path(csv_path) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(patch_rows + volume_rows)


def evaluate(dataset_path, model_path, output_dir, *, volumes=(), batch_size: int = 32, max_patches=None,
             stride: int | None = None, gap_widths=None, progress: bool = True) -> dict:
    """Evaluate a trained model on the test split (and on whole patterns) and write the report.

    Writes ``report.md``, ``metrics.csv`` and ``slices.png`` to
    ``output_dir``; returns {"patches": rows, "volumes": rows}.  See
    :func:`evaluate_patches` (``gap_widths`` filters the test patches) and
    :func:`evaluate_volumes`.
    """
    from .model import load_model

    model = load_model(model_path) if model_path is not None else None
    output_dir = Path(output_dir)
    patch_rows = evaluate_patches(dataset_path, model, batch_size=batch_size, max_patches=max_patches,
                                  gap_widths=gap_widths, progress=progress)
    volume_rows, example = evaluate_volumes(volumes, model, stride=stride, batch_size=batch_size, progress=progress)
    if example is None:
        example = example_patch(dataset_path, model)
    write_report(output_dir / "report.md", output_dir / "metrics.csv", output_dir / "slices.png",
                 patch_rows=patch_rows, volume_rows=volume_rows, example=example,
                 title=f"Gap inpainting: {Path(model_path).name if model_path else 'baselines'} "
                       f"on {Path(dataset_path).name}")
    return {"patches": patch_rows, "volumes": volume_rows}
