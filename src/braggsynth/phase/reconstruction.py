"""Phase retrieval of a scan whose detector gaps are held in one of several *modes*, and the decision of the
mode from what the scan's data cannot see.

What the modulus step does with a gap pixel (:func:`gap_bounds`; intensities, photons):

- ``zero``: forced to 0, what plain cohere does with a scan whose gaps hold zeros;
- ``free``: left free (bounds 0 and infinity), what PyNX does with a mask;
- ``forced``: forced to the fill (an inpainting model's, or a baseline's);
- ``interval``: kept inside the fill's calibrated interval (:mod:`braggsynth.learn.uncertainty`);
- ``narrowed``: kept inside that interval narrowed voxel by voxel by how hidden its Fourier component is
  (:func:`narrowed_interval`): nearly forced deep inside a wide gap, wider than calibrated beside measured pixels;
- ``mask-interp``: PyNX's ``mask_interp=8,2`` recipe, kept within 0.5-1.2 of an inverse-distance interpolation of
  the measured intensities (:func:`mask_interp_fill`), no model;
- ``zero-mask``: PyNX's ``zero_mask=auto``, forced to 0 for the first 60 % of the HIO iterations, then free;
- ``auto`` (the recommended default): ``free`` where the data pin the gap down, else ``narrowed``, decided by
  :func:`decide_mode` from the unconstrained modes of the gap (:mod:`braggsynth.phase.unconstrained`) on the
  support of a short phasing, never from the gap's pixels.

The earlier automatic choice, which phased each candidate mode once with a measured column hidden on each side
of the gap and kept the mode that predicted those columns best, is gone: on the validation cases of the
default's threshold it fell more than 0.03 below the best of free, forced and interval in 4 of 21 cases, and it
cost three phasings (docs: real-space results).

Arrays are (z, y, x).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from braggsynth.phase import phasing
from braggsynth.phase.unconstrained import HiddenModes, hidden_fraction, unconstrained_modes

#: What phasing does with a gap pixel (``braggsynth phase --gaps``).
MODES = ("zero", "free", "forced", "interval", "narrowed", "mask-interp", "zero-mask", "auto")
#: Modes that need an inpainting model's fill.
MODEL_MODES = ("forced", "interval", "narrowed", "auto")
#: Modes that keep a gap pixel between a lower and an upper bound (:func:`gap_bounds`).
BOUNDED_MODES = ("interval", "narrowed", "mask-interp")
#: :func:`decide_mode` leaves the gap free when less than this share of its power lies in modes at least half
#: hidden (lambda > 0.5): then a tenth of it or more is in modes the data mostly see. Chosen on simulated
#: validation patterns and the raw SIXS scan (docs: real-space results): every gap off the maximum and 3 px ones
#: through it fell under 0.8, every gap of 6 px or more through it above 0.93; the share of modes hidden above
#: 0.9 did not separate them (0.00 for 6 px through the SIXS maximum, where free pixels lost 0.29).
FREE_BELOW = 0.9
#: The hidden fraction at which :func:`narrowed_interval` keeps the calibrated interval as it is (half hidden).
CALIBRATED_AT = 0.5
#: The short phasing whose object :func:`decide_mode` analyses (120 iterations, a fifth of the default's).
SUPPORT_SEQUENCE = "20*ER+80*HIO+20*ER"
#: The support :func:`decide_mode` analyses: where the short phasing's modulus, smoothed by a Gaussian of
#: :data:`SUPPORT_SIGMA_PX`, exceeds this share of its maximum (its own shrink-wrap support, at 0.1 after 120
#: iterations, is 1.5-2.5 times the converged one and overstates what the gap hides).
SUPPORT_THRESHOLD = 0.3
#: Gaussian sigma of that smoothing, voxels.
SUPPORT_SIGMA_PX = 1.0
#: PyNX's ``confidence_interval_factor_mask``: ``mask-interp`` keeps a gap pixel within these multiples of its
#: interpolated intensity.
MASK_INTERP_INTERVAL = (0.5, 1.2)
#: PyNX's ``zero_mask=auto``: the share of the HIO iterations after which its zeros are freed.
ZERO_MASK_FREE_AFTER = 0.6


@dataclass(frozen=True)
class Fill:
    """A gap's fill and its interval: (z, y, x) intensities, photons (measured pixels as measured)."""

    filled: np.ndarray
    lower: np.ndarray | None = None
    upper: np.ndarray | None = None


