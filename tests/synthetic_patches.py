"""Tiny synthetic patch datasets for the model tests: smooth fringe patterns with a gap through the centre."""

from __future__ import annotations

import h5py
import numpy as np

from braggsynth.data.patches import gap_through_centre, normalise, scale
from braggsynth.simulate import detector
from braggsynth.simulate.detector import ORIENTATIONS

SPLITS = ("train", "validation", "test")


def fringe_volume(shape, rng: np.random.Generator, max_counts: float = 1e4) -> np.ndarray:
    """Intensity (photons) of a product of sinc^2 fringes with random centre and period, plus a flat background."""
    intensity = np.ones(shape)
    for axis, n in enumerate(shape):
        coordinate = np.arange(n) - rng.uniform(0.3, 0.7) * n
        period = rng.uniform(5.0, 9.0)
        profile = np.sinc(coordinate / period) ** 2
        intensity = intensity * profile.reshape([-1 if a == axis else 1 for a in range(len(shape))])
    return max_counts * intensity + 0.5


def central_gap_scan(shape=(64, 64, 64), width=3, seed=2):
    """Noisy fringes with one gap plane through the middle of x: no 32^3 window is clear of it."""
    rng = np.random.default_rng(seed)
    truth = rng.poisson(fringe_volume(shape, rng, max_counts=1e5)).astype(np.float32)
    gap = detector.gap_planes(shape, "vertical", (0, shape[2] // 2 - width // 2), width)
    return np.where(gap, 0, truth), gap


def fringe_patches(count: int, rng: np.random.Generator, patch_size: int = 32, gap_widths=(3, 6)) -> dict:
    """``count`` normalised fringe patches in the dataset layout (input, target, expected, mask, gap_width_px,
    bounds): Poisson counts of the fringes (``target``) and the fringes themselves (``expected``)."""
    out = {"input": np.empty((count,) + (patch_size,) * 3, np.float32),
           "target": np.empty((count,) + (patch_size,) * 3, np.float32),
           "expected": np.empty((count,) + (patch_size,) * 3, np.float32),
           "mask": np.empty((count,) + (patch_size,) * 3, bool),
           "gap_width_px": rng.choice(np.asarray(gap_widths), size=count).astype(np.int16),
           "bounds": np.empty((count, 2), np.float64)}
    for i in range(count):
        expected = fringe_volume((patch_size,) * 3, rng)
        counts = rng.poisson(expected)
        orientation = ORIENTATIONS[i % 3]
        mask = gap_through_centre(patch_size, int(out["gap_width_px"][i]), orientation)
        out["input"][i], (low, high) = normalise(counts, mask)
        out["target"][i] = scale(counts, low, high)
        out["expected"][i] = scale(expected, low, high)
        out["mask"][i] = mask
        out["bounds"][i] = low, high
    return out


def write_fringe_dataset(path, counts=(64, 16, 16), seed: int = 0, gap_widths=(3, 6), patch_size: int = 32) -> None:
    """An HDF5 dataset with train / validation / test groups, one patch per chunk."""
    rng = np.random.default_rng(seed)
    with h5py.File(path, "w") as h5:
        for split, count in zip(SPLITS, counts):
            group = h5.create_group(split)
            for name, array in fringe_patches(count, rng, patch_size, gap_widths).items():
                chunks = (1,) + array.shape[1:] if array.ndim == 4 else None
                group.create_dataset(name, data=array, chunks=chunks)
