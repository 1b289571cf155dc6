"""What a pixel and a frame integrate: the intensity averaged over the pixel's area and the frame's rocking step.

A detector pixel does not sample the intensity at its centre: it counts every photon that falls on its area.
A frame of a rocking scan does the same along the rocking axis when the crystal turns while the frame counts
(a continuous, "fly" scan); in a step scan the crystal stands still and the frame samples one angle. So a
recorded voxel holds the intensity averaged over a box of ``w`` voxels along each axis (z, y, x) =
(rocking, detector rows, detector columns) centred on it::

    I_recorded(k) = (1 / w_z w_y w_x) integral over |u_a| <= w_a / 2 of I(k + u) du,

w = 1 for the detector's rows and columns, the share of the step a frame counts along the rocking axis (0 to
1). The box is in the array's own coordinates, so it is the pixel's parallelogram in reciprocal space on the
sheared grid of a rocking scan; on an orthogonal grid (a scan interpolated to the lab frame) it stands for it, a
blur of the same size.

It is computed exactly from the samples: the intensity of a crystal is the Fourier transform of its
autocorrelation (the Patterson function), which a grid oversampled at least twice along every axis holds
without aliasing, so ``I(k + u)`` between the samples is their trigonometric interpolation, and the box
average multiplies the Patterson function at lag ``j`` voxels (of the grid's real space, ``-n/2 <= j < n/2``)
by ``sinc(j w / n)`` along each axis (``sinc(t) = sin(pi t) / (pi t)``). It keeps the total and, at 1 px in
the detector plane, washes the first fringe out about as much as a partial coherence of sigma 0.3-0.4 px
does: a 1 px box has the RMS width of a Gaussian of sigma 1 / sqrt(12) = 0.29 px. Units: pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft


def box_average(intensity, widths_px, *, workers: int | None = None) -> np.ndarray:
    """``intensity`` (z, y, x) averaged over a box of ``widths_px`` voxels per axis around each voxel, float64.

    Exact (module docstring) where the grid is oversampled at least twice along each axis; periodic, like the
    discrete Fourier transform it uses. Widths of 0 return a float64 copy; the total is kept; negative
    round-off is clipped to 0.

    Parameters
    ----------
    intensity
        (z, y, x) array, non-negative.
    widths_px
        the box's width along (z, y, x), voxels in [0, 1], or one for all.
    workers
        FFT threads.

    Examples
    --------
    >>> k = np.arange(16)
    >>> fringes = np.broadcast_to(1 + np.cos(2 * np.pi * k / 4), (4, 4, 16))   # period 4 px along x
    >>> averaged = box_average(fringes, (0, 0, 1))
    >>> round(float(averaged[0, 0, 0]), 4), round(1 + float(np.sinc(1 / 4)), 4)  # the cosine times sinc(1/4)
    (1.9003, 1.9003)
    """
    intensity = np.asarray(intensity, dtype=np.float64)
    widths = np.broadcast_to(np.asarray(widths_px, dtype=np.float64), (3,))
    if intensity.ndim != 3:
        raise ValueError(f"intensity must be 3D (z, y, x), got shape {intensity.shape}")
    if np.any(widths < 0) or np.any(widths > 1) or not np.all(np.isfinite(widths)):
        raise ValueError(f"box widths must be in [0, 1] voxels per axis, got {widths_px!r}")
    if not np.any(widths > 0):
        return intensity.copy()
    with scipy.fft.set_workers(workers or 1):
        spectrum = scipy.fft.rfftn(intensity)
        for axis, (n, width) in enumerate(zip(intensity.shape, widths)):
            if width > 0:
                lag = scipy.fft.rfftfreq(n) * n if axis == 2 else scipy.fft.fftfreq(n) * n
                spectrum *= np.sinc(lag * width / n).reshape([-1 if a == axis else 1 for a in range(3)])
        averaged = scipy.fft.irfftn(spectrum, s=intensity.shape)
    return np.maximum(averaged, 0.0)


@dataclass(frozen=True)
class Integration:
    """What one recording's voxels integrate (kept for provenance).

    Attributes
    ----------
    widths_px
        (z, y, x) box widths, voxels: the share of the rocking step a frame counts, and the pixel's rows and
        columns (1 each, or 0 where the recording samples the pixel centres).
    """

    widths_px: tuple[float, float, float]


def draw_integration(rng: np.random.Generator, *, pixel_area: bool = False, rocking=(0.0, 0.0)) -> Integration:
    """A recording's box: 1 px in the detector plane with ``pixel_area`` (else 0), and along the rocking axis
    a share of the step uniform in ``rocking`` = (low, high), within [0, 1]; a range of one value draws nothing."""
    low, high = (float(v) for v in rocking)
    if not 0 <= low <= high <= 1:
        raise ValueError(f"rocking_integration must be a share of the step, 0 <= low <= high <= 1, got {rocking!r}")
    share = low if low == high else float(rng.uniform(low, high))
    plane = 1.0 if pixel_area else 0.0
    return Integration((share, plane, plane))
