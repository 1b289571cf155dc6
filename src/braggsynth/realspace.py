"""Does inpainting help the reconstruction? A held-out pattern is phased (:mod:`braggsynth.phasing`) in
versions that differ only in what the gap holds, and each reconstruction is compared with the true object.

Versions, for a gap plane of each width through the peak (normal to the detector columns, as a MAXIPIX
or EIGER chip gap):

- ``gap-free``: the recorded counts without any gap (the best any version can do);
- ``gap at zero``: the gap's pixels set to zero and forced to it, what a cohere user gets today;
- ``gap free``: the gap's pixels left free by the modulus step;
- ``<baseline>``: the gap filled by a classic baseline, then every pixel forced;
- ``<model>``: the gap filled by an inpainting model, then every pixel forced.

The true object is the transform of the exact complex amplitude of the relaxed atoms on the same grid
(:func:`braggsynth.phasing.true_object`). Each version is phased from ``starts`` random starts, so that a
difference between versions can be told from the spread of one version.
"""

from __future__ import annotations

import numpy as np
from tqdm.auto import tqdm

from . import metrics, phasing
from .evaluate import _fill_volume, _window, peak_position

GAP_FREE, GAP_ZERO, GAP_FREE_PIXELS = "gap-free", "gap at zero", "gap free"


def gap_plane(shape, centre: int, width: int) -> np.ndarray:
    """(z, y, x) bool mask of a plane of ``width`` columns (x) centred on column ``centre``."""
    mask = np.zeros(shape, bool)
    start = centre - width // 2
    mask[:, :, max(start, 0):start + width] = True
    return mask


def gap_pcc(filled, counts, gap) -> float:
    """PCC over the gap in log(I + 1), as the evaluation scores fills (:func:`braggsynth.metrics.pcc`)."""
    return metrics.pcc(np.log1p(np.clip(filled, 0, None)), np.log1p(counts), gap)


def versions(counts, gap, fills: dict) -> dict:
    """name -> (intensity, unknown pixels or None) of every version (module docstring); ``fills`` maps a
    method name to the counts with the gap filled by it."""
    counts = np.asarray(counts, dtype=np.float64)
    found = {GAP_FREE: (counts, None), GAP_ZERO: (np.where(gap, 0.0, counts), None), GAP_FREE_PIXELS: (counts, gap)}
    found.update({name: (np.asarray(filled, dtype=np.float64), None) for name, filled in fills.items()})
    return found


def real_space_check(counts, amplitude, models: dict, *, baseline: str, gap_widths_px=(6,), crop_px: int = 64,
                     starts: int = 2, seed: int = 0, sequence: str = phasing.DEFAULT_SEQUENCE,
                     name: str = "pattern", progress: bool = True, library: str = "np", device: int = -1):
    """Phase one pattern in every version and score each reconstruction against the true object.

    Parameters
    ----------
    counts : (z, y, x) recorded photon counts without gaps.
    amplitude : (z, y, x) complex exact amplitude on the same grid (the peak file's).
    models : name -> Keras model (or path) filling gaps (:func:`braggsynth.inpaint.inpaint`).
    baseline : the baseline that fills one version (:data:`braggsynth.baselines.BASELINES`).
    gap_widths_px : widths of the gap plane through the peak.
    crop_px : side of the cube around the peak that is phased.
    starts : random starts per version; start k of every version uses seed ``seed * 1000 + k``.
    library, device : cohere's array library and GPU id (:func:`braggsynth.phasing.phase`).

    Returns
    -------
    (rows, gap_rows, examples): one row per version, width and start (``pattern``, ``version``,
    ``gap_width_px``, ``start``, ``modulus_pcc``, ``phase_rms_rad``, ``error``); the reciprocal-space
    scores of the fills of the gap (``pattern``, ``method``, ``gap_width_px``, ``start``, ``pcc``: the
    baseline, each model, and :data:`braggsynth.phasing.GAP_FILL` per start); and, for the first width and start, the
    aligned reconstruction of each version with the true object under ``"true object"``.
    """
    counts = np.asarray(counts, dtype=np.float64)
    window = tuple(_window(c, crop_px, n) for c, n in zip(peak_position(counts), counts.shape))
    counts, amplitude = counts[window], np.asarray(amplitude)[window]
    truth = phasing.true_object(amplitude)
    centre = peak_position(counts)[2]
    rows, gap_rows, examples = [], [], {"true object": truth}
    for width in gap_widths_px:
        gap = gap_plane(counts.shape, centre, width)
        gapped = np.where(gap, 0.0, counts)
        fills = {method: _fill_volume(method, gapped, gap, models, stride=None, batch_size=16, progress=False)
                 for method in (baseline, *models)}
        chosen = versions(counts, gap, fills)
        gap_rows += [{"pattern": name, "method": method, "gap_width_px": int(width), "start": 0,
                      "pcc": gap_pcc(filled, counts, gap)} for method, filled in fills.items()]
        bar = tqdm(total=len(chosen) * starts, desc=f"phasing {name}, {width} px gap", disable=not progress)
        for version, (intensity, unknown) in chosen.items():
            for start in range(starts):
                obj, _, error = phasing.phase(intensity, unknown=unknown, seed=seed * 1000 + start, sequence=sequence,
                                              library=library, device=device)
                scores = phasing.compare(obj, truth)
                rows.append({"pattern": name, "version": version, "gap_width_px": int(width), "start": start,
                             "modulus_pcc": scores["modulus_pcc"], "phase_rms_rad": scores["phase_rms_rad"],
                             "error": float(error)})
                if version == GAP_FREE_PIXELS:
                    gap_rows.append({"pattern": name, "method": phasing.GAP_FILL, "gap_width_px": int(width),
                                     "start": start, "pcc": gap_pcc(phasing.gap_fill(obj, counts, gap), counts, gap)})
                if width == gap_widths_px[0] and start == 0:
                    examples[version] = phasing.align(obj, truth)
                bar.update()
        bar.close()
    return rows, gap_rows, examples


