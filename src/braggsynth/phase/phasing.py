"""Phase retrieval of a Bragg peak with cohere-core (ER and HIO with shrink-wrap), every pixel's amplitude
kept inside bounds: the measured pixels forced to the data, the unmeasured ones (a detector gap) free,
forced to a value, or kept inside an interval.

cohere-core 4.5.4 (the APS library, PyPI ``cohere-core``) builds on files and a parameter dict: its
``Rec`` reads the amplitudes from a ``.npy`` file, runs the configured ``algorithm_sequence`` and
exposes the object. Two things this module adds, in a small subclass:

- *bounded pixels*: cohere's modulus step sets every pixel's amplitude to the data; here the pixels marked
  unknown get the estimate's amplitude ``|F|`` clipped to ``[sqrt(lower), sqrt(upper)]`` of their intensity bounds.
  Bounds (0, inf) leave a pixel free (the modulus constraint of the measured pixels only, as PyNX does with
  a mask), equal bounds force it (a fill), others keep it in an interval (as PyNX's
  ``confidence_interval_factor_mask`` keeps its interpolated pixels);
- *a seeded start*: cohere draws its random start from numpy's global generator reseeded from the
  clock; here the start comes from ``numpy.random.default_rng(seed)``, and it is scaled so that its
  transform matches the data over the pinned pixels (else free pixels keep an absurd scale);
- *partial coherence* (``psf=True``, as PyNX's ``psf``): the modulus step compares the data with the
  estimate's ``|F|^2`` convolved by a point spread p (:mod:`braggsynth.simulate.coherence`),
  ``A = sqrt(|F|^2 * p)``,
  and scales F by clip(A) / A; p is a Gaussian (within :data:`PSF_RADIUS_PX` of its centre) of sigma
  :data:`PSF_START_SIGMA_PX` at first, fitted to the measured pixels every :data:`PSF_EVERY` iterations from
  the second quarter of the sequence on: along each axis in turn, a step of :data:`PSF_STEP_PX` is kept where
  it lowers the least squares of the amplitudes.  Three numbers, not a kernel: a free-form kernel fitted by
  Richardson-Lucy steps lowered the error but traded structure with the object.  Measured
  (``benchmarks/bench_psf.py``, 64^3 around the maximum, 3 starts, 620 iterations): on the raw SIXS scan
  the other starts agree with the best to a modulus PCC of 0.32 and 0.56 with ``psf`` (fitted sigmas
  0.3-0.5, 1.3-1.5, 1.0-1.1 px along z, y, x), against 0.91 and 0.92 as coherent data (0.25-0.27 with the
  free kernel); on the S11 transform, which has no coherence loss, 0.95-0.96 against 0.92-0.98 (sigmas of
  0.1-0.5 px).  On a simulated object whose data were spread by sigma 0.8 px it recovers the object better
  (``tests/test_phasing.py``); on the SIXS scan its starts disagree: compare starts before trusting it.
  cohere's own partial coherence (``ERpc``) forces every pixel to the data, the gaps' zeros included.

Arrays are (z, y, x); the object is returned with its origin at the array centre (fftshifted), in
cohere's convention for the direction of the transform.
"""

from __future__ import annotations

import contextlib
import io as _io
import tempfile
from pathlib import Path
from typing import NamedTuple

import numpy as np

#: cohere's recipe for its example scan, 620 iterations, ER and HIO, shrink-wrap every iteration
#: (Gaussian sigma 1, threshold 0.1) — at least 600 iterations, as PyNX's and cohere's usual recipes run.
DEFAULT_SEQUENCE = "3*(20*ER+180*HIO)+20*ER"
#: Shrink-wrap trigger step of the default recipe (iterations).
DEFAULT_SHRINK_WRAP_EVERY = 1
#: Partial coherence (``psf=True``), the point spread's starting Gaussian sigma (pixels, every axis).
PSF_START_SIGMA_PX = 0.5
#: Iterations between two steps of the point spread's fit.
PSF_EVERY = 20
#: Extent of the point spread, pixels from its centre per axis.
PSF_RADIUS_PX = 5
#: Largest sigma of the point spread, pixels.
PSF_MAX_SIGMA_PX = 2.0
#: Step of the point spread's fit, pixels.
PSF_STEP_PX = 0.1


