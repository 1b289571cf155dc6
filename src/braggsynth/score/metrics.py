"""Scores of a gap fill against the truth, over the gap voxels only.

The project scores in the normalised log space of
:func:`braggsynth.data.patches.normalise` (log(I + 1) min-max scaled on the
measured voxels: an affine map of log(I + 1), so the PCC is that of
log(I + 1)), as Masto et al. (2024) do.

- :func:`pcc`: Pearson correlation coefficient over the gap;
- :func:`ssim_map` / :func:`structural_similarity`: 3D SSIM (Gaussian
  window of 11 taps, sigma 1.5, K1 = 0.01, K2 = 0.03, data range 1), averaged
  over the gap voxels where the whole window lies in the volume;
- :func:`gap_metrics`: PCC, SSIM and MAE of a batch;
- :func:`amplitude_r_factor`: the crystallographic R-factor of the amplitudes sqrt(I) over the gap, in
  photons, not in log space: it weighs the bright voxels that carry a reconstruction;
- :func:`binned_mean`: means of a score in bins of another quantity (the
  published protocol averages PCC in 20 bins of mean intensity).

A metric never fills; the fillers are in :mod:`braggsynth.score.baselines`.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import correlate1d

#: SSIM constants (Wang et al. 2004; scikit-image's with Gaussian weights).
SSIM_SIGMA = 1.5
SSIM_WINDOW = 11  # taps: radius int(3.5 * sigma + 0.5) = 5, as scikit-image's truncate=3.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03
#: Names of the scores of :func:`gap_metrics`.
METRICS = ("pcc", "ssim", "mae")


def pcc(prediction, truth, mask) -> float:
    """Pearson correlation of ``prediction`` and ``truth`` over the voxels of ``mask`` (NaN if either is constant).

    Examples
    --------
    >>> truth = np.arange(8.0).reshape(2, 2, 2); mask = truth > 2
    >>> round(pcc(2 * truth + 1, truth, mask), 6)
    1.0
    """
    mask = np.asarray(mask, dtype=bool)
    a = np.asarray(prediction, dtype=np.float64)[mask]
    b = np.asarray(truth, dtype=np.float64)[mask]
    a, b = a - a.mean(), b - b.mean()
    norm = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / norm) if norm > 0 else float("nan")


def amplitude_r_factor(prediction, truth, mask) -> float:
    """``R = sum |sqrt(prediction) - sqrt(truth)| / sum sqrt(truth)`` over the voxels of ``mask``: intensities in
    photons (negative values count as 0); 0 is perfect, NaN when the truth holds no photons there.

    Examples
    --------
    >>> truth = np.full((2, 2, 2), 4.0); mask = np.ones(truth.shape, bool)
    >>> amplitude_r_factor(truth * 2.25, truth, mask)  # amplitudes 3 against 2
    0.5
    """
    mask = np.asarray(mask, dtype=bool)
    a = np.sqrt(np.clip(np.asarray(prediction, dtype=np.float64)[mask], 0.0, None))
    b = np.sqrt(np.clip(np.asarray(truth, dtype=np.float64)[mask], 0.0, None))
    total = b.sum()
    return float(np.abs(a - b).sum() / total) if total > 0 else float("nan")


def _gaussian_taps(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> np.ndarray:
    offsets = np.arange(size) - (size - 1) / 2
    taps = np.exp(-0.5 * (offsets / sigma) ** 2)
    return taps / taps.sum()


def _local_mean(volumes):
    """Gaussian window mean over the last three axes, cropped to where the window fits."""
    taps = _gaussian_taps()
    border = (SSIM_WINDOW - 1) // 2
    for axis in range(volumes.ndim - 3, volumes.ndim):
        volumes = correlate1d(volumes, taps, axis=axis, mode="constant")
    inner = (slice(None),) * (volumes.ndim - 3) + (slice(border, -border),) * 3
    return volumes[inner]


def ssim_map(a, b) -> np.ndarray:
    """Local 3D SSIM of two volumes (or batches of volumes) with values in [0, 1] (float64).

    SSIM = (2 mu_a mu_b + C1)(2 cov_ab + C2) / ((mu_a^2 + mu_b^2 + C1)(var_a + var_b + C2)),
    with local means and (population) covariances under a normalised Gaussian
    window of 11^3 taps and sigma 1.5 voxels, C1 = (0.01)^2, C2 = (0.03)^2.

    Parameters
    ----------
    a, b
        (..., z, y, x) arrays of one shape, each of z, y, x at least 11.

    Returns
    -------
    numpy.ndarray
        Shape (..., z - 10, y - 10, x - 10): SSIM where the whole window lies inside
        the volume (scikit-image crops the same 5-voxel border).
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim < 3 or min(a.shape[-3:]) < SSIM_WINDOW:
        raise ValueError(f"a and b must be volumes of one shape, each side at least {SSIM_WINDOW}, "
                         f"got {a.shape} and {b.shape}")
    mu_a, mu_b = _local_mean(a), _local_mean(b)
    var_a = _local_mean(a * a) - mu_a * mu_a
    var_b = _local_mean(b * b) - mu_b * mu_b
    cov = _local_mean(a * b) - mu_a * mu_b
    c1, c2 = SSIM_K1**2, SSIM_K2**2
    return ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a * mu_a + mu_b * mu_b + c1) * (var_a + var_b + c2))


