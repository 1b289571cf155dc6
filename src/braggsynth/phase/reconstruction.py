"""Phase retrieval of a scan whose detector gaps are held in one of several *modes*, and the choice of the
mode from the scan itself.

What the modulus step does with a gap pixel (:func:`gap_bounds`; intensities, photons):

- ``zero``: forced to 0, what plain cohere does with a scan whose gaps hold zeros;
- ``free``: left free (bounds 0 and infinity), what PyNX does with a mask;
- ``forced``: forced to the fill (an inpainting model's, or a baseline's);
- ``interval``: kept inside the fill's calibrated interval (:mod:`braggsynth.learn.uncertainty`);
- ``auto`` (the recommended default): one of ``free``, ``interval`` and ``forced``, chosen per scan by
  :func:`choose_mode`.

:func:`choose_mode` never looks at the gap's pixels: it hides ``holdout_px`` measured columns on each side of
every gap (the *ring*), fills gap and ring from the measured pixels that remain, phases once per candidate
mode with the ring free and the gap in that mode, and keeps the mode whose reconstruction predicts the hidden
ring best (amplitude R-factor, :func:`braggsynth.score.metrics.amplitude_r_factor`): the free-pixel cross-validation
of PyNX's ``free_pixel_mask``. A mode that cannot be scored this way is never chosen.

Arrays are (z, y, x).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from braggsynth.phase import phasing
from braggsynth.phase.unconstrained import HiddenModes, unconstrained_modes
from braggsynth.score import metrics

#: What phasing does with a gap pixel (``braggsynth phase --gaps``).
MODES = ("zero", "free", "forced", "interval", "auto")
#: The modes :func:`choose_mode` chooses among, in the order it tries them (the first wins a tie).
CANDIDATES = ("free", "interval", "forced")
#: Measured columns hidden on each side of a gap to choose the mode (pixels).
HOLDOUT_PX = 1


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
    if mode == "zero":
        return np.zeros(gap.shape), np.zeros(gap.shape)
    if mode == "free":
        return np.zeros(gap.shape), np.full(gap.shape, np.inf)
    if mode not in ("forced", "interval"):
        raise ValueError(f"gap mode {mode!r}: expected one of {', '.join(m for m in MODES if m != 'auto')}")
    if fill is None:
        raise ValueError(f"gap mode {mode!r} needs a fill of the gap")
    if mode == "forced":
        filled = np.asarray(fill.filled, dtype=np.float64)
        return filled, filled
    if fill.lower is None or fill.upper is None:
        raise ValueError("gap mode 'interval' needs a fill with calibrated bounds (the model has no calibration)")
    return np.asarray(fill.lower, dtype=np.float64), np.asarray(fill.upper, dtype=np.float64)


def gap_photon_share(filled, gap) -> float:
    """Share of the photons that fall in the gap, sum over the gap / sum over the volume, of ``filled``
    (the truth where it is known, else a fill of the gap)."""
    filled = np.clip(np.asarray(filled, dtype=np.float64), 0.0, None)
    total = filled.sum()
    return float(filled[np.asarray(gap, dtype=bool)].sum() / total) if total > 0 else 0.0


def holdout_ring(gap, holdout_px: int = HOLDOUT_PX) -> np.ndarray:
    """(z, y, x) bool: measured pixels within ``holdout_px`` of the gap along the detector's rows and
    columns (axes 1 and 2, the normals of gap planes), never in the gap."""
    from scipy.ndimage import binary_dilation

    gap = np.asarray(gap, dtype=bool)
    structure = np.zeros((1, 3, 3), bool)
    structure[0, 1, :] = structure[0, :, 1] = True
    return binary_dilation(gap, structure=structure, iterations=int(holdout_px)) & ~gap


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


def phase_scan(intensity, gap, *, mode: str, fill: Fill | None = None, free=None, starts: int = 1,
               seed: int = 0, progress: bool = False, **phasing_options):
    """Phase a scan with its gap in ``mode`` from ``starts`` random starts; keep the best.

    Parameters
    ----------
    intensity
        (z, y, x) photons; the gap's values are never read.
    gap
        (z, y, x) bool, the unmeasured pixels.
    mode
        one of :data:`MODES` except ``auto`` (:func:`reconstruct` resolves it).
    fill
        the gap's fill, for ``forced`` and ``interval``.
    free
        (z, y, x) bool, further pixels left free whatever the mode (:func:`choose_mode`'s ring).
    starts
        random starts (seeds :func:`start_seed`). The one with the lowest final modulus error is kept
        (errors of starts in one mode compare: the same pixels are constrained).
    phasing_options
        passed to :func:`braggsynth.phase.phasing.phase` (sequence, library, device, shrink-wrap).

    Returns
    -------
    best, reconstructions
        The kept :class:`braggsynth.phase.phasing.Reconstruction` and all of them.
    """
    values, unknown, bounds = phase_inputs(intensity, gap, mode=mode, fill=fill, free=free)
    found = run_in_turn([{"intensity": values, "unknown": unknown, "bounds": bounds, "seed": start_seed(seed, start),
                          **phasing_options} for start in range(int(starts))], progress=progress)
    return min(found, key=lambda r: r.error), found


def ring_score(obj, intensity, hidden, ring) -> float:
    """Amplitude R-factor over the ``ring`` of a reconstruction's ``|F|^2``, scaled to the measured pixels (those
    not ``hidden``) by :func:`braggsynth.phase.phasing.fit_scale`."""
    model = phasing.diffraction(obj)
    scale = phasing.fit_scale(model, intensity, ~np.asarray(hidden, dtype=bool))
    return metrics.amplitude_r_factor(scale * model, intensity, ring)


@dataclass
class Choice:
    """What :func:`choose_mode` chose and why: ``scores`` maps each candidate to the amplitude R-factor of
    its reconstruction over the hidden ring (lower is better); ``hidden``, the unconstrained modes of the gap
    (:func:`braggsynth.phase.unconstrained.unconstrained_modes`) on the chosen candidate's support."""

    mode: str
    scores: dict = field(default_factory=dict)
    ring_pixels: int = 0
    holdout_px: int = HOLDOUT_PX
    why: str = "as asked"
    hidden: HiddenModes | None = None

    def reason(self) -> str:
        """One line: the mode and why (the candidates' scores, best first, when it was chosen)."""
        if not self.scores:
            return f"{self.mode}: {self.why}"
        ranked = ", ".join(f"{mode} {score:.3f}" for mode, score in sorted(self.scores.items(), key=lambda s: s[1]))
        return (f"{self.mode}: it predicts the {self.ring_pixels:,} measured pixels hidden {self.holdout_px} px "
                f"around the gap best (amplitude R-factor {ranked})")


