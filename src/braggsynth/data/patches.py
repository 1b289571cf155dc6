"""Training patches: 32^3 crops of a Bragg peak with a gap plane through their centre.

Following Masto et al. (J. Appl. Cryst. 2024), a patch is normalised as
log(I + 1) followed by a min-max scaling to [0, 1] computed on the voxels
outside the gap only; the network sees the gapped patch and learns the truth
inside the gap.  :func:`normalise` and :func:`denormalise` are the one
normalisation of the project: training and inference both import them.

Arrays are (z, y, x) = (rocking, detector rows, detector columns); patches
are (n, s, s, s) stacks of such cubes.  Intensities are photon counts (or any
non-negative unit for noise-free peaks).
"""

from __future__ import annotations

import numpy as np

from braggsynth.simulate.detector import ORIENTATIONS, gap_planes


def scale(patch, low: float, high: float) -> np.ndarray:
    """log(I + 1) mapped linearly so that ``low`` -> 0 and ``high`` -> 1 (float32).

    ``low`` and ``high`` are in log(I + 1) units; when ``high == low`` the
    result is 0 wherever log(I + 1) equals ``low``.
    """
    patch = np.asarray(patch, dtype=np.float64)
    span = high - low if high > low else 1.0
    return ((np.log1p(patch) - low) / span).astype(np.float32)


def normalise(patch, gap_mask) -> tuple[np.ndarray, tuple[float, float]]:
    """Normalise a patch for the network, looking at the voxels outside the gap only.

    Parameters
    ----------
    patch
        array of non-negative intensities (photons), any shape.
    gap_mask
        bool array of the same shape, True in the gap.

    Returns
    -------
    x
        float32 array, log(I + 1) min-max scaled to [0, 1] over the non-gap
        voxels; gap voxels are 0.
    low, high
        floats, min and max of log(I + 1) over the non-gap voxels;
        pass them to :func:`denormalise` (and to :func:`scale` for the target).
    """
    patch = np.asarray(patch, dtype=np.float64)
    gap_mask = np.asarray(gap_mask, dtype=bool)
    if patch.shape != gap_mask.shape:
        raise ValueError(f"gap_mask shape {gap_mask.shape} differs from patch shape {patch.shape}")
    seen = patch[~gap_mask]
    if seen.size == 0:
        raise ValueError("the gap covers the whole patch: nothing to normalise on")
    if not np.all(np.isfinite(seen)) or seen.min() < 0:
        raise ValueError(f"patch intensities must be finite and >= 0 outside the gap (min {seen.min()})")
    logged = np.log1p(seen)
    low, high = float(logged.min()), float(logged.max())
    x = scale(patch, low, high)
    x[gap_mask] = 0.0
    return x, (low, high)


def unscale(x, low: float, high: float) -> np.ndarray:
    """log(I + 1) (float64) from normalised values: the inverse of :func:`scale`."""
    span = high - low if high > low else 1.0
    return np.asarray(x, dtype=np.float64) * span + low


def denormalise(x, low: float, high: float) -> np.ndarray:
    """Intensities (float64) from normalised values: the inverse of :func:`normalise`."""
    return np.expm1(unscale(x, low, high))


def gap_through_centre(patch_size: int, gap_width_px: int, orientation: str) -> np.ndarray:
    """Boolean (s, s, s) mask of a gap plane (or a cross) through the patch centre.

    The band of ``gap_width_px`` rows ("horizontal", normal to y) or columns
    ("vertical", normal to x), or both ("cross"), spans all z and covers
    [s // 2 - w // 2, s // 2 - w // 2 + w).
    """
    if not 0 < gap_width_px < patch_size:
        raise ValueError(f"gap_width_px must be between 1 and patch_size - 1 = {patch_size - 1}, got {gap_width_px}")
    centre = patch_size // 2
    return gap_planes((patch_size,) * 3, orientation, (centre, centre), gap_width_px)