def summary(rows, key: str = "version", scores=("modulus_pcc", "phase_rms_rad")) -> list[dict]:
    """Mean and standard deviation of ``scores`` over starts and patterns per (``key``, width), in the
    order of ``rows``; ``samples`` counts them."""
    groups = {}
    for row in rows:
        groups.setdefault((row[key], row["gap_width_px"]), []).append(row)
    table = []
    for (value, width), members in groups.items():
        entry = {key: value, "gap_width_px": width, "samples": len(members)}
        for score in scores:
            values = np.array([r[score] for r in members], dtype=np.float64)
            entry |= {f"{score}_mean": float(values.mean()), f"{score}_std": float(values.std())}
        table.append(entry)
    return table


def report_markdown(table, gap_table, *, patterns, baseline: str, crop_px: int, sequence: str,
                    figure_name: str) -> str:
    """The real-space table and the reciprocal-space gap table as Markdown, with what was done."""
    lines = [
        "# Real-space check: does inpainting help the reconstruction?",
        "",
        f"Held-out patterns {', '.join(patterns)}, a {crop_px}^3 crop around the peak, phased with cohere-core "
        f"(`{sequence}`, shrink-wrap every 10 iterations) from several random starts per version. A gap plane "
        "through the peak holds zeros (`gap at zero`), is left free by the modulus constraint (`gap free`), or "
        f"is filled by `{baseline}` (the best baseline of this run's held-out patterns) or by a model. Each "
        "reconstruction is registered on the true object (the transform of the exact amplitude of the relaxed "
        "atoms: translation, twin, global phase and a linear phase ramp removed) and scored: correlation of "
        "the moduli (higher is better) and RMS phase error over the true support, radians (lower is better); "
        "mean ± standard deviation over the starts.",
        "",
        "| version | gap (px) | reconstructions | modulus PCC | phase RMS (rad) |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in table:
        lines.append(f"| {row['version']} | {row['gap_width_px']} | {row['samples']} | "
                     f"{row['modulus_pcc_mean']:.3f} ± {row['modulus_pcc_std']:.3f} | "
                     f"{row['phase_rms_rad_mean']:.3f} ± {row['phase_rms_rad_std']:.3f} |")
    lines += ["", f"![central slices]({figure_name})", "",
              "## The gap filled in reciprocal space (same crops and gaps)", "",
              f"PCC over the gap in log(I + 1) against the recorded counts, as the evaluation scores fills; "
              f"`{phasing.GAP_FILL}` is |F|^2 of each free-gap reconstruction, scaled to the measured pixels.", "",
              "| method | gap (px) | samples | gap PCC |", "|---|---:|---:|---:|"]
    for row in gap_table:
        lines.append(f"| {row['method']} | {row['gap_width_px']} | {row['samples']} | "
                     f"{row['pcc_mean']:.3f} ± {row['pcc_std']:.3f} |")
    lines.append("")
    return "\n".join(lines)
