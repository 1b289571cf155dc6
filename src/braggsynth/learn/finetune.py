"""Fine-tuning an inpainting model on the scan it is to fill (the thesis, section 4.7).

A scan's own fringes are the best example of what its gaps hide.  Windows are
cut from the measured voxels of the scan, away from its real gaps, and given
artificial gaps of the real gaps' widths through their centres
(:func:`braggsynth.data.patches.make_patches`, windows drawn following log(1 + I));
the model is trained on them for a bounded number of steps.  A window may
hold voxels of the real gaps: they stay unknown to the model and are never
trained on or scored, so that a 64^3 scan with a gap through its centre,
where no 32^3 window is clear of it, can be fine-tuned.  To tell a better
model from an overfitted one, training windows and held-back windows never
share a voxel: the scan is split in halves along its rocking axis, as
measured files are (:mod:`braggsynth.data.measured`), or along the longer
detector axis when the rocking axis is too short for two windows
(:func:`split_axis`); the held-back windows (the second half) are scored
(mean PCC over their scored gap voxels, normalised log(I + 1)) before and
after.  Arrays are (z, y, x).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from braggsynth.data import patches
from braggsynth.score import metrics
from braggsynth.simulate.gaps import gap_stripes

log = logging.getLogger("braggsynth.learn.finetune")

#: Training windows and held-back windows drawn by default.
DEFAULT_WINDOWS = 512
DEFAULT_HELD_BACK = 128
#: Steps (batches) of fine-tuning by default, and the learning rate (a tenth of pretraining's).
DEFAULT_STEPS = 200
DEFAULT_LEARNING_RATE = 1.0e-4


def gap_widths_of(gap_mask) -> tuple[list[int], float]:
    """Widths of the gap stripes of a mask normal to y or x, and the probability of a cross in windows.

    A cross is drawn (probability 0.2, as in training sets) only when the scan
    has stripes in both directions.
    """
    stripes = [(axis, start, stop) for axis, start, stop in gap_stripes(gap_mask) if axis in (1, 2)]
    if not stripes:
        raise ValueError("the gap mask has no stripe normal to y or x to imitate")
    widths = sorted({stop - start for _, start, stop in stripes})
    both = {axis for axis, _, _ in stripes} == {1, 2}
    return widths, 0.2 if both else 0.0


def split_axis(shape, patch_size: int) -> int:
    """The axis the scan is split along into training and held-back halves: the rocking axis (0) when it
    holds two windows, else the longer of y and x that does; ValueError when none does."""
    if shape[0] >= 2 * patch_size:
        return 0
    axis = max((1, 2), key=lambda a: shape[a])
    if shape[axis] < 2 * patch_size:
        raise ValueError(f"a scan of shape {tuple(shape)} holds no two {patch_size}^3 windows apart along any axis "
                         f"(needs {2 * patch_size} voxels along one): nothing to hold back for scoring")
    return axis


def scan_windows(intensity, gap_mask, rng: np.random.Generator, *, patch_size: int, windows: int = DEFAULT_WINDOWS,
                 held_back: int = DEFAULT_HELD_BACK, gap_widths=None) -> dict:
    """Training and held-back windows of a scan with artificial gaps like its real ones.

    Parameters
    ----------
    intensity
        (z, y, x) photons; values in the gap are ignored.
    gap_mask
        (z, y, x) bool, the scan's real gaps (unknown in any window that holds them, never scored).
    rng
        numpy Generator.
    patch_size
        window side (the model's).
    windows, held_back
        windows wanted in each half (:func:`split_axis`); fewer when fewer positions exist.
    gap_widths
        widths (px) of the artificial gap planes, instead of the real gaps' (:func:`gap_widths_of`): for a scan
        without gaps, or to train for other gaps; no cross.

    Returns
    -------
    dict
        ``{"train": ..., "held_back": ..., "axis": ...}``: the first two dicts of
        :func:`braggsynth.data.patches.make_patches` with ``scored``, and the split's axis.

    Raises
    ------
    ValueError
        When a half has no window position that holds signal.
    """
    intensity = np.where(gap_mask, 0.0, np.asarray(intensity, dtype=np.float64))
    gap_mask = np.asarray(gap_mask, dtype=bool)
    if gap_widths is None:
        widths, cross_probability = gap_widths_of(gap_mask)
    else:
        widths, cross_probability = sorted({int(w) for w in gap_widths}), 0.0
        if not widths or min(widths) < 1:
            raise ValueError(f"gap widths {list(gap_widths)}: expected one or more widths of at least 1 px")
    widest = patch_size - 2
    if max(widths) > widest:
        raise ValueError(f"a {max(widths)} px gap does not fit in a {patch_size}^3 window")
    axis = split_axis(gap_mask.shape, patch_size)
    half = gap_mask.shape[axis] // 2
    first = np.zeros(gap_mask.shape, dtype=bool)
    first[(slice(None),) * axis + (slice(0, half),)] = True
    out = {"axis": axis}
    for name, region, wanted in (("train", first, windows), ("held_back", ~first, held_back)):
        available = int(np.count_nonzero(patches.corner_weights(intensity, patch_size, ~region)))
        if available == 0:
            raise ValueError(f"no {patch_size}^3 window of the {'first' if name == 'train' else 'second'} half of "
                             f"axis {'zyx'[axis]} ({'zyx'[axis]} {'<' if name == 'train' else '>='} {half}) "
                             f"holds signal")
        out[name] = patches.make_patches(intensity, rng, count=min(int(wanted), available), patch_size=patch_size,
                                         gap_widths_px=widths, cross_probability=cross_probability,
                                         excluded=~region, unknown=gap_mask)
    return out


def score(model, windows: dict, *, batch_size: int = 32) -> float:
    """Mean PCC over the scored gap voxels of windows filled by the model (normalised log(I + 1))."""
    from braggsynth.learn.model import fill_patches

    filled = fill_patches(model, windows["input"], windows["mask"], batch_size=batch_size)
    return float(np.nanmean(metrics.gap_metrics(filled, windows["target"], windows["scored"])["pcc"]))


@dataclass(frozen=True)
class FineTuning:
    """Result of :func:`finetune`: the model (trained in place), held-back PCC before and after, windows used."""

    model: object
    pcc_before: float
    pcc_after: float
    train_windows: int
    held_back_windows: int
    steps: int


def finetune(model, intensity, gap_mask, *, steps: int = DEFAULT_STEPS, batch_size: int = 8,
             learning_rate: float = DEFAULT_LEARNING_RATE, windows: int = DEFAULT_WINDOWS,
             held_back: int = DEFAULT_HELD_BACK, seed: int = 0, progress: bool = True, gap_widths=None) -> FineTuning:
    """Fine-tune an inpainting model on a scan (module docstring); the model is trained in place.

    Parameters
    ----------
    model
        Keras model of :func:`braggsynth.learn.model.build_model` (e.g. the shipped one).
    intensity, gap_mask
        the scan (z, y, x), photons, and its real gaps.
    steps
        batches of training (>= 1).
    batch_size
        windows per batch (>= 1).
    learning_rate
        Adam's.
    windows, held_back
        windows drawn for training and for scoring.
    seed
        seeds the windows, their order and augmentation.
    progress
        show a progress bar.
    gap_widths
        widths (px) of the artificial gaps, instead of the real gaps' (:func:`scan_windows`).
    """
    import keras

    from braggsynth.learn.model import model_inputs, patch_size_of, prefill_of
    from braggsynth.learn.training import GapMSE, augment

    if int(steps) < 1 or int(batch_size) < 1:
        raise ValueError(f"steps and batch_size must be >= 1, got {steps} and {batch_size}")
    rng = np.random.default_rng(seed)
    keras.utils.set_random_seed(int(seed))
    patch_size = patch_size_of(model)
    chosen = scan_windows(intensity, gap_mask, rng, patch_size=patch_size, windows=windows, held_back=held_back,
                          gap_widths=gap_widths)
    train, held = chosen["train"], chosen["held_back"]
    before = score(model, held)
    method = prefill_of(model)
    prefilled = model_inputs(train["input"], train["mask"], method)[..., 0]  # flips and the y-x swap commute with it
    # the loss covers the scored gap voxels only (the real gaps' voxels have no truth)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=GapMSE())
    bar = tqdm(range(int(steps)), unit="step", desc="fine-tuning", disable=not progress)
    for _ in bar:
        rows = rng.choice(len(prefilled), size=min(int(batch_size), len(prefilled)), replace=False)
        inputs, masks, targets, scored = augment([prefilled[rows], train["mask"][rows], train["target"][rows],
                                                  train["scored"][rows]], rng)
        x = np.stack([inputs, masks.astype(np.float32)], axis=-1)
        y = np.stack([targets, scored.astype(np.float32)], axis=-1)
        loss = model.train_on_batch(x, y)
        bar.set_postfix(loss=f"{float(np.ravel(loss)[0]):.4f}")
    after = score(model, held)
    log.info("fine-tuned on %d windows for %d steps: held-back PCC %.4f -> %.4f", len(prefilled), steps, before,
             after)
    return FineTuning(model, before, after, len(prefilled), len(held["input"]), int(steps))
