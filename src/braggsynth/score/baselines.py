"""Classic fillers of detector gaps, the baselines every model is judged against.

Each function takes a volume (or a batch of volumes) and a boolean gap mask
and returns the volume with its gap voxels filled and every other voxel as
given.  They work on whatever values they are given; the project gives them
normalised log(I + 1) values (:func:`braggsynth.data.patches.normalise`), in
which interpolation follows the fringes of a Bragg peak far better than in
intensities.

- :func:`zero_fill`: the gap left at 0;
- :func:`linear_fill`: 1D linear interpolation across the gap, along its normal;
- :func:`smoothed_linear_fill`: the same from measured voxels smoothed first
  (masked Gaussian), which on noisy counts fills with a local mean instead of
  one noisy draw;
- :func:`biharmonic_fill`: scikit-image ``inpaint_biharmonic`` on each
  detector frame;
- :func:`inverse_distance_fill`: PyNX's ``mask_interp`` (inverse-distance
  weights over a cube around each gap voxel), which PyNX applies to the
  intensities themselves; used by the phasing baseline of PyNX's recipe
  (:mod:`braggsynth.phase.reconstruction`), not in the fill tables.

Arrays are (z, y, x) = (rocking, detector rows, detector columns); gaps are
planes normal to y or x through all z, so the fillers interpolate in the
detector plane (axes y and x).  A batch is (b, z, y, x) with ``axes=(2, 3)``.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

#: Names of the baselines, in the order of the reports.
BASELINES = ("zero", "linear", "smoothed_linear", "biharmonic")
#: Gaussian width (voxels, every axis) of the smoothing of :func:`smoothed_linear_fill`.
SMOOTHING_SIGMA_PX = 1.0


def zero_fill(volume, mask) -> np.ndarray:
    """The volume with its gap voxels set to 0 (float32).

    Examples
    --------
    >>> zero_fill(np.ones((1, 1, 3)), np.array([[[False, True, False]]])).tolist()
    [[[1.0, 0.0, 1.0]]]
    """
    return np.where(np.asarray(mask, dtype=bool), 0.0, volume).astype(np.float32)


def _line_fill(known, sides: str):
    """Where one line's gap voxels take their values from, for the pattern ``known`` (n,) bool of its known
    voxels: (positions, index before, index after) of the unknown voxels with a known voxel on both sides
    (``sides="both"``), or on one side only (``"one"``; before = after = that voxel)."""
    n = len(known)
    position = np.arange(n)
    before = np.maximum.accumulate(np.where(known, position, -1))
    after = np.minimum.accumulate(np.where(known, position, n)[::-1])[::-1]
    has_before, has_after = before >= 0, after < n
    if sides == "both":
        wanted = ~known & has_before & has_after
    else:
        wanted = ~known & (has_before ^ has_after)
        before = after = np.where(has_before, before, after)
    return position[wanted], before[wanted], after[wanted]


def _interpolate_along(values, known, axis, sides: str):
    """The unknown voxels filled from the nearest known voxels of their line along ``axis``: linearly between
    the two where both sides have one (``sides="both"``), else as the one side's (``"one"``).

    Lines with the same pattern of known voxels (every line across a gap plane) share one
    :func:`_line_fill`.  Returns (filled, found), float64 and bool arrays of ``values``' shape (0 and False
    elsewhere), or None where no voxel is filled.
    """
    n = known.shape[axis]
    line_known = np.ascontiguousarray(np.moveaxis(known, axis, -1)).reshape(-1, n)
    packed = np.packbits(line_known, axis=1)
    keys = packed.view(np.dtype((np.void, packed.shape[1]))).ravel()
    _, first, group = np.unique(keys, return_index=True, return_inverse=True)
    members = np.split(np.argsort(group, kind="stable"), np.cumsum(np.bincount(group))[:-1])
    filled = found = line_values = None
    for line, lines in zip(first, members):
        position, before, after = _line_fill(line_known[line], sides)
        if not len(position):
            continue
        if filled is None:
            line_values = np.ascontiguousarray(np.moveaxis(values, axis, -1)).reshape(-1, n)
            filled = np.zeros(line_values.shape)
            found = np.zeros(line_values.shape, dtype=bool)
        lines = lines[:, None]
        low = line_values[lines, before]
        if sides == "both":
            high = line_values[lines, after]
            low = low + (high - low) * (position - before) / (after - before)
        filled[lines, position] = low
        found[lines, position] = True
    if filled is None:
        return None
    moved_shape = np.moveaxis(known, axis, -1).shape
    return tuple(np.moveaxis(array.reshape(moved_shape), -1, axis) for array in (filled, found))


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
    volume
        (z, y, x) array, or a batch (b, z, y, x) with ``axes=(2, 3)``;
        values in the gap are ignored.
    mask
        bool array of the same shape, True in the gap.
    axes
        axes to interpolate along (default y and x of one volume, the
        detector plane: gaps are planes through all z).

    Examples
    --------
    >>> linear_fill(np.array([[[0.0, 9.0, 9.0, 3.0]]]), np.array([[[False, True, True, False]]]))[0, 0].tolist()
    [0.0, 1.0, 2.0, 3.0]
    """
    mask = np.asarray(mask, dtype=bool)
    filled = np.where(mask, 0.0, np.asarray(volume, dtype=np.float64))
    known = ~mask
    if not known.any():
        return filled
    for sides in ("both", "one"):
        while not known.all():
            total = np.zeros_like(filled)
            count = np.zeros(filled.shape, dtype=np.int8)
            for axis in axes:
                found = _interpolate_along(filled, known, axis, sides)
                if found is not None:
                    total += found[0]
                    count += found[1]
            new = count > 0
            if not new.any():
                break
            filled[new] = total[new] / count[new]
            known |= new
    filled[~known] = filled[~mask].mean()
    return filled