#: fill(volume, gap) -> Fill: a volume whose ``gap`` pixels hold zeros, filled there.
FillFunction = Callable[[np.ndarray, np.ndarray], Fill]


def model_fill(model, calibration: dict | None = None, interval_level: float = 0.68) -> FillFunction:
    """The :data:`FillFunction` of an inpainting model (:func:`braggsynth.inpaint.inpaint`), with the
    ``interval_level`` interval of its calibration (:mod:`braggsynth.learn.uncertainty`) when one is given."""
    from braggsynth.inpaint import inpaint

    def fill(volume, gap):
        if calibration is None:
            return Fill(inpaint(volume, gap, model, progress=False))
        result = inpaint(volume, gap, model, progress=False, calibration=calibration, interval_level=interval_level)
        return Fill(result.filled, result.lower, result.upper)

    return fill


def gap_bounds(mode: str, gap, fill: Fill | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper) intensity bounds of the gap pixels in ``mode`` (module docstring), (z, y, x) arrays.

    ``forced`` needs ``fill.filled``; ``interval`` needs ``fill.lower`` and ``fill.upper``."""
    gap = np.asarray(gap, dtype=bool)
    if mode in ("zero", "zero-mask"):
        return np.zeros(gap.shape), np.zeros(gap.shape)
    if mode == "free":
        return np.zeros(gap.shape), np.full(gap.shape, np.inf)
    if mode != "forced" and mode not in BOUNDED_MODES:
        raise ValueError(f"gap mode {mode!r}: expected one of {', '.join(m for m in MODES if m != 'auto')}")
    if fill is None:
        raise ValueError(f"gap mode {mode!r} needs a fill of the gap")
    if mode == "forced":
        filled = np.asarray(fill.filled, dtype=np.float64)
        return filled, filled
    if fill.lower is None or fill.upper is None:
        raise ValueError(f"gap mode {mode!r} needs a fill with calibrated bounds (the model has no calibration)")
    return np.asarray(fill.lower, dtype=np.float64), np.asarray(fill.upper, dtype=np.float64)


def mode_options(mode: str) -> dict:
    """Options of :func:`braggsynth.phase.phasing.phase` a gap mode implies (``zero-mask``: its release)."""
    return {"free_after": ZERO_MASK_FREE_AFTER} if mode == "zero-mask" else {}


def mask_interp_fill(intensity, gap) -> Fill:
    """PyNX's ``mask_interp`` recipe for a scan's ``gap``: the inverse-distance interpolation of the measured
    intensities (:func:`braggsynth.score.baselines.inverse_distance_fill`, ``mask_interp=8,2``) and the interval
    :data:`MASK_INTERP_INTERVAL` times it; gap voxels with nothing measured within reach are left free."""
    from braggsynth.score.baselines import inverse_distance_fill

    gap = np.asarray(gap, dtype=bool)
    found = inverse_distance_fill(np.where(gap, 0.0, np.asarray(intensity, dtype=np.float64)), gap)
    reached = np.isfinite(found)
    low, high = MASK_INTERP_INTERVAL
    return Fill(np.where(reached, found, 0.0), np.where(reached, low * found, 0.0),
                np.where(reached, high * found, np.inf))


def narrowed_interval(fill: Fill, hidden, calibrated_at: float = CALIBRATED_AT) -> Fill:
    """The fill's interval narrowed voxel by voxel by how hidden each voxel's Fourier component is.

    With h the hidden fraction (:func:`braggsynth.phase.unconstrained.hidden_fraction`) and
    f = (1 - h) / (1 - ``calibrated_at``), each bound moves to ``fill + f (bound - fill)`` in log(I + 1): at
    h = ``calibrated_at`` (default 1/2: as much of the voxel's neighbourhood hidden as seen) the calibrated
    interval, at h = 1 the fill itself, below ``calibrated_at`` wider than calibrated. Without calibrated bounds,
    the fill (forced). Intensities, photons, (z, y, x)."""
    filled = np.clip(np.asarray(fill.filled, dtype=np.float64), 0.0, None)
    if fill.lower is None or fill.upper is None:
        return Fill(filled, filled, filled)
    factor = (1.0 - np.clip(np.asarray(hidden, dtype=np.float64), 0.0, 1.0)) / (1.0 - float(calibrated_at))
    centre = np.log1p(filled)

    def moved(bound):
        return np.expm1(centre + factor * (np.log1p(np.clip(np.asarray(bound, dtype=np.float64), 0.0, None)) - centre))

    return Fill(filled, np.clip(moved(fill.lower), 0.0, filled), np.maximum(moved(fill.upper), filled))


def gap_photon_share(filled, gap) -> float:
    """Share of the photons that fall in the gap, sum over the gap / sum over the volume, of ``filled``
    (the truth where it is known, else a fill of the gap)."""
    filled = np.clip(np.asarray(filled, dtype=np.float64), 0.0, None)
    total = filled.sum()
    return float(filled[np.asarray(gap, dtype=bool)].sum() / total) if total > 0 else 0.0


def phase_inputs(intensity, gap, *, mode: str, fill: Fill | None = None, free=None):
    """(intensity, unknown, bounds) for :func:`braggsynth.phase.phasing.phase` of a scan with its gap in ``mode``
    and the pixels of ``free`` (bool, or None) left free whatever the mode; the gap's values are zeroed, so
    they are never read."""
    gap = np.asarray(gap, dtype=bool)
    lower, upper = gap_bounds(mode, gap, fill)
    unknown = gap.copy()
    if free is not None:
        free = np.asarray(free, dtype=bool) & ~gap
        lower, upper = np.where(free, 0.0, lower), np.where(free, np.inf, upper)
        unknown |= free
    return np.where(unknown, 0.0, np.asarray(intensity, dtype=np.float64)), unknown, (lower, upper)


#: Random starts a reconstruction may take; their seeds never reach the next seed's.
MAX_STARTS = 1000


def start_seed(seed: int, start: int) -> int:
    """The seed of random start ``start`` (< :data:`MAX_STARTS`) of a reconstruction seeded ``seed`` >= 0
    (the same in every mode)."""
    if int(seed) < 0 or not 0 <= int(start) < MAX_STARTS:
        raise ValueError(f"seed {seed} and start {start}: expected seed >= 0 and 0 <= start < {MAX_STARTS}")
    return int(seed) * MAX_STARTS + int(start)


#: The least mean modulus PCC of the other starts against the one kept for a reconstruction to be taken as found
#: (lower: its starts found different objects): stable ones agree at 0.86-0.98 (the raw SIXS scan at 40^3-64^3,
#: the S11 transform), unstable ones at 0.41-0.78 (the SIXS scan at 32^3 with some seeds).
STABLE_AGREEMENT = 0.8


def most_reproducible(objects, errors) -> tuple[int, list[float]]:
    """(index, floor): the reconstruction that agrees best with the others (the highest mean modulus PCC of
    the others against it, :func:`braggsynth.phase.phasing.compare`) and the others' modulus PCC against it.

    The lowest modulus error does not pick the right one among starts that disagree: on a 32^3 crop of the raw
    SIXS scan the starts with the lowest error had supports of 800-1600 voxels, 4-8 times those of the starts
    that agree with each other at 0.89-0.94 (about 200, as the particle's size and the oversampling give),
    since a looser support fits the measured moduli more closely. With fewer than three starts (two agree with
    each other equally) the lowest ``errors`` decides."""
    count = len(objects)
    if count < 3:
        best = int(np.argmin(errors))
        return best, [phasing.compare(objects[i], objects[best])["modulus_pcc"] for i in range(count) if i != best]
    agreement = np.eye(count)
    for i in range(count):
        for j in range(count):
            if i != j:
                agreement[i, j] = phasing.compare(objects[j], objects[i])["modulus_pcc"]  # start j against i
    best = int(np.argmax(np.nan_to_num(agreement, nan=-1.0).sum(axis=1)))  # a failed (empty) start agrees with none
    return best, [float(agreement[best, j]) for j in range(count) if j != best]


def phase_scan(intensity, gap, *, mode: str, fill: Fill | None = None, free=None, starts: int = 1,
               seed: int = 0, progress: bool = False, **phasing_options):
    """Phase a scan with its gap in ``mode`` from ``starts`` random starts; keep the most reproducible.

    Parameters
    ----------
    intensity
        (z, y, x) photons; the gap's values are never read.
    gap
        (z, y, x) bool, the unmeasured pixels.
    mode
        one of :data:`MODES` except ``auto`` (:func:`reconstruct` resolves it).
    fill
        the gap's fill, for ``forced``, ``interval``, ``narrowed`` (narrowed already) and ``mask-interp``.
    free
        (z, y, x) bool, further pixels left free whatever the mode (a scan's masked aliens).
    starts
        random starts (seeds :func:`start_seed`). The one that agrees best with the others is kept
        (:func:`most_reproducible`; of two, the lower final modulus error).
    phasing_options
        passed to :func:`braggsynth.phase.phasing.phase` (sequence, library, device, shrink-wrap).

    Returns
    -------
    best, reconstructions
        The kept :class:`braggsynth.phase.phasing.Reconstruction` and all of them.
    """
    values, unknown, bounds = phase_inputs(intensity, gap, mode=mode, fill=fill, free=free)
    found = run_in_turn([{"intensity": values, "unknown": unknown, "bounds": bounds, "seed": start_seed(seed, start),
                          **phasing_options, **mode_options(mode)} for start in range(int(starts))],
                        progress=progress)
    return found[most_reproducible([r.obj for r in found], [r.error for r in found])[0]], found


@dataclass
class Choice:
    """The gap mode a reconstruction used and why: for ``auto`` and ``narrowed`` (:func:`decide_mode`) also the
    unconstrained modes of the gap on the short phasing's support (``hidden``,
    :func:`braggsynth.phase.unconstrained.unconstrained_modes`) and the narrowed fill (``fill``)."""

    mode: str
    why: str = "as asked"
    hidden: HiddenModes | None = None
    fill: Fill | None = None

    def reason(self) -> str:
        """One line: the mode and why."""
        return f"{self.mode}: {self.why}"


def run_in_turn(jobs, progress: bool = False) -> list:
    """:func:`braggsynth.phase.phasing.phase` of each job (a dict of its arguments), one after the other."""
    return [phasing.phase(**job) for job in tqdm(jobs, desc="phasing", unit="run", disable=not progress)]


def analysis_support(obj) -> np.ndarray:
    """The support :func:`decide_mode` analyses: bool (z, y, x), where ``|obj|`` smoothed by a Gaussian of
    :data:`SUPPORT_SIGMA_PX` voxels exceeds :data:`SUPPORT_THRESHOLD` of its maximum."""
    from scipy.ndimage import gaussian_filter

    modulus = gaussian_filter(np.abs(np.asarray(obj)), SUPPORT_SIGMA_PX)
    return modulus > SUPPORT_THRESHOLD * modulus.max()


def mode_for_share(half_hidden_share: float, free_below: float = FREE_BELOW) -> str:
    """The mode :func:`decide_mode` takes for a gap whose share of power in modes at least half hidden is
    ``half_hidden_share``: ``free`` below ``free_below``, else ``narrowed``."""
    return "free" if half_hidden_share < free_below else "narrowed"


def decide_mode(intensity, gap, fill: Fill | None, *, free_below: float = FREE_BELOW, seed: int = 0, free=None,
                **phasing_options) -> Choice:
    """``auto``: leave the gap free where the data pin it down, else hold it in the fill's narrowed interval.

    A short phasing (:data:`SUPPORT_SEQUENCE`, the gap forced to the fill) gives an object and a support
    (:func:`analysis_support`); the share of the gap's power that its unconstrained modes at least half hidden
    (lambda > 0.5) carry (:func:`braggsynth.phase.unconstrained.unconstrained_modes`) decides: below
    ``free_below``, ``free``; else
    ``narrowed`` (:func:`narrowed_interval` with the support's
    :func:`braggsynth.phase.unconstrained.hidden_fraction`). The gap's measured values are never read.

    Parameters
    ----------
    intensity
        (z, y, x) photons; the gap's values are never read.
    gap
        (z, y, x) bool, the detector gap.
    fill
        the gap's fill and calibrated interval (None: ``free``, as there is nothing to hold the gap to).
    free_below
        the share below which the gap is left free (0: always ``narrowed``).
    seed, phasing_options
        the short phasing's seed (``start_seed(seed, 0)``) and :func:`braggsynth.phase.phasing.phase`'s options
        (its ``sequence`` is replaced by :data:`SUPPORT_SEQUENCE`).
    free
        (z, y, x) bool, further unmeasured pixels (masked aliens), free throughout.
    """
    gap = np.asarray(gap, dtype=bool)
    if not gap.any():
        return Choice("free", why="no gap")
    if fill is None:
        return Choice("free", why="no fill of the gap to hold it to (no model)")
    values, unknown, bounds = phase_inputs(intensity, gap, mode="forced", fill=fill, free=free)
    short = phasing.phase(values, unknown=unknown, bounds=bounds, seed=start_seed(seed, 0),
                          **{**phasing_options, "sequence": SUPPORT_SEQUENCE})
    support = analysis_support(short.obj)
    hidden = unconstrained_modes(short.obj, support, gap)
    why = mode_reason(hidden, free_below)
    if mode_for_share(hidden.half_hidden_share, free_below) == "free":
        return Choice("free", why=why, hidden=hidden)
    return Choice("narrowed", why=why, hidden=hidden, fill=narrowed_interval(fill, hidden_fraction(support, gap)))


def mode_reason(hidden, free_below: float = FREE_BELOW) -> str:
    """Why :func:`decide_mode` takes :func:`mode_for_share`'s mode, in words: the shares of the gap's power in
    ``hidden``'s modes (:func:`braggsynth.phase.unconstrained.unconstrained_modes` on the short phasing's support)
    and the threshold ``free_below``."""
    share = hidden.half_hidden_share
    measured = (f"{100 * share:.0f} % of the gap's power lies in modes at least half hidden from the data (lambda > "
                f"0.5; {100 * hidden.hidden_share:.0f} % above 0.9), on the support of a "
                f"{phasing.iterations(SUPPORT_SEQUENCE)}-iteration phasing with the gap forced to the fill")
    if mode_for_share(share, free_below) == "free":
        return f"{measured}; under {100 * free_below:.0f} %: the data pin the gap down"
    return (f"{measured}; at least {100 * free_below:.0f} %: the fill's interval, narrowed voxel by voxel as the gap "
            "hides it")


def reconstruct(intensity, gap, *, mode: str = "auto", fill_function: FillFunction | None = None,
                starts: int = 1, seed: int = 0, progress: bool = False, free=None, free_below: float = FREE_BELOW,
                **phasing_options):
    """Phase a scan in ``mode``; ``auto`` first decides it (:func:`decide_mode`), ``narrowed`` always narrows.

    ``free`` (bool (z, y, x) or None): further unmeasured pixels (masked aliens) left free whatever the mode;
    ``free_below``: :func:`decide_mode`'s threshold for ``auto``.

    Returns (best, reconstructions, choice, fill): :func:`phase_scan`'s pair, the :class:`Choice` (for a mode
    given by the user, a Choice of that mode) and the :class:`Fill` the gap was held to (None for ``zero``,
    ``zero-mask`` and ``free``)."""
    gap = np.asarray(gap, dtype=bool)
    if mode not in MODES:
        raise ValueError(f"gap mode {mode!r}: expected one of {', '.join(MODES)}")
    intensity = np.asarray(intensity, dtype=np.float64)
    fill = None
    if not gap.any():
        choice = Choice("free", why="no gap")
    else:
        if mode in MODEL_MODES and fill_function is not None:
            fill = fill_function(np.where(gap, 0.0, intensity), gap)
        elif mode in MODEL_MODES and mode != "auto":
            raise ValueError(f"gap mode {mode!r} needs a fill of the gap")
        elif mode == "mask-interp":
            unmeasured = gap if free is None else gap | np.asarray(free, dtype=bool)
            fill = mask_interp_fill(intensity, unmeasured)
        if mode in ("auto", "narrowed"):
            choice = decide_mode(intensity, gap, fill, free_below=free_below if mode == "auto" else 0.0, seed=seed,
                                 free=free, **phasing_options)
            fill = choice.fill
        else:
            choice = Choice(mode)
    best, found = phase_scan(intensity, gap, mode=choice.mode, fill=fill, free=free, starts=starts, seed=seed,
                             progress=progress, **phasing_options)
    return best, found, choice, fill
