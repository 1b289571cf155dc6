"""Can a classifier tell simulated patches from measured ones?  Its accuracy on held-back patches says.

Patches are 32^3 crops of photon counts holding no masked voxel, drawn where
there is signal (:func:`braggsynth.data.patches.corner_weights`), as the
training set's are.  Each is described by :data:`FEATURES`, numbers of the kind
a model of its log(I + 1) would see:

- ``log_max``, ``log_mean``: log10(1 + max) and log10(1 + mean) of the counts;
- ``zero_share``: the share of voxels with no photon;
- ``roughness``: mean ``|second difference|`` of log(I + 1), over the three axes;
- ``high_frequency``: the share of the power of log(I + 1) (its mean removed)
  at spatial frequencies above a quarter of the sampling rate;
- ``local_contrast``: the standard deviation of log(I + 1) less its Gaussian
  smoothing (sigma 1 voxel), over that of log(I + 1);
- ``dynamic_range``: the 10th percentile of log(I + 1) over its maximum.

A gradient-boosted tree classifier (scikit-learn's
``HistGradientBoostingClassifier``, classes weighted to balance) is fitted on
the simulated patches of some recordings and the measured patches of the
*fit half* of each measured file, and scored on the other recordings and the
other half: the balanced accuracy (mean of the two recalls) is 0.5 when the
two kinds cannot be told apart and 1 when they always can.

A pooled classifier can also learn a measured file's flux (``log_max``), which
a recipe spanning many fluxes cannot and should not match;
:func:`flux_band` picks the recordings whose maximum is within
:data:`FLUX_FACTOR` of a measured file's, for a discriminator per measured file
at its own flux, and :func:`features_at_offsets` cuts a recording's patches
where the measured file's were drawn (the same offsets from the maximum), so
that a classifier judges what a patch holds, not where the file's masks and
halves let its patches lie.  :func:`feature_separation` says which feature
tells the two kinds apart on its own (the area under its ROC curve).
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

from braggsynth.data.patches import corner_weights, draw_corners

#: Names of the features of :func:`patch_features`, in column order.
FEATURES = ("log_max", "log_mean", "zero_share", "roughness", "high_frequency", "local_contrast", "dynamic_range")
#: Recordings whose maximum (photons) is within this factor of a measured file's are at its flux.
FLUX_FACTOR = 3.0


def patch_features(patch) -> np.ndarray:
    """The :data:`FEATURES` of one patch of counts (any cube): float64 (len(FEATURES),)."""
    counts = np.maximum(np.asarray(patch, dtype=np.float64), 0.0)
    logged = np.log1p(counts)
    roughness = np.mean([np.abs(np.diff(logged, n=2, axis=axis)).mean() for axis in range(3)])
    centred = logged - logged.mean()
    power = np.abs(np.fft.fftn(centred)) ** 2
    frequency = np.sqrt(sum(f ** 2 for f in np.meshgrid(*[np.fft.fftfreq(n) for n in centred.shape],
                                                         indexing="ij")))
    total = power.sum()
    spread = logged.std()
    return np.array([
        np.log10(1 + counts.max()),
        np.log10(1 + counts.mean()),
        float((counts == 0).mean()),
        roughness,
        power[frequency > 0.25].sum() / total if total > 0 else 0.0,
        (logged - gaussian_filter(logged, 1.0)).std() / spread if spread > 0 else 0.0,
        np.percentile(logged, 10) / logged.max() if logged.max() > 0 else 0.0,
    ])


def brightest_voxel(intensity, excluded=None) -> np.ndarray:
    """Index (z, y, x), int (3,), of the brightest voxel of ``intensity`` that is not ``excluded``."""
    values = np.asarray(intensity, dtype=np.float64)
    if excluded is not None:
        values = np.where(excluded, -np.inf, values)
    return np.array(np.unravel_index(int(np.argmax(values)), values.shape))


def _features(intensity, corners, size: int) -> np.ndarray:
    return np.array([patch_features(intensity[z:z + size, y:y + size, x:x + size]) for z, y, x in corners]
                    ).reshape(-1, len(FEATURES))


def sample_patches(intensity, rng: np.random.Generator, count: int, *, excluded=None, size: int = 32
                   ) -> tuple[np.ndarray, np.ndarray]:
    """``count`` patches of ``intensity`` (z, y, x) holding no ``excluded`` voxel, drawn as training patches
    are (fewer when fewer positions exist): their features (n, len(FEATURES)) and their corners' offsets from
    the brightest voxel not excluded, int (n, 3), voxels."""
    intensity = np.asarray(intensity, dtype=np.float64)
    weights = corner_weights(intensity, size, excluded)
    count = min(int(count), int(np.count_nonzero(weights)))
    corners = draw_corners(weights, rng, count, size) if count else np.empty((0, 3), int)
    return _features(intensity, corners, size), corners - brightest_voxel(intensity, excluded)


def sample_features(intensity, rng: np.random.Generator, count: int, *, excluded=None, size: int = 32
                    ) -> np.ndarray:
    """The features of :func:`sample_patches`: (n, len(FEATURES))."""
    return sample_patches(intensity, rng, count, excluded=excluded, size=size)[0]


def features_at_offsets(intensity, offsets, rng: np.random.Generator, count: int, *, excluded=None,
                        size: int = 32) -> np.ndarray:
    """Features (n <= count, len(FEATURES)) of patches of ``intensity`` whose corners lie at ``offsets``
    (int (m, 3), voxels) from its brightest voxel not ``excluded``: where another file's patches were drawn.

    The offsets are tried in a random order (``rng``); one whose patch sticks out of the array or holds an
    ``excluded`` voxel is skipped, so fewer than ``count`` come back when too few fit.
    """
    intensity = np.asarray(intensity, dtype=np.float64)
    excluded = np.zeros(intensity.shape, bool) if excluded is None else np.asarray(excluded, bool)
    shape = np.array(intensity.shape)
    corners = []
    for corner in brightest_voxel(intensity, excluded) + np.asarray(offsets, int).reshape(-1, 3)[
            rng.permutation(len(offsets))]:
        if len(corners) == count:
            break
        if np.all(corner >= 0) and np.all(corner + size <= shape) and not excluded[
                tuple(slice(c, c + size) for c in corner)].any():
            corners.append(corner)
    return _features(intensity, corners, size)


def held_back_accuracy(simulated_fit, measured_fit, simulated_held, measured_held, *, seed: int = 0) -> dict:
    """Fit the classifier on the ``*_fit`` features, score it on the ``*_held`` ones (arrays (n, features)).

    Returns
    -------
    dict
        ``balanced_accuracy`` on the held-back patches, ``simulated_recall`` and ``measured_recall``
        (the shares of each kind it named right), and the patch counts ``fit`` and ``held`` per kind.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier

    fit = np.concatenate([simulated_fit, measured_fit])
    labels = np.concatenate([np.zeros(len(simulated_fit)), np.ones(len(measured_fit))])
    if not len(simulated_fit) or not len(measured_fit) or not len(simulated_held) or not len(measured_held):
        raise ValueError("the discriminator needs simulated and measured patches both to fit and to hold back")
    classifier = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.1, class_weight="balanced",
                                                random_state=seed)
    classifier.fit(fit, labels)
    simulated_recall = float((classifier.predict(simulated_held) == 0).mean())
    measured_recall = float((classifier.predict(measured_held) == 1).mean())
    return {"balanced_accuracy": (simulated_recall + measured_recall) / 2, "simulated_recall": simulated_recall,
            "measured_recall": measured_recall,
            "fit": {"simulated": len(simulated_fit), "measured": len(measured_fit)},
            "held": {"simulated": len(simulated_held), "measured": len(measured_held)}}