def run_in_turn(jobs, progress: bool = False) -> list:
    """:func:`braggsynth.phase.phasing.phase` of each job (a dict of its arguments), one after the other."""
    return [phasing.phase(**job) for job in tqdm(jobs, desc="phasing", unit="run", disable=not progress)]


def _can_try(mode: str, gap, fill) -> bool:
    try:
        gap_bounds(mode, gap, fill)
    except ValueError:
        return False
    return True


def choose_mode(intensity, gap, fill_function: FillFunction | None, *, candidates=CANDIDATES,
                holdout_px: int = HOLDOUT_PX, seed: int = 0, progress: bool = False, runner=run_in_turn,
                free=None, **phasing_options) -> Choice:
    """Choose the gap mode from the scan itself (module docstring), never reading the gap's pixels.

    Parameters
    ----------
    intensity
        (z, y, x) photons; the gap's values are never read.
    gap
        (z, y, x) bool.
    fill_function
        fills gap and ring (:data:`FillFunction`); None leaves ``free`` as the only candidate.
    candidates
        modes to try (of ``free``, ``interval``, ``forced``, ``zero``); a mode whose fill the
        function cannot give (``interval`` without calibrated bounds) is skipped.
    holdout_px
        measured columns hidden on each side of the gap.
    seed, phasing_options
        one start per candidate, with seed ``start_seed(seed, 0)``
        (:func:`braggsynth.phase.phasing.phase`).
    runner
        runs a list of :func:`braggsynth.phase.phasing.phase` argument dicts (default: :func:`run_in_turn`;
        :class:`braggsynth.report.realspace.ParallelRunner` spreads them over processes).
    free
        (z, y, x) bool, further unmeasured pixels (a scan's masked aliens) left free in every candidate and
        never scored.
    """
    gap = np.asarray(gap, dtype=bool)
    if not gap.any():
        return Choice("free", why="no gap")
    free = np.zeros(gap.shape, bool) if free is None else np.asarray(free, dtype=bool) & ~gap
    ring = holdout_ring(gap, holdout_px) & ~free
    hidden = gap | ring | free
    measured = np.where(hidden, 0.0, np.asarray(intensity, dtype=np.float64))
    try:
        fill = fill_function(measured, hidden) if fill_function is not None else None
    except ValueError as error:  # e.g. gap and hidden columns wider than the model's window
        return Choice("free", why=f"the model cannot fill the gap with its hidden columns ({error})")
    tried = [mode for mode in candidates if _can_try(mode, gap, fill)]
    if not tried:
        raise ValueError(f"none of the gap modes {', '.join(candidates)} can be tried without a fill")
    jobs = []
    for mode in tried:
        values, unknown, bounds = phase_inputs(measured, gap, mode=mode, fill=fill, free=ring | free)
        jobs.append({"intensity": values, "unknown": unknown, "bounds": bounds, "seed": start_seed(seed, 0),
                     **phasing_options})
    found = runner(jobs, progress=progress)
    intensity = np.asarray(intensity, dtype=np.float64)
    scores = {mode: ring_score(result.obj, intensity, hidden, ring) for mode, result in zip(tried, found)}
    scores = {mode: score for mode, score in scores.items() if np.isfinite(score)}
    if not scores:
        return Choice("free", why=f"the {int(ring.sum()):,} hidden measured pixels hold no photons to score a mode")
    mode = min(scores, key=scores.get)
    chosen = found[tried.index(mode)]
    return Choice(mode, scores, int(ring.sum()), int(holdout_px),
                  hidden=unconstrained_modes(chosen.obj, chosen.support, gap))


