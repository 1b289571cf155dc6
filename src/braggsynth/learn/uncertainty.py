"""Calibrated intervals around an inpainting model's fill.

A model gives one value per gap voxel. How far the truth lies from it is measured, once, on patches the
model never trained on (a dataset's validation split): the residual r = x_true - x_fill in the normalised
log space of :func:`braggsynth.data.patches.normalise`, where the model works, binned by

- the voxel's *depth* in the gap, its distance (px) to the nearest measured voxel (:func:`gap_depth`): the
  middle of a wide gap is further from what the model sees than its edge;
- the fill's *level*, x_fill in [0, 1] of the window's measured range: Poisson noise weighs more, in log
  space, at low counts.

The *calibration* holds, per bin, the quantiles of r at 2.5, 16, 84 and 97.5 % (bins with fewer than
``min_voxels`` residuals use the quantiles of their depth over all levels, and those of all voxels when
the depth is thin too). The interval at level 0.68 (0.95) of a fill x is [x + q16, x + q84]
([x + q2.5, x + q97.5]); :func:`coverage` says how often the truth lands inside, on other patches.
:func:`braggsynth.inpaint.inpaint` brings the interval back to photons window by window.

Arrays are (z, y, x), or (b, z, y, x) batches of patches.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

#: Interval levels and the residual quantiles (fractions) that bound them.
LEVELS = {0.68: (0.16, 0.84), 0.95: (0.025, 0.975)}
#: The residual quantiles (fractions) of every level, sorted.
QUANTILES = tuple(sorted({q for pair in LEVELS.values() for q in pair}))
#: Lower edges of the depth bins, px (the last bin is open).
DEPTH_EDGES = (1, 2, 3, 4, 6, 9)
#: Lower edges of the level bins, normalised log space.
LEVEL_EDGES = (0.0, 0.2, 0.4, 0.6, 0.8)
MIN_VOXELS = 500


def gap_depth(gap) -> np.ndarray:
    """Distance (px, Euclidean, >= 1 in the gap, 0 outside) from each gap voxel to the nearest measured voxel
    of its (z, y, x) volume; a batch (b, z, y, x) is taken volume by volume."""
    from scipy.ndimage import distance_transform_edt

    gap = np.asarray(gap, dtype=bool)
    if gap.ndim == 4:
        return np.stack([gap_depth(g) for g in gap])
    if gap.all():
        return np.where(gap, float(max(gap.shape)), 0.0)
    return distance_transform_edt(gap)


def _bins(depth, level):
    depth_bin = np.clip(np.searchsorted(DEPTH_EDGES, depth, side="right") - 1, 0, len(DEPTH_EDGES) - 1)
    level_bin = np.clip(np.searchsorted(LEVEL_EDGES, level, side="right") - 1, 0, len(LEVEL_EDGES) - 1)
    return depth_bin, level_bin



def calibrate(fills, truths, gaps, *, min_voxels: int = MIN_VOXELS, source: str = "") -> dict:
    """Residual quantiles per (depth, level) bin (module docstring).

    Parameters
    ----------
    fills, truths
        (b, n, n, n) normalised patches (:func:`braggsynth.data.patches.normalise`), the model's fill
        and the truth (counts scaled alike).
    gaps
        (b, n, n, n) bool.
    min_voxels
        residuals a bin needs to stand on its own.
    source
        where the patches come from, recorded in the calibration.

    Returns
    -------
    dict
        JSON-ready: ``quantiles`` [depth bin][level bin] -> list of the residual at :data:`QUANTILES`,
        ``voxels`` per bin (before the fallback), the bin edges, ``patches`` and ``source``.
    """
    fills, truths, gaps = np.asarray(fills), np.asarray(truths), np.asarray(gaps, dtype=bool)
    depth = gap_depth(gaps)[gaps]
    level, residual = fills[gaps].astype(np.float64), (truths[gaps] - fills[gaps]).astype(np.float64)
    if residual.size == 0:
        raise ValueError("no gap voxels to calibrate on")
    depth_bin, level_bin = _bins(depth, level)
    overall = np.quantile(residual, QUANTILES).tolist()
    table, voxels = [], []
    for d in range(len(DEPTH_EDGES)):
        in_depth = depth_bin == d
        depth_quantiles = np.quantile(residual[in_depth], QUANTILES).tolist() if in_depth.sum() >= min_voxels \
            else overall
        row, counts = [], []
        for b in range(len(LEVEL_EDGES)):
            selected = in_depth & (level_bin == b)
            counts.append(int(selected.sum()))
            row.append(np.quantile(residual[selected], QUANTILES).tolist() if selected.sum() >= min_voxels
                       else depth_quantiles)
        table.append(row)
        voxels.append(counts)
    return {"space": "normalised log(I + 1)", "quantiles_at": list(QUANTILES), "depth_edges_px": list(DEPTH_EDGES),
            "level_edges": list(LEVEL_EDGES), "quantiles": table, "voxels": voxels, "min_voxels": int(min_voxels),
            "patches": int(len(fills)), "source": source}


def offsets(calibration: dict, depth, level, interval_level: float = 0.68) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) residual quantiles bounding the ``interval_level`` interval at each voxel of the given
    depth (px) and fill level (normalised), arrays of their shape."""
    if interval_level not in LEVELS:
        raise ValueError(f"interval level {interval_level}: expected one of {', '.join(map(str, LEVELS))}")
    table = np.asarray(calibration["quantiles"], dtype=np.float64)  # (depth, level, quantile)
    at = list(calibration["quantiles_at"])
    low_q, high_q = (at.index(q) for q in LEVELS[interval_level])
    depth_bin, level_bin = _bins(np.asarray(depth), np.asarray(level))
    return table[depth_bin, level_bin, low_q], table[depth_bin, level_bin, high_q]


def coverage(calibration: dict, fills, truths, gaps) -> dict:
    """Share of the gap voxels whose truth lies inside the interval, per level: {0.68: ..., 0.95: ...}."""
    fills, truths, gaps = np.asarray(fills), np.asarray(truths), np.asarray(gaps, dtype=bool)
    depth = gap_depth(gaps)[gaps]
    level, truth = fills[gaps].astype(np.float64), truths[gaps].astype(np.float64)
    found = {}
    for interval_level in LEVELS:
        low, high = offsets(calibration, depth, level, interval_level)
        found[interval_level] = float(np.mean((truth >= level + low) & (truth <= level + high)))
    return found


def write_calibration(calibration: dict, path) -> None:
    """Write a calibration (:func:`calibrate`'s dict) to ``path`` as JSON, atomically."""
    from braggsynth.io import atomic_path

    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(calibration, indent=1))


def read_calibration(path) -> dict:
    """A calibration written by :func:`write_calibration`; ValueError naming the file when it is not one."""
    path = Path(path)
    try:
        calibration = json.loads(path.read_text())
        table = np.asarray(calibration["quantiles"], dtype=np.float64)
        shape = (len(calibration["depth_edges_px"]), len(calibration["level_edges"]), len(calibration["quantiles_at"]))
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{path}: not a braggsynth calibration ({error})") from None
    if table.shape != shape or tuple(calibration["depth_edges_px"]) != DEPTH_EDGES \
            or tuple(calibration["level_edges"]) != LEVEL_EDGES:
        raise ValueError(f"{path}: calibration bins differ from this braggsynth's")
    return calibration
