"""Inpainting of whole measured volumes with the patch model.

The model fills one n^3 patch whose gap plane passes through its centre
(32^3 for the shipped model, 64^3 for the wide-gap one).  A volume of any
shape is filled window by window:

1. *Windows.*  Gap planes are found from the mask: along each axis, the
   planes of which at least half the voxels are gap; consecutive planes form a
   stripe.  For each stripe, windows are centred on it along its normal (the
   way training patches are, :func:`braggsynth.data.patches.gap_through_centre`)
   and placed every ``stride`` voxels along the other two axes, the last one
   flush with the volume's end; where two stripes cross, windows centred on
   both are added along the remaining axis.  Windows never stick out of the
   volume (near an edge they are shifted inwards, so the gap is off centre
   there).  Any gap voxel still uncovered (a partial stripe, a bad pixel) gets
   a window centred on it.  Every gap voxel is therefore covered.
2. *Normalisation.*  Each window is normalised on its own measured voxels
   with :func:`braggsynth.data.patches.normalise`, exactly as training patches.
3. *Prediction*, in batches.
4. *Blending.*  Predictions are brought back to log(I + 1) with
   :func:`braggsynth.data.patches.denormalise` and averaged, voxel by voxel, with
   the weight w(i) w(j) w(k), w(i) = sin^2(pi (i + 1/2) / n) of the voxel's
   position in each window (a Hann window that is never zero): neighbouring
   windows fade into one another instead of leaving seams at their borders.
   A window whose face cuts a stripe (fewer than ``MIN_CONTEXT_PX`` measured
   voxels between the stripe and a face that is not the volume's edge: the
   model sees one side of that gap only) gives no weight to that stripe's
   voxels; every stripe voxel is also in a window that holds its stripe(s)
   whole, which fills it.  The average is taken of log(I + 1) (the space the
   model works in), so the result is a weighted geometric-type mean of the
   intensities.
5. Only gap voxels are replaced; every other voxel is returned bit for bit.

Volumes smaller than a patch along some axis are padded (with voxels that
count as unmeasured) and cropped back.  Arrays are (z, y, x).
"""

from __future__ import annotations

import itertools
import logging
from pathlib import Path
from typing import NamedTuple

import numpy as np
from tqdm.auto import tqdm

from braggsynth import io
from braggsynth.data import patches
from braggsynth.learn import uncertainty
from braggsynth.simulate.gaps import MIN_PLANE_FRACTION, gap_stripes

log = logging.getLogger("braggsynth.inpaint")

#: Measured voxels a window keeps on each side of a stripe (narrower leaves too little context).
MIN_CONTEXT_PX = 4


def window_positions(size: int, patch_size: int, stride: int) -> list[int]:
    """Starts 0, stride, 2 stride, ... of windows along an axis of ``size`` voxels, the last flush with the end."""
    if size <= patch_size:
        return [0]
    starts = list(range(0, size - patch_size + 1, stride))
    if starts[-1] != size - patch_size:
        starts.append(size - patch_size)
    return starts