def algorithm_steps(sequence: str) -> list[str]:
    """The algorithm of each iteration of a cohere ``algorithm_sequence`` such as ``3*(20*ER+180*HIO)+20*ER``,
    in order (``["ER", ..., "HIO", ...]``).

    Raises ValueError, naming the sequence, when it is not sums of ``N*ALG`` and ``N*(...)`` terms."""
    import re

    tokens = re.findall(r"\d+|[A-Za-z]+|[*+()]|\S", sequence)
    position = 0

    def fail():
        raise ValueError(f"algorithm sequence {sequence!r} is not of the form 3*(20*ER+180*HIO)+20*ER")

    def take():
        nonlocal position
        if position >= len(tokens):
            fail()
        position += 1
        return tokens[position - 1]

    def term() -> list[str]:
        token = take()
        count = 1
        if token.isdigit():
            count = int(token)
            if take() != "*":
                fail()
            token = take()
        if token == "(":
            inner = total()
            if take() != ")":
                fail()
            return count * inner
        if token.isalpha():
            return count * [token]
        fail()

    def total() -> list[str]:
        found = term()
        while position < len(tokens) and tokens[position] == "+":
            take()
            found += term()
        return found

    found = total()
    if position != len(tokens):
        fail()
    return found


def iterations(sequence: str) -> int:
    """Number of iterations of a cohere ``algorithm_sequence`` (:func:`algorithm_steps`)."""
    return len(algorithm_steps(sequence))


def release_iteration(sequence: str, fraction: float) -> int:
    """The iteration after which ``fraction`` of the sequence's HIO and RAAR iterations have run (PyNX's
    ``zero_mask=auto`` frees its masked pixels after 60 % of them); all its iterations without HIO or RAAR."""
    steps = algorithm_steps(sequence)
    projections = np.cumsum([step.upper() in ("HIO", "RAAR") for step in steps])
    if not projections.size or projections[-1] == 0:
        return len(steps)
    return int(np.searchsorted(projections, fraction * projections[-1], side="left")) + 1


class Reconstruction(NamedTuple):
    """A phase retrieval's result: the centred complex object (z, y, x), its bool support, the modulus
    error after every iteration (the last is the final error), and with ``psf=True`` the fitted point spread
    of partial coherence (centred, sum 1; None without)."""

    obj: np.ndarray
    support: np.ndarray
    errors: np.ndarray
    psf: np.ndarray | None = None

    @property
    def error(self) -> float:
        return float(self.errors[-1])