def _inner(mask):
    border = (SSIM_WINDOW - 1) // 2
    return np.asarray(mask, dtype=bool)[(Ellipsis,) + (slice(border, -border),) * 3]


def structural_similarity(a, b, mask=None) -> float:
    """Mean 3D SSIM (:func:`ssim_map`) of two (z, y, x) volumes, over ``mask`` when given.

    Without a mask it equals ``skimage.metrics.structural_similarity(a, b,
    data_range=1, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)``;
    with one, the map is averaged over the voxels of ``mask`` at least 5
    voxels from the border (NaN when there are none).
    """
    local = ssim_map(a, b)
    if mask is None:
        return float(local.mean())
    inside = _inner(mask)
    return float(local[inside].mean()) if inside.any() else float("nan")


def gap_metrics(predictions, truths, masks) -> dict:
    """PCC, SSIM and MAE over the gap of each of a batch of filled volumes.

    Parameters
    ----------
    predictions, truths
        (b, z, y, x) arrays, filled and true volumes
        (normalised log space).
    masks
        (b, z, y, x) bool, True in the gap (the voxels scored).

    Returns
    -------
    dict metric -> float64 (b,) array (NaN where a score is undefined).
    """
    predictions = np.asarray(predictions, dtype=np.float64)
    truths = np.asarray(truths, dtype=np.float64)
    masks = np.asarray(masks, dtype=bool)
    if predictions.shape != truths.shape or predictions.shape != masks.shape or predictions.ndim != 4 \
            or min(masks.shape[1:]) < SSIM_WINDOW:
        raise ValueError(f"predictions, truths and masks must be batches of volumes of one shape, each side at least "
                         f"{SSIM_WINDOW}, got {predictions.shape}, {truths.shape} and {masks.shape}")
    inner = _inner(masks)
    out = {name: np.full(len(masks), np.nan) for name in METRICS}
    for i, mask in enumerate(masks):
        if not mask.any():
            continue
        out["pcc"][i] = pcc(predictions[i], truths[i], mask)
        if inner[i].any():
            out["ssim"][i] = _gap_ssim(predictions[i], truths[i], inner[i])
        out["mae"][i] = np.abs(predictions[i][mask] - truths[i][mask]).mean()
    return out


def _gap_ssim(prediction, truth, inner) -> float:
    """Mean of :func:`ssim_map` over ``inner`` (a mask of the map's voxels), from the box of the volumes that
    the windows of those voxels reach only: the same numbers as the whole map's, for a fraction of its cost
    when the gap is a plane."""
    border = (SSIM_WINDOW - 1) // 2
    found = np.nonzero(inner.any(axis=(1, 2))), np.nonzero(inner.any(axis=(0, 2))), np.nonzero(inner.any(axis=(0, 1)))
    box = tuple(slice(int(f[0][0]), int(f[0][-1]) + 1) for f in found)  # in map coordinates
    wide = tuple(slice(b.start, b.stop + 2 * border) for b in box)  # the volume voxels those windows cover
    return float(ssim_map(prediction[wide], truth[wide])[inner[box]].mean())


def binned_mean(values, keys, bins: int = 20) -> tuple[np.ndarray, np.ndarray, float]:
    """Mean of ``values`` in ``bins`` equal-width bins of ``keys`` (the published per-intensity protocol).

    Parameters
    ----------
    values
        (n,) scores (NaN ignored).
    keys
        (n,) the quantity to bin by (e.g. a crop's mean log intensity).
    bins
        number of equal-width bins spanning [min(keys), max(keys)].

    Returns
    -------
    edges
        (bins + 1,) bin edges.
    means
        (bins,) mean of the finite values in each bin (NaN when empty).
    overall
        mean of the non-empty bins' means (each bin weighs the same).
    """
    values = np.asarray(values, dtype=np.float64)
    keys = np.asarray(keys, dtype=np.float64)
    edges = np.linspace(keys.min(), keys.max(), bins + 1)
    which = np.clip(np.digitize(keys, edges[1:-1]), 0, bins - 1)
    means = np.full(bins, np.nan)
    for b in range(bins):
        chosen = values[(which == b) & np.isfinite(values)]
        if chosen.size:
            means[b] = chosen.mean()
    return edges, means, float(np.nanmean(means)) if np.isfinite(means).any() else float("nan")