def reconstruct(intensity, gap, *, mode: str = "auto", fill_function: FillFunction | None = None,
                starts: int = 1, seed: int = 0, candidates=CANDIDATES, holdout_px: int = HOLDOUT_PX,
                progress: bool = False, free=None, **phasing_options):
    """Phase a scan in ``mode``; ``auto`` first chooses it (:func:`choose_mode`). ``free`` (bool (z, y, x) or
    None): further unmeasured pixels (masked aliens) left free whatever the mode.

    Returns (best, reconstructions, choice, fill): :func:`phase_scan`'s pair, the :class:`Choice` (for a mode
    given by the user, a Choice of that mode without scores) and the :class:`Fill` of the gap used (None for
    ``zero`` and ``free``)."""
    gap = np.asarray(gap, dtype=bool)
    if mode not in MODES:
        raise ValueError(f"gap mode {mode!r}: expected one of {', '.join(MODES)}")
    if not gap.any():
        choice = Choice("free", why="no gap")
    elif mode == "auto":
        choice = choose_mode(intensity, gap, fill_function, candidates=candidates, holdout_px=holdout_px, seed=seed,
                             progress=progress, free=free, **phasing_options)
    else:
        choice = Choice(mode)
    fill = None
    if choice.mode in ("forced", "interval") and gap.any():
        if fill_function is None:
            raise ValueError(f"gap mode {choice.mode!r} needs a fill of the gap")
        fill = fill_function(np.where(gap, 0.0, np.asarray(intensity, dtype=np.float64)), gap)
    best, found = phase_scan(intensity, gap, mode=choice.mode, fill=fill, free=free, starts=starts, seed=seed,
                             progress=progress, **phasing_options)
    return best, found, choice, fill