def _rec_class():
    import cohere_core.controller.phasing as cohere
    from cohere_core.utilities.dvc_utils import get_norm  # sum of squared moduli, on cohere's device

    class BoundedRec(cohere.Rec):
        """cohere's Rec whose modulus step clips each amplitude to [lower, upper], started from ``start``."""

        def __init__(self, params, data_file, lower, upper, start, library, psf_start=None, release=None,
                     release_at=None):
            super().__init__(params, data_file, library, debug=True)
            self._lower, self._upper, self._start, self._library = lower, upper, start, library
            self._psf_start = psf_start  # the iteration the point spread's fit starts at; None: no point spread
            self._release = np.zeros(lower.shape, bool) if release is None else release  # freed at release_at
            self._release_at, self._iteration = release_at, 0
            self.point_spread = None

        def init_dev(self, device_id):
            status = super().init_dev(device_id)
            lib = cohere.devlib
            self.lower = lib.from_numpy(np.fft.fftshift(self._lower).astype(np.float32), device=self.dev)
            self.upper = lib.from_numpy(np.fft.fftshift(self._upper).astype(np.float32), device=self.dev)
            self.pinned = np.fft.fftshift((self._lower == self._upper) & ~self._release)
            if self._psf_start is not None:
                self.point_spread = _PointSpread(np.fft.fftshift(self._lower.astype(np.float64) ** 2), self.pinned,
                                                 self._psf_start)
            return status

        def init_iter_loop(self, dir=None, gen=None):
            status = super().init_iter_loop(dir, gen)
            lib = cohere.devlib
            start = lib.from_numpy(np.fft.fftshift(self._start).astype(np.complex64), device=self.dev) * self.support
            reciprocal = lib.to_numpy(lib.absolute(lib.ifft(start)))
            scale = np.linalg.norm(lib.to_numpy(self.lower)[self.pinned]) / max(
                np.linalg.norm(reciprocal[self.pinned]), 1e-30)
            self.ds_image = start * scale
            return status

        def modulus(self):
            lib = cohere.devlib
            if self._iteration == self._release_at:  # from now on the released pixels are free
                release = np.fft.fftshift(self._release)
                self.lower = lib.from_numpy(np.where(release, 0.0, lib.to_numpy(self.lower)).astype(np.float32),
                                            device=self.dev)
                self.upper = lib.from_numpy(np.where(release, np.inf, lib.to_numpy(self.upper)).astype(np.float32),
                                            device=self.dev)
            self._iteration += 1
            amplitude = lib.absolute(self.rs_amplitudes)
            if self.point_spread is not None:
                coherent = lib.to_numpy(amplitude).astype(np.float64) ** 2
                spread = lib.from_numpy(np.sqrt(self.point_spread.spread(coherent)).astype(np.float32),
                                        device=self.dev)
                target = self._clipped(spread)
                self.errs.append(float(get_norm(spread - target) / get_norm(target)) ** 0.5)
                self.rs_amplitudes *= self.get_ratio(target, spread)
                return
            target = self._clipped(amplitude)
            self.errs.append(float(get_norm(amplitude - target) / get_norm(target)) ** 0.5)
            self.rs_amplitudes *= self.get_ratio(target, amplitude)

        def _clipped(self, amplitude):
            lib = cohere.devlib
            if self._library == "torch":  # cohere's torch library does not implement clip
                target = lib.where(amplitude < self.lower, self.lower,
                                   lib.where(amplitude > self.upper, self.upper, amplitude))
            else:
                target = lib.clip(amplitude, self.lower, self.upper)
            return target

    return BoundedRec


class _PointSpread:
    """The Gaussian point spread of ``psf=True`` and its fit (module docstring), in cohere's layout.

    ``data`` is the measured intensity, ``measured`` the pixels it holds; the fit starts at iteration
    ``start``.  ``kernel`` is the point spread (sum 1), ``sigma`` its widths (pixels, per axis).
    """

    def __init__(self, data, measured, start: int):
        self.shape, self.measured, self.start = data.shape, measured, int(start)
        self.amplitudes = np.sqrt(data[measured])
        self.iteration = 0
        self._set(np.full(3, PSF_START_SIGMA_PX))

    def _set(self, sigma) -> None:
        from scipy import fft

        self.sigma = sigma
        self.kernel = _gaussian_psf(self.shape, sigma)
        self._spectrum = fft.rfftn(self.kernel)

    def _spread(self, transform, spectrum) -> np.ndarray:
        from scipy import fft

        return np.maximum(fft.irfftn(transform * spectrum, s=self.shape), 0.0)

    def spread(self, coherent) -> np.ndarray:
        """``|F|^2`` (``coherent``) convolved by the point spread (periodic), after a step of its fit when due."""
        from scipy import fft

        transform = fft.rfftn(coherent)
        if self.iteration >= self.start and (self.iteration - self.start) % PSF_EVERY == 0:
            self._fit(transform)
        self.iteration += 1
        return self._spread(transform, self._spectrum)

    def _fit(self, transform) -> None:
        """One pass of the fit: along each axis in turn, the sigma among sigma - :data:`PSF_STEP_PX`, sigma,
        sigma + step (within 0 and :data:`PSF_MAX_SIGMA_PX`) whose spread best matches the measured amplitudes
        (least squares of sqrt(I) over the measured pixels)."""
        from scipy import fft

        def misfit(trial, spectrum=None):
            spectrum = fft.rfftn(_gaussian_psf(self.shape, trial)) if spectrum is None else spectrum
            spread = self._spread(transform, spectrum)
            return float(np.sum((np.sqrt(spread[self.measured]) - self.amplitudes) ** 2))

        sigma = np.array(self.sigma, dtype=np.float64)
        best = misfit(sigma, self._spectrum)
        for axis in range(3):
            for step in (-PSF_STEP_PX, PSF_STEP_PX):
                trial = sigma.copy()
                trial[axis] = min(max(trial[axis] + step, 0.0), PSF_MAX_SIGMA_PX)
                if trial[axis] != sigma[axis] and (found := misfit(trial)) < best:
                    sigma, best = trial, found
                    break
        self._set(sigma)