def window_sums(volume: np.ndarray, size: int) -> np.ndarray:
    """Sum of ``volume`` over every size^3 window; index = window corner (z, y, x)."""
    table = np.zeros(tuple(n + 1 for n in volume.shape), dtype=np.float64)
    table[1:, 1:, 1:] = volume.astype(np.float64).cumsum(0).cumsum(1).cumsum(2)
    a, b = slice(size, None), slice(None, -size)
    return (table[a, a, a] - table[b, a, a] - table[a, b, a] - table[a, a, b]
            + table[b, b, a] + table[b, a, b] + table[a, b, b] - table[b, b, b])


def corner_weights(intensity, patch_size: int, excluded=None) -> np.ndarray:
    """Probability weight of each patch corner (z, y, x), before normalisation.

    The weight of a patch is log(1 + I) at its centre voxel (corner + s // 2):
    patches follow the signal without all piling up on the maximum of a peak
    that spans six decades.  Patches that would stick out of the volume do not
    exist (the array is (n - s + 1) per axis) and patches holding any
    ``excluded`` voxel weigh 0.
    """
    intensity = np.asarray(intensity, dtype=np.float64)
    if intensity.ndim != 3 or min(intensity.shape) < patch_size:
        raise ValueError(f"intensity of shape {intensity.shape} cannot hold {patch_size}^3 patches")
    if not np.all(np.isfinite(intensity)):
        raise ValueError("intensity holds non-finite values; mark them as excluded and set them to 0")
    half = patch_size // 2
    stop = [n - patch_size + 1 + half for n in intensity.shape]
    centres = intensity[half:stop[0], half:stop[1], half:stop[2]]
    weights = np.log1p(np.maximum(centres, 0.0))
    if excluded is not None:
        excluded = np.asarray(excluded, dtype=bool)
        if excluded.shape != intensity.shape:
            raise ValueError(f"excluded shape {excluded.shape} differs from intensity shape {intensity.shape}")
        weights[window_sums(excluded, patch_size) > 0.5] = 0.0
    return weights


def sample_patch_corners(intensity, rng: np.random.Generator, count: int, patch_size: int = 32,
                         excluded=None) -> np.ndarray:
    """Draw ``count`` distinct patch corners (int, (count, 3), z y x) following the intensity.

    Each patch lies fully inside the volume and holds no ``excluded`` voxel
    (e.g. the gaps and bad pixels of a measured detector: voxels without
    truth never become targets).  Corners are drawn without replacement with
    probability proportional to :func:`corner_weights`.
    """
    return draw_corners(corner_weights(intensity, patch_size, excluded), rng, count, patch_size)


def draw_corners(weights, rng: np.random.Generator, count: int, patch_size: int = 32) -> np.ndarray:
    """Draw ``count`` distinct corners (int, (count, 3), z y x) without replacement, with probability
    proportional to ``weights`` (:func:`corner_weights` of patches of ``patch_size``); ValueError when fewer
    than ``count`` weigh more than 0."""
    flat = weights.ravel()
    candidates = np.flatnonzero(flat > 0)
    if len(candidates) < count:
        raise ValueError(f"only {len(candidates)} patch positions have signal and no excluded voxel; "
                         f"cannot draw {count} patches of {patch_size}^3")
    p = flat[candidates] / flat[candidates].sum()
    chosen = rng.choice(candidates, size=count, replace=False, p=p)
    return np.stack(np.unravel_index(np.sort(chosen), weights.shape), axis=1).astype(np.int64)