def gap_windows(gap_mask, *, patch_size: int = 32, stride: int | None = None,
                min_plane_fraction: float = MIN_PLANE_FRACTION) -> np.ndarray:
    """Corners (k, 3) of the windows that cover every gap voxel (placement in the module docstring).

    Parameters
    ----------
    gap_mask
        (z, y, x) bool, True in the gap; each side at least ``patch_size``.
    patch_size
        int, window side.
    stride
        int, step of the windows along a gap plane (default patch_size // 2).
    min_plane_fraction
        float, see :func:`braggsynth.simulate.gaps.gap_stripes`.

    Returns
    -------
    numpy.ndarray
        int64 (k, 3) array of window corners (z, y, x), sorted, each window
        holding at least one gap voxel.

    Raises
    ------
    ValueError
        When a stripe is wider than ``patch_size - 2 * MIN_CONTEXT_PX``:
        the model cannot see both sides of it.
    """
    gap_mask = np.asarray(gap_mask, dtype=bool)
    shape = np.array(gap_mask.shape)
    if gap_mask.ndim != 3 or np.any(shape < patch_size):
        raise ValueError(f"gap_mask must be 3D with every side >= patch_size {patch_size}, got shape {gap_mask.shape}")
    stride = patch_size // 2 if stride is None else int(stride)
    if not 1 <= stride <= patch_size:
        raise ValueError(f"stride must be between 1 and patch_size {patch_size}, got {stride}")
    half = patch_size // 2

    def centred(start, stop, axis):
        corner = start + (stop - start) // 2 - half
        return int(np.clip(corner, 0, shape[axis] - patch_size))

    stripes = gap_stripes(gap_mask, min_plane_fraction)
    for axis, start, stop in stripes:
        if stop - start > patch_size - 2 * MIN_CONTEXT_PX:
            raise ValueError(f"gap stripe of {stop - start} px normal to axis {'zyx'[axis]} at {start}:{stop} is wider "
                             f"than a {patch_size}^3 window can fill (at most {patch_size - 2 * MIN_CONTEXT_PX} px)")
    along = [window_positions(int(n), patch_size, stride) for n in shape]
    corners = set()
    for axis, start, stop in stripes:
        grids = [along[a] if a != axis else [centred(start, stop, axis)] for a in range(3)]
        corners.update(_product(grids))
    for i, (axis_a, start_a, stop_a) in enumerate(stripes):
        for axis_b, start_b, stop_b in stripes[i + 1:]:
            if axis_a == axis_b:
                continue
            grids = [list(p) for p in along]
            grids[axis_a] = [centred(start_a, stop_a, axis_a)]
            grids[axis_b] = [centred(start_b, stop_b, axis_b)]
            corners.update(_product(grids))
    corners = [c for c in corners if gap_mask[tuple(slice(s, s + patch_size) for s in c)].any()]
    covered = np.zeros_like(gap_mask)
    for corner in corners:
        covered[tuple(slice(s, s + patch_size) for s in corner)] = True
    for voxel in np.argwhere(gap_mask & ~covered):
        if covered[tuple(voxel)]:
            continue
        corner = tuple(int(c) for c in np.clip(voxel - half, 0, shape - patch_size))
        corners.append(corner)
        covered[tuple(slice(s, s + patch_size) for s in corner)] = True
    return np.array(sorted(set(map(tuple, corners))), dtype=np.int64).reshape(-1, 3)


def _product(grids):
    return set(itertools.product(*grids))


def blending_weight(patch_size: int = 32) -> np.ndarray:
    """(n, n, n) float64 weight w(i) w(j) w(k), w(i) = sin^2(pi (i + 1/2) / n): 1 at the centre, > 0 at the faces."""
    w = np.sin(np.pi * (np.arange(patch_size) + 0.5) / patch_size) ** 2
    return w[:, None, None] * w[None, :, None] * w[None, None, :]


def _whole_stripes(corner, stripes, patch_size: int, shape) -> np.ndarray:
    """(n, n, n) 0/1 factor of a window: 0 on the slabs of the stripes that one of its inner faces cuts."""
    factor = np.ones((patch_size,) * 3)
    for axis, start, stop in stripes:
        first, last = start - corner[axis], stop - corner[axis]  # stripe in window coordinates
        if last <= 0 or first >= patch_size:
            continue
        low_face_inside = corner[axis] > 0
        high_face_inside = corner[axis] + patch_size < shape[axis]
        if (low_face_inside and first < MIN_CONTEXT_PX) or (high_face_inside and last > patch_size - MIN_CONTEXT_PX):
            slab = [slice(None)] * 3
            slab[axis] = slice(max(first, 0), min(last, patch_size))
            factor[tuple(slab)] = 0.0
    return factor


class Inpainted(NamedTuple):
    """:func:`inpaint`'s result when more than the fill is asked for (absent parts are None)."""

    filled: np.ndarray
    spread: np.ndarray | None = None
    lower: np.ndarray | None = None
    upper: np.ndarray | None = None