def _gaussian_psf(shape, sigma) -> np.ndarray:
    """The Gaussian point spread of ``sigma`` (pixels per axis) in cohere's layout, within :data:`PSF_RADIUS_PX`."""
    from braggsynth.simulate.coherence import point_spread

    spread = np.fft.ifftshift(point_spread(shape, sigma)) * _psf_support(shape)
    return spread / spread.sum()


def _psf_support(shape) -> np.ndarray:
    """Bool, in cohere's layout: the pixels within :data:`PSF_RADIUS_PX` of index 0 along every axis (periodic)."""
    near = [np.minimum(np.arange(n), n - np.arange(n)) <= PSF_RADIUS_PX for n in shape]
    return near[0][:, None, None] & near[1][None, :, None] & near[2][None, None, :]


def phase(intensity, *, unknown=None, bounds=None, seed: int, sequence: str = DEFAULT_SEQUENCE,
          shrink_wrap_every: int = DEFAULT_SHRINK_WRAP_EVERY, shrink_wrap_threshold: float = 0.1,
          shrink_wrap_sigma: float = 1.0, support_fraction: float = 0.5, library: str = "np",
          device: int = -1, psf: bool = False, free_after: float | None = None) -> Reconstruction:
    """Reconstruct the object of a Bragg peak from its intensity.

    Parameters
    ----------
    intensity
        (z, y, x) array, photons, peak near the centre; values of unknown pixels are ignored.
    unknown
        (z, y, x) bool, pixels whose amplitude the modulus step only keeps inside ``bounds`` (None:
        every pixel is forced to the data, as plain cohere does, zeros included).
    bounds
        (lower, upper) intensities, photons, (z, y, x) arrays or scalars, that bound the unknown
        pixels' ``|F|^2`` (default (0, inf): free pixels). Equal bounds force a pixel to that value.
    seed
        seeds the random start.
    sequence
        cohere ``algorithm_sequence``.
    shrink_wrap_every, shrink_wrap_threshold, shrink_wrap_sigma
        shrink-wrap trigger step, threshold
        (of the maximum of the blurred modulus) and Gaussian sigma (voxels).
    support_fraction
        side of the starting box support, as a fraction of each axis.
    library, device
        cohere's array library ("np" numpy, "torch", "cp" cupy) and GPU id (-1: the CPU).
    psf
        model partial coherence (module docstring): the data are ``|F|^2`` convolved by a fitted point spread.
    free_after
        the unknown pixels keep their ``bounds`` until this fraction of the sequence's HIO and RAAR iterations
        has run (:func:`release_iteration`), then are free; None: bounds throughout. PyNX's ``zero_mask=auto``
        is bounds (0, 0) with ``free_after=0.6``.

    Returns
    -------
    Reconstruction
        The object and support, both centred, and the modulus error per iteration,
        ``||F| - P|F|| / ||P|F|||`` with P the clipping of the modulus step (over the measured pixels and the
        bounded pixels outside their interval; 0 for a perfect fit).
    """
    intensity = np.asarray(intensity, dtype=np.float64)
    unknown = np.zeros(intensity.shape, bool) if unknown is None else np.asarray(unknown, dtype=bool)
    if unknown.shape != intensity.shape:
        raise ValueError(f"unknown mask of shape {unknown.shape} for an intensity of shape {intensity.shape}")
    lower, upper = (0.0, np.inf) if bounds is None else bounds
    lower, upper = (np.broadcast_to(np.asarray(b, dtype=np.float64), intensity.shape) for b in (lower, upper))
    if np.any(lower[unknown] > upper[unknown]):
        raise ValueError("bounds: a lower bound above its upper bound")
    if free_after is not None and not 0.0 <= float(free_after) <= 1.0:
        raise ValueError(f"free_after {free_after}: expected a fraction of the HIO and RAAR iterations, 0 to 1")
    measured = np.sqrt(np.clip(intensity, 0.0, None))
    lower = np.where(unknown, np.sqrt(np.clip(lower, 0.0, None)), measured)
    upper = np.where(unknown, np.sqrt(np.clip(upper, 0.0, None)), measured)
    if not lower[lower == upper].any():
        raise ValueError("no pixel is measured: nothing to phase against")
    rng = np.random.default_rng(seed)
    start = rng.random(intensity.shape) + 1j * rng.random(intensity.shape)
    params = {"algorithm_sequence": sequence, "shrink_wrap_trigger": [1, int(shrink_wrap_every)],
              "shrink_wrap_type": "GAUSS", "shrink_wrap_threshold": float(shrink_wrap_threshold),
              "shrink_wrap_gauss_sigma": float(shrink_wrap_sigma),
              "initial_support_area": [float(support_fraction)] * 3}
    with tempfile.TemporaryDirectory(prefix="braggsynth-phasing-") as folder:
        data_file = str(Path(folder) / "data.npy")
        np.save(data_file, np.where(lower == upper, lower, 0.0).astype(np.float32))
        release_at = None if free_after is None else release_iteration(sequence, free_after)
        rec = _rec_class()(params, data_file, lower, upper, start, library,
                           iterations(sequence) // 4 if psf else None,
                           release=None if release_at is None else unknown, release_at=release_at)
        try:
            with contextlib.redirect_stdout(_io.StringIO()):  # cohere prints shapes and timings
                failed = rec.init_dev(device) < 0 or rec.init_iter_loop() < 0 or rec.iterate() < 0
        except Exception as error:  # cohere runs in debug mode: its own errors, and its libraries', come here
            raise RuntimeError(f"cohere-core could not run the reconstruction ({type(error).__name__}: "
                               f"{str(error).strip().splitlines()[0] if str(error).strip() else ''})") from error
        if failed:
            raise RuntimeError("cohere-core could not run the reconstruction")
    import cohere_core.controller.phasing as cohere

    obj = np.fft.ifftshift(cohere.devlib.to_numpy(rec.get_image()))
    support = np.fft.ifftshift(cohere.devlib.to_numpy(rec.get_support())).astype(bool)
    fitted = None if rec.point_spread is None else np.fft.fftshift(rec.point_spread.kernel)
    return Reconstruction(obj, support, np.asarray(rec.errs, dtype=np.float64), fitted)