def masked_smoothing(volume, mask, sigma_px: float = SMOOTHING_SIGMA_PX, axes=(0, 1, 2)) -> np.ndarray:
    """Gaussian mean of the measured voxels only (normalised convolution), float64.

    s = G * (v m) / G * m with m = 1 outside the gap, G a Gaussian of
    ``sigma_px`` voxels along ``axes`` (0 along the others: a batch axis);
    gap values never enter.  Where no measured voxel is within reach the
    result is 0.
    """
    measured = ~np.asarray(mask, dtype=bool)
    volume = np.where(measured, np.asarray(volume, dtype=np.float64), 0.0)
    sigma = [sigma_px if axis in axes else 0.0 for axis in range(volume.ndim)]
    weight = gaussian_filter(measured.astype(np.float64), sigma, mode="constant")
    total = gaussian_filter(volume, sigma, mode="constant")
    return np.divide(total, weight, out=np.zeros_like(total), where=weight > 1e-12)


def smoothed_linear_fill(volume, mask, axes=(1, 2), sigma_px: float = SMOOTHING_SIGMA_PX) -> np.ndarray:
    """Linear interpolation across the gap from masked-Gaussian-smoothed measured voxels (float64).

    The measured voxels are smoothed with :func:`masked_smoothing` (``sigma_px``
    voxels along every axis of a volume), the gap is filled from the smoothed
    values by :func:`linear_fill`, and the measured voxels are returned as
    given.  On Poisson counts the gap then continues the local mean rather
    than the noise of the two voxels at its edges.

    Parameters
    ----------
    volume, mask, axes
        as :func:`linear_fill` (a batch (b, z, y, x) with ``axes=(2, 3)``).
    sigma_px
        float, Gaussian width, voxels.
    """
    volume = np.asarray(volume, dtype=np.float64)
    mask = np.asarray(mask, dtype=bool)
    spatial = tuple(range(volume.ndim - 3, volume.ndim))  # the last three axes are (z, y, x)
    smooth = masked_smoothing(volume, mask, sigma_px, axes=spatial)
    return np.where(mask, linear_fill(smooth, mask, axes), volume)


