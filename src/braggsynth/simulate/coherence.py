"""Partial coherence: the 3D point spread that washes out the fringes of a measured Bragg peak.

A beam of finite coherence records the intensity convolved with a point
spread function (PSF) in reciprocal space::

    I_measured(q) = (I * p)(q),   sum_q p(q) = 1,

which is the coherent pattern's Patterson function (the object's
autocorrelation) multiplied by the beam's mutual coherence function, the
Fourier transform of p.  A Gaussian p of sigma s pixels along an axis of N
pixels keeps the autocorrelation out to about N / (2 pi s) real-space voxels:
s = 1 px on 128 px limits coherent interference to about 20 voxels.  PyNX fits
p during phasing (``psf=True``) as a pseudo-Voigt, a Gaussian with heavier
tails added.  Here p is the mix of a Gaussian and a 3D Lorentzian of the same
full width at half maximum::

    p(k) = (1 - eta) G(k) / sum G + eta L(k) / sum L,
    G = exp(-rho^2 / 2),  L = (1 + rho^2 / gamma^2)^-2,  gamma^2 = 2 ln 2 / (sqrt 2 - 1),
    rho^2 = sum_a (k_a / sigma_a)^2,

k in pixels from the centre, sigma_a the Gaussian's sigma along axis a
(z, y, x) and eta the share of the photons in the Lorentzian.  L is the
Fourier transform of an exponentially decaying coherence function, ``exp(-|x| / xi)``,
the 3D analogue of a Lorentzian: its tails fall as k^-4, so that, unlike
1 / (1 + rho^2), it spreads a finite share of the photons over a finite box.  The convolution is
periodic (FFT); with the signal of a Bragg peak fading towards the box's edges,
nothing wraps that a detector would have recorded.  Units: pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft

#: gamma^2 of the Lorentzian (module docstring), in units of sigma^2; its half maximum falls where the Gaussian's does.
LORENTZIAN_GAMMA2 = 2 * np.log(2) / (np.sqrt(2) - 1)


def point_spread(shape, sigma_px, lorentzian_fraction: float = 0.0) -> np.ndarray:
    """The pseudo-Voigt PSF of the module docstring on a (z, y, x) grid of ``shape``, centred at n // 2, sum 1.

    Parameters
    ----------
    shape
        (n_z, n_y, n_x).
    sigma_px
        the Gaussian's sigma per axis (z, y, x), pixels, or one for all; an axis of sigma 0 is not spread.
    lorentzian_fraction
        eta in [0, 1].

    Examples
    --------
    >>> p = point_spread((16, 16, 16), (1.0, 0.5, 0.0), 0.2)
    >>> round(float(p.sum()), 12), p.shape, int(np.count_nonzero(p.sum(axis=(0, 1))))
    (1.0, (16, 16, 16), 1)
    """
    shape = tuple(int(n) for n in shape)
    sigma = np.broadcast_to(np.asarray(sigma_px, dtype=np.float64), (3,))
    if len(shape) != 3 or np.any(sigma < 0) or not np.all(np.isfinite(sigma)):
        raise ValueError(f"point_spread needs a 3D shape and sigmas >= 0 per axis, got {shape} and {sigma_px!r}")
    if not 0.0 <= lorentzian_fraction <= 1.0:
        raise ValueError(f"lorentzian_fraction must be in [0, 1], got {lorentzian_fraction!r}")
    rho2 = np.zeros(shape)
    flat = np.ones(shape, dtype=bool)  # axes of sigma 0: the PSF is a delta along them
    for axis, (n, s) in enumerate(zip(shape, sigma)):
        k = (np.arange(n) - n // 2).reshape([-1 if a == axis else 1 for a in range(3)])
        if s > 0:
            rho2 = rho2 + (k / s) ** 2
        else:
            flat = flat & (k == 0)
    gaussian = np.where(flat, np.exp(-rho2 / 2), 0.0)
    lorentzian = np.where(flat, (1 + rho2 / LORENTZIAN_GAMMA2) ** -2, 0.0)
    return (1 - lorentzian_fraction) * gaussian / gaussian.sum() + lorentzian_fraction * lorentzian / lorentzian.sum()


def partial_coherence(intensity, sigma_px, lorentzian_fraction: float = 0.0, *, workers: int | None = None
                      ) -> np.ndarray:
    """``intensity`` (z, y, x) convolved with :func:`point_spread` (periodic, by FFT): float64, same total.

    All sigmas 0 returns a float64 copy.  Negative round-off of the FFT is clipped to 0.
    """
    intensity = np.asarray(intensity, dtype=np.float64)
    if intensity.ndim != 3:
        raise ValueError(f"intensity must be 3D (z, y, x), got shape {intensity.shape}")
    sigma = np.broadcast_to(np.asarray(sigma_px, dtype=np.float64), (3,))
    if not np.any(sigma > 0):
        return intensity.copy()
    psf = np.fft.ifftshift(point_spread(intensity.shape, sigma, lorentzian_fraction))
    with scipy.fft.set_workers(workers or 1):
        spread = scipy.fft.irfftn(scipy.fft.rfftn(intensity) * scipy.fft.rfftn(psf), s=intensity.shape)
    return np.maximum(spread, 0.0)


def spread_widths(psf) -> np.ndarray:
    """RMS width (pixels) along (z, y, x) of a centred point spread (centre at n // 2): sqrt of its second
    moments about the centre; a Gaussian's sigma, and more for heavier tails."""
    psf = np.asarray(psf, dtype=np.float64)
    total = psf.sum()
    widths = np.empty(3)
    for axis, n in enumerate(psf.shape):
        k = np.arange(n) - n // 2
        profile = psf.sum(axis=tuple(a for a in range(3) if a != axis))
        widths[axis] = np.sqrt((profile * k**2).sum() / total)
    return widths


@dataclass(frozen=True)
class Coherence:
    """The partial coherence of one recording (kept for provenance).

    Attributes
    ----------
    sigma_px
        (z, y, x) Gaussian sigmas of the PSF, pixels.
    lorentzian_fraction
        eta of the pseudo-Voigt.
    """

    sigma_px: tuple[float, float, float]
    lorentzian_fraction: float


def draw_coherence(rng: np.random.Generator, *, sigma_px=(0.0, 0.0), lorentzian_fraction=(0.0, 0.0)) -> Coherence:
    """Draw a recording's PSF: each axis's sigma uniform in ``sigma_px`` = (low, high) pixels, independently,
    then eta uniform in ``lorentzian_fraction`` = (low, high)."""
    low, high = (float(v) for v in sigma_px)
    first, last = (float(v) for v in lorentzian_fraction)
    if not 0 <= low <= high or not 0 <= first <= last <= 1:
        raise ValueError(f"coherence ranges must satisfy 0 <= low <= high (and eta <= 1), got sigma_px "
                         f"{tuple(sigma_px)}, lorentzian_fraction {tuple(lorentzian_fraction)}")
    sigma = rng.uniform(low, high, size=3)
    eta = rng.uniform(first, last)
    return Coherence(tuple(float(s) for s in sigma), float(eta))
