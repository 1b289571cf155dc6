"""Measured (experimental) data: Bragg peaks of real particles, for patches and tests.

A phase-retrieval reconstruction (complex object, modulus = electron density,
phase = projected displacement) gives back a realistic Bragg peak of a real
particle: the squared modulus of its zero-padded Fourier transform.  Files of
measured intensities are read by :func:`braggsynth.io.measured.read_measured`.
"""

from __future__ import annotations

import numpy as np


def fit_region(shape) -> np.ndarray:
    """Bool (z, y, x) mask of the voxels of a measured volume that training may use: the first half
    of the rocking axis, z < n_z // 2.

    The other half is kept for evaluation (:func:`scoring_region`): a model is never
    scored on a measured voxel it was fitted or selected on.
    """
    region = np.zeros(tuple(int(n) for n in shape), dtype=bool)
    region[: region.shape[0] // 2] = True
    return region


def scoring_region(shape) -> np.ndarray:
    """Bool (z, y, x) mask of the voxels of a measured volume the evaluation scores: z >= n_z // 2."""
    return ~fit_region(shape)


def peak_from_object(obj, shape) -> np.ndarray:
    """Bragg-peak intensity ``|FFT(object zero-padded to shape)|^2``, centred (float64, z y x).

    Parameters
    ----------
    obj
        complex array (z, y, x), or (modes, z, y, x) for a mode
        decomposition, whose intensities add (incoherent sum over modes).
    shape
        (n_z, n_y, n_x), each at least the object's size.  The
        oversampling along an axis is n / (extent of the particle in voxels);
        phase retrieval wants at least 2.

    Notes
    -----
    The object is centred in the padded box; the zero frequency (the Bragg
    position) is moved to index n // 2 (``fftshift``), the convention of the
    simulated peaks.
    """
    obj = np.asarray(obj)
    if obj.ndim == 3:
        obj = obj[None]
    if obj.ndim != 4:
        raise ValueError(f"object must be (z, y, x) or (modes, z, y, x), got shape {obj.shape}")
    shape = tuple(int(n) for n in shape)
    if len(shape) != 3 or any(n < m for n, m in zip(shape, obj.shape[1:])):
        raise ValueError(f"shape {shape} must be 3D and at least the object's {obj.shape[1:]}")
    start = [(n - m) // 2 for n, m in zip(shape, obj.shape[1:])]
    where = tuple(slice(s, s + m) for s, m in zip(start, obj.shape[1:]))
    intensity = np.zeros(shape, dtype=np.float64)
    padded = np.zeros(shape, dtype=np.complex128)
    for mode in obj:
        padded[where] = mode
        intensity += np.abs(np.fft.fftshift(np.fft.fftn(np.fft.ifftshift(padded)))) ** 2
    return intensity