def true_object(amplitude) -> np.ndarray:
    """The object a perfect reconstruction of this grid finds: the exact complex amplitude F(q) (NUFFT of
    the relaxed atoms) transformed as cohere transforms, centred. Its modulus is the band-limited atomic
    density, its phase 2 pi G . u of the displacement field u (up to cohere's sign convention)."""
    from scipy import fft

    return np.fft.ifftshift(fft.fftn(np.fft.fftshift(np.asarray(amplitude, dtype=np.complex128)), norm="forward"))


def diffraction(obj) -> np.ndarray:
    """``|F|^2`` of a centred object (cohere's transform), centred: what the reconstruction puts in every pixel,
    the unmeasured ones included (up to a scale: cohere normalises the object's maximum to 1)."""
    from scipy import fft

    return np.abs(np.fft.ifftshift(fft.ifftn(np.fft.fftshift(np.asarray(obj)), norm="forward"))) ** 2


#: The fill of a gap left free during phasing, the reconstruction's own ``|F|^2`` there.
GAP_FILL = "phasing (gap free)"


def fit_scale(model, counts, known) -> float:
    """The least-squares scale s of ``model`` to ``counts`` over the ``known`` pixels: argmin sum (counts - s model)^2
    (cohere normalises the object's maximum to 1, so a reconstruction's ``|F|^2`` has no scale of its own)."""
    model, counts = np.asarray(model, dtype=np.float64)[known], np.asarray(counts, dtype=np.float64)[known]
    return float(np.sum(counts * model) / max(np.sum(model**2), 1e-300))