def flux_band(simulated_max, measured_max: float, factor: float = FLUX_FACTOR) -> np.ndarray:
    """Which recordings are at a measured file's flux: bool (n,), True where ``simulated_max`` (photons, (n,))
    is within ``factor`` of ``measured_max`` (either way)."""
    simulated_max = np.asarray(simulated_max, dtype=np.float64)
    return (simulated_max >= measured_max / factor) & (simulated_max <= measured_max * factor)


def feature_separation(simulated, measured) -> list[dict]:
    """How well each feature alone tells measured patches from simulated ones (arrays (n, features)).

    Returns
    -------
    list of dict
        One per :data:`FEATURES` entry, most separating first: ``feature``, ``auc`` (area under the ROC
        curve of the feature as a score, folded to 0.5-1: 0.5 tells nothing, 1 separates the two kinds
        exactly), ``measured_higher`` (bool, which side the measured patches lie on), and the medians
        ``simulated_median`` and ``measured_median``.
    """
    from sklearn.metrics import roc_auc_score

    simulated, measured = np.asarray(simulated, np.float64), np.asarray(measured, np.float64)
    if not len(simulated) or not len(measured):
        raise ValueError("feature_separation needs simulated and measured patches")
    labels = np.concatenate([np.zeros(len(simulated)), np.ones(len(measured))])
    rows = []
    for column, name in enumerate(FEATURES):
        auc = float(roc_auc_score(labels, np.concatenate([simulated[:, column], measured[:, column]])))
        rows.append({"feature": name, "auc": max(auc, 1.0 - auc), "measured_higher": auc > 0.5,
                     "simulated_median": float(np.median(simulated[:, column])),
                     "measured_median": float(np.median(measured[:, column]))})
    return sorted(rows, key=lambda row: -row["auc"])