def biharmonic_fill(volume, mask) -> np.ndarray:
    """scikit-image ``inpaint_biharmonic`` on each z slice (detector frame) with a gap (float64).

    Frames with the same gap (all of them, for gap planes through the stack) are solved together, as the
    channels of one image: one sparse factorisation for all of them, the numbers of frame-by-frame calls.
    """
    from skimage.restoration import inpaint_biharmonic

    mask = np.asarray(mask, dtype=bool)
    filled = np.where(mask, 0.0, np.asarray(volume, dtype=np.float64))
    frames = {}
    for z in range(filled.shape[0]):
        if mask[z].any() and not mask[z].all():
            frames.setdefault(mask[z].tobytes(), []).append(z)
    for same in frames.values():
        channels = np.moveaxis(filled[same], 0, -1)  # (y, x, frames)
        filled[same] = np.moveaxis(inpaint_biharmonic(channels, mask[same[0]], channel_axis=-1), -1, 0)
    return filled


#: PyNX's ``mask_interp=8,2`` (the SIXS scan's author's setting): half side of the cube, voxels, and power.
MASK_INTERP = (8, 2)


def inverse_distance_fill(volume, mask, half_window_px: int = MASK_INTERP[0], power: float = MASK_INTERP[1]):
    """Each gap voxel the inverse-distance mean of the measured voxels within ``half_window_px`` of it along
    every axis (a cube), weights 1 / d^``power`` with d the distance in voxels, as PyNX's ``mask_interp=N,n``
    interpolates masked intensities (float64).

    Gap voxels with no measured voxel in their cube are NaN; every other voxel as given. Computed as two
    FFT convolutions of the volume (zero padded, so nothing wraps around).
    """
    from scipy.signal import fftconvolve

    mask = np.asarray(mask, dtype=bool)
    volume = np.asarray(volume, dtype=np.float64)
    reach = np.arange(-int(half_window_px), int(half_window_px) + 1, dtype=np.float64)
    distance = np.sqrt(reach[:, None, None] ** 2 + reach[None, :, None] ** 2 + reach[None, None, :] ** 2)
    weights = np.divide(1.0, distance ** float(power), out=np.zeros_like(distance), where=distance > 0)
    measured = (~mask).astype(np.float64)
    total = fftconvolve(np.where(mask, 0.0, volume), weights, mode="same")
    norm = fftconvolve(measured, weights, mode="same")
    found = np.divide(total, norm, out=np.full(volume.shape, np.nan), where=norm > 1e-9 * weights.sum())
    return np.where(mask, np.clip(found, 0.0, None), volume)


_FILLERS = {"zero": zero_fill, "linear": linear_fill, "smoothed_linear": smoothed_linear_fill,
            "biharmonic": biharmonic_fill}


def fill_batch(method: str, volumes, masks) -> np.ndarray:
    """Fill the gaps of a batch (b, z, y, x) of volumes with the baseline named ``method`` (float32).

    The linear fillers work on the whole batch at once (along y and x of each
    volume); the others volume by volume.
    """
    volumes = np.asarray(volumes, dtype=np.float32)
    masks = np.asarray(masks, dtype=bool)
    if method == "zero":
        return zero_fill(volumes, masks)
    if method in ("linear", "smoothed_linear"):
        return _FILLERS[method](volumes, masks, axes=(2, 3)).astype(np.float32)
    return np.stack([baseline_fill(method, v, m) for v, m in zip(volumes, masks)]).astype(np.float32)


def baseline_fill(method: str, volume, mask) -> np.ndarray:
    """Fill the gap of one (z, y, x) ``volume`` with the baseline named ``method`` (one of :data:`BASELINES`)."""
    try:
        filler = _FILLERS[method]
    except KeyError:
        raise ValueError(f"unknown baseline {method!r}; expected one of {', '.join(BASELINES)}") from None
    return filler(volume, mask)