def gap_fill(obj, counts, gap) -> np.ndarray:
    """``counts`` with the gap filled by the reconstruction's ``|F|^2`` (:func:`diffraction`), scaled to the
    measured pixels (:func:`fit_scale`)."""
    counts = np.asarray(counts, dtype=np.float64)
    model = diffraction(obj)
    return np.where(gap, fit_scale(model, counts, ~np.asarray(gap, dtype=bool)) * model, counts)


def fill(intensity, gap, *, seed: int = 0, sequence: str = DEFAULT_SEQUENCE) -> np.ndarray:
    """Fill a gap by phase retrieval: phase with the gap's pixels free, then :func:`gap_fill`."""
    return gap_fill(phase(intensity, unknown=gap, seed=seed, sequence=sequence).obj, intensity, gap)


def twin(obj) -> np.ndarray:
    """The twin image: conj(o(-r)), which has the same diffraction intensity."""
    return np.conj(np.asarray(obj)[::-1, ::-1, ::-1])


def align(obj, reference) -> np.ndarray:
    """``obj`` or its twin, whichever matches ``reference`` better, moved by the integer shift that maximises
    their cross-correlation and multiplied by the global phase factor that best matches ``reference``."""
    reference = np.asarray(reference, dtype=np.complex128)
    spectrum = np.fft.fftn(reference)
    best, best_peak = None, -1.0
    for candidate in (np.asarray(obj, dtype=np.complex128), twin(obj)):
        correlation = np.fft.ifftn(spectrum * np.conj(np.fft.fftn(candidate)))
        peak = np.unravel_index(np.argmax(np.abs(correlation)), correlation.shape)
        if np.abs(correlation[peak]) > best_peak:
            best_peak = float(np.abs(correlation[peak]))
            best = np.roll(candidate, peak, axis=(0, 1, 2))
    overlap = np.vdot(best, reference)
    return best * (overlap / abs(overlap) if abs(overlap) > 0 else 1.0)


def compare(obj, truth, *, support_threshold: float = 0.3) -> dict:
    """Errors of a reconstruction against the true object, after registration (:func:`align`) and
    removal of the remaining linear phase ramp (a sub-voxel shift), fitted over the true support.

    Returns ``modulus_pcc`` (Pearson correlation of the moduli, whole array), ``phase_rms_rad`` (RMS of
    the wrapped phase difference over the true support: voxels where ``|truth| > support_threshold``
    of its maximum) and ``support_voxels``.
    """
    truth = np.asarray(truth, dtype=np.complex128)
    aligned = align(obj, truth)
    support = np.abs(truth) > support_threshold * np.abs(truth).max()
    difference = np.angle(truth[support] * np.conj(aligned[support]))
    points = np.argwhere(support).astype(np.float64)
    design = np.column_stack([points - points.mean(axis=0), np.ones(len(points))])
    ramp, *_ = np.linalg.lstsq(design, difference, rcond=None)
    residual = np.angle(np.exp(1j * (difference - design @ ramp)))
    modulus_pcc = float(np.corrcoef(np.abs(truth).ravel(), np.abs(aligned).ravel())[0, 1])
    return {"modulus_pcc": modulus_pcc, "phase_rms_rad": float(np.sqrt(np.mean(residual**2))),
            "support_voxels": int(support.sum())}