def make_patches(intensity, rng: np.random.Generator, *, count: int, patch_size: int = 32,
                 gap_widths_px=(3, 6, 9, 12), cross_probability: float = 0.2, excluded=None,
                 expected=None, unknown=None) -> dict:
    """Cut training patches from one intensity volume.

    Parameters
    ----------
    intensity
        (z, y, x) array of non-negative intensities, the truth: the
        ground-truth counts of a simulation, or a measured intensity.
    rng
        numpy Generator (corners, then for each patch its width and
        orientation).
    count
        number of patches.
    patch_size
        s, pixels.
    gap_widths_px
        widths to draw from, uniformly.
    cross_probability
        probability of a cross gap; otherwise vertical or
        horizontal with equal probability.
    excluded
        bool (z, y, x), voxels no patch may hold (measured mask).
    expected
        optional (z, y, x) expected counts of which ``intensity`` is a
        Poisson draw (the noise-free truth of a simulation).
    unknown
        optional bool (z, y, x), voxels without a measurement that a
        patch may hold (a scan's real gaps, when fine-tuning on it): they join
        the patch's gap in ``mask`` (the model sees them unknown) and are left
        out of ``scored``.

    Returns
    -------
    dict
        Arrays: ``input`` float32 (n, s, s, s): the normalised patch, 0 in the gap;
        ``target`` float32 (n, s, s, s): the normalised truth with the same
        (low, high), so the gap may exceed [0, 1] where it hides the brightest
        voxels; ``expected`` float32 (n, s, s, s): the normalised expected
        counts with the same (low, high), or ``target`` again when
        ``expected`` is not given; ``mask`` bool (n, s, s, s): the gap; ``scored`` bool
        (n, s, s, s), only with ``unknown``: the gap voxels with a truth; ``gap_width_px`` int16
        (n,); ``orientation`` int8 (n,), index in
        :data:`braggsynth.simulate.detector.ORIENTATIONS`; ``corner`` int64 (n, 3);
        ``bounds`` float64 (n, 2): (low, high) of :func:`normalise`.
    """
    widths = np.asarray(gap_widths_px, dtype=int)
    if widths.ndim != 1 or widths.size == 0:
        raise ValueError(f"gap_widths_px must be a non-empty list of widths, got {gap_widths_px!r}")
    if not 0 <= cross_probability <= 1:
        raise ValueError(f"cross_probability must lie in [0, 1], got {cross_probability}")
    intensity = np.asarray(intensity)
    if expected is not None and np.shape(expected) != intensity.shape:
        raise ValueError(f"expected of shape {np.shape(expected)} differs from intensity shape {intensity.shape}")
    corners = sample_patch_corners(intensity, rng, count, patch_size, excluded)
    shape = (count,) + (patch_size,) * 3
    out = {
        "input": np.empty(shape, dtype=np.float32),
        "target": np.empty(shape, dtype=np.float32),
        "expected": np.empty(shape, dtype=np.float32),
        "mask": np.empty(shape, dtype=bool),
        "gap_width_px": rng.choice(widths, size=count).astype(np.int16),
        "orientation": np.empty(count, dtype=np.int8),
        "corner": corners,
        "bounds": np.empty((count, 2), dtype=np.float64),
    }
    if unknown is not None:
        unknown = np.asarray(unknown, dtype=bool)
        out["scored"] = np.empty(shape, dtype=bool)
    crosses = rng.random(count) < cross_probability
    sides = rng.integers(0, 2, size=count)  # 0: vertical, 1: horizontal
    for i, (z, y, x) in enumerate(corners):
        orientation = "cross" if crosses[i] else ORIENTATIONS[sides[i]]
        box = (slice(z, z + patch_size), slice(y, y + patch_size), slice(x, x + patch_size))
        truth = intensity[box]
        mask = gap_through_centre(patch_size, int(out["gap_width_px"][i]), orientation)
        if unknown is not None:
            out["scored"][i] = mask & ~unknown[box]
            mask = mask | unknown[box]
        out["input"][i], (low, high) = normalise(truth, mask)
        out["target"][i] = scale(truth, low, high)
        out["expected"][i] = out["target"][i] if expected is None else scale(expected[box], low, high)
        out["mask"][i] = mask
        out["orientation"][i] = ORIENTATIONS.index(orientation)
        out["bounds"][i] = low, high
    return out