def inpaint(volume, gap_mask, model, *, patch_size: int | None = None, stride: int | None = None,
            batch_size: int = 32, progress: bool = True, with_spread: bool = False, calibration: dict | None = None,
            interval_level: float = 0.68, unmeasured=None):
    """Fill the gap voxels of a 3D intensity with the patch model.

    Parameters
    ----------
    volume
        (z, y, x) array of intensities (photons), finite and >= 0
        outside the gap; values in the gap are ignored.
    gap_mask
        (z, y, x) bool, True where the volume is to be filled (line
        or cross gaps, bad pixels).
    model
        a Keras model from :func:`braggsynth.learn.model.build_model` /
        :func:`braggsynth.learn.model.load_model`, or a path to one, or any callable
        mapping a (b, n, n, n, 2) float32 batch (normalised patch with its gap
        at 0, mask) to the filled normalised patches (b, n, n, n[, 1]).  A
        model's own prefill prepares its input (:func:`braggsynth.learn.model.fill_patches`).
    patch_size
        int, side of the model's patches (default: from the Keras
        model's input shape, else 32).
    stride
        int, step of the windows along the gap planes (default
        patch_size // 2); 1 reproduces the dense sliding window of Masto et al.
    batch_size
        int, windows per model call (>= 1).
    progress
        bool, show a progress bar.
    with_spread
        bool, also return the spread of the window predictions.
    calibration
        dict of :func:`braggsynth.learn.uncertainty.read_calibration`: also return the interval of
        level ``interval_level`` (0.68 or 0.95) around the fill, blended window by window like the fill.
    unmeasured
        optional (z, y, x) bool, voxels without a measurement that are not to be filled (a scan's
        masked aliens and bad pixels): the windows see them as unknown, as they see the gap, and they are
        returned as they are.

    Returns
    -------
    filled
        (z, y, x) array of the volume's dtype (float32 for integer
        volumes): the volume with its gap voxels replaced by the blended
        predictions (module docstring), never below 0; every other voxel is
        bit-for-bit the input's (a fill that is not finite anywhere raises
        ValueError). With ``with_spread`` or ``calibration``, an
        :class:`Inpainted` of it and:
    spread
        only with ``with_spread``, float32 (z, y, x): in each gap voxel
        the weighted standard deviation, in log(I + 1), of the predictions of
        the windows blended there (how much overlapping windows disagree);
        NaN in a gap voxel that only one window fills, 0 outside the gap.
    lower, upper
        only with ``calibration``, float64 (z, y, x) photons: the
        calibrated interval of each gap voxel (:mod:`braggsynth.learn.uncertainty`),
        equal to the volume outside the gap.
    """
    volume = np.asarray(volume)
    gap_mask = np.asarray(gap_mask, dtype=bool)
    io.check_volume(volume, gap_mask, volume_name="volume", mask_name="gap_mask")
    unmeasured = np.zeros(gap_mask.shape, bool) if unmeasured is None else np.asarray(unmeasured, bool) & ~gap_mask
    io.check_volume(volume, unmeasured, volume_name="volume", mask_name="unmeasured")
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    measured = volume[~gap_mask & ~unmeasured]
    if not np.all(np.isfinite(measured)) or (measured.size and measured.min() < 0):
        raise ValueError("volume must be finite and >= 0 outside the gap")
    from braggsynth.learn.model import fill_patches, load_model, patch_size_of

    if isinstance(model, (str, Path)):
        model = load_model(model)
    if patch_size is None:
        patch_size = patch_size_of(model)
    dtype = volume.dtype if np.issubdtype(volume.dtype, np.floating) else np.dtype(np.float32)
    result = volume.astype(dtype, copy=True)
    extras = with_spread or calibration is not None
    if not gap_mask.any():
        if not extras:
            return result
        bounds = (volume.astype(np.float64), volume.astype(np.float64)) if calibration is not None else (None, None)
        return Inpainted(result, np.zeros(volume.shape, dtype=np.float32) if with_spread else None, *bounds)

    # Pad short axes with unmeasured voxels (seen as gap by the model, never written back).
    pad = [(0, max(patch_size - n, 0)) for n in volume.shape]
    work = np.pad(np.where(gap_mask | unmeasured, 0, volume).astype(dtype), pad)
    unknown = np.pad(gap_mask | unmeasured, pad, constant_values=True)
    to_fill = np.pad(gap_mask, pad, constant_values=False)
    corners = gap_windows(to_fill, patch_size=patch_size, stride=stride)
    stripes = gap_stripes(to_fill)
    weight = blending_weight(patch_size)
    # Sums over the windows that hold the voxel's stripes whole, and over all windows (the fallback), of the
    # weight, weight x log(I + 1) (and of its square, and of the interval's bounds in log(I + 1), when asked),
    # and the windows counted; float32 keeps log(I + 1) to 1e-7 relative and halves the memory of large
    # volumes, float64 keeps the spread's variance exact.
    names = (["weight", "log"] + (["square"] if with_spread else [])
             + (["lower", "upper"] if calibration is not None else []))
    sums_dtype = np.float64 if extras else np.float32
    trusted_sums, any_sums = ({name: np.zeros(work.shape, dtype=sums_dtype) for name in names} for _ in range(2))
    trusted_windows, any_windows = (np.zeros(work.shape, dtype=np.int16) for _ in range(2))
    bar = tqdm(total=len(corners), unit="window", desc="inpainting", disable=not progress)
    for first in range(0, len(corners), batch_size):
        batch = corners[first:first + batch_size]
        boxes = [tuple(slice(s, s + patch_size) for s in corner) for corner in batch]
        windows = np.empty((len(batch), patch_size, patch_size, patch_size), dtype=np.float32)
        masks = np.stack([unknown[box] for box in boxes])
        bounds = []
        for i, box in enumerate(boxes):
            try:
                windows[i], window_bounds = patches.normalise(work[box], masks[i])
            except ValueError as error:
                raise ValueError(f"window at corner {tuple(int(c) for c in batch[i])}: {error}") from None
            bounds.append(window_bounds)
        filled = fill_patches(model, windows, masks, batch_size=batch_size)
        for corner, box, mask, prediction, (low, high) in zip(batch, boxes, masks, filled, bounds):
            values = {"log": patches.unscale(prediction, low, high)}
            if with_spread:
                values["square"] = values["log"] ** 2
            if calibration is not None:
                below, above = uncertainty.offsets(calibration, uncertainty.gap_depth(mask), prediction,
                                                   interval_level)
                values["lower"] = patches.unscale(prediction + below, low, high)
                values["upper"] = patches.unscale(prediction + above, low, high)
            whole = _whole_stripes(corner, stripes, patch_size, work.shape)
            for sums, counted, w in ((trusted_sums, trusted_windows, weight * whole), (any_sums, any_windows, weight)):
                sums["weight"][box] += w
                for name, value in values.items():
                    sums[name][box] += w * value
                counted[box] += w > 0
        bar.update(len(batch))
    bar.close()
    crop = tuple(slice(0, n) for n in volume.shape)
    found = {name: sums[crop][gap_mask].astype(np.float64) for name, sums in trusted_sums.items()}
    counted = trusted_windows[crop][gap_mask]
    fallback = found["weight"] == 0
    if fallback.any():
        for name, sums in any_sums.items():
            found[name][fallback] = sums[crop][gap_mask][fallback]
        counted[fallback] = any_windows[crop][gap_mask][fallback]
    mean = {name: found[name] / found["weight"] for name in names[1:]}
    bad = ~np.isfinite(mean["log"])
    if bad.any():
        raise ValueError(f"the model's fill is not finite in {int(bad.sum()):,} of the {bad.size:,} gap voxels; "
                         "nothing written")
    result[gap_mask] = np.maximum(np.expm1(mean["log"]), 0.0).astype(dtype)  # counts are never negative
    if not np.array_equal(result[~gap_mask], volume[~gap_mask].astype(dtype), equal_nan=True):
        raise RuntimeError("inpaint changed measured voxels")
    if not extras:
        return result
    spread = lower = upper = None
    if with_spread:
        spread = np.zeros(volume.shape, dtype=np.float32)
        deviation = np.sqrt(np.maximum(mean["square"] - mean["log"] ** 2, 0.0))
        spread[gap_mask] = np.where(counted >= 2, deviation, np.nan)
    if calibration is not None:
        lower, upper = volume.astype(np.float64), volume.astype(np.float64)
        lower[gap_mask] = np.clip(np.expm1(mean["lower"]), 0.0, None)
        upper[gap_mask] = np.maximum(np.expm1(mean["upper"]), lower[gap_mask])
    return Inpainted(result, spread, lower, upper)
