"""Training of the gap-inpainting model: the loss, the batches, the resumable loop.

- :class:`GapMSE`: mean squared error over the gap voxels of each patch
  (normalised log space); measured voxels pass through the model and never
  enter the loss.  :class:`GapAmplitudeLoss` adds a term in the amplitude
  domain, where phase retrieval works.
- :class:`PatchBatches`: batches of one split of a patch dataset, streamed
  from HDF5, with the model's prefill (:func:`braggsynth.learn.model.prefill`) and
  random flips and y/x swaps (``augment``), which map a detector gap onto a
  detector gap.
- :func:`train`: Adam, reduce-on-plateau, early stopping, a time budget and
  checkpoints from which a killed run resumes.

The target is the normalised photon counts (``target="counts"``) or the
normalised expected counts of the simulation (``target="expected"``: the
noise-free intensity, what phase retrieval wants; measured patches have no
such truth and use their counts).
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import math
import shutil
import time
from pathlib import Path

import h5py
import keras
import numpy as np
from keras import ops

from braggsynth import io
from braggsynth.learn.model import (
    DEFAULT_BASE_FILTERS,
    DEFAULT_DEPTH,
    DEFAULT_PREFILL,
    build_model,
    load_model,
    prefill,
    prefill_of,
    save_model,
)

log = logging.getLogger("braggsynth.learn.training")

#: Training targets, the dataset arrays the network learns to reproduce in the gap.
TARGETS = {"counts": "target", "expected": "expected"}
#: Keras dtype policies, float32 or bfloat16 arithmetic with float32 weights (AVX512-BF16 CPUs, GPUs).
PRECISIONS = {"float32": "float32", "bfloat16": "mixed_bfloat16"}
#: CPU flags (Linux /proc/cpuinfo) of the bfloat16 instructions oneDNN needs; without them TensorFlow falls back
#: to its Eigen kernels, about 10x slower than float32 (a training step of the default run: 12 s against 1 s).
BFLOAT16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")
#: Threads loading training batches beside the network (2 cores, bfloat16, the shipped width, epochs of 256
#: patches of the default dataset, benchmarks/bench_training_step.py: 30.1, 30.3, 32.3 patches/s against 30.9,
#: 24.4, 29.5 with batches loaded between steps, runs alternated; 36.9 against 27.8 in an earlier pair).
LOADER_THREADS = 2
#: Files written by :func:`train` in its output folder.
LAST_MODEL, BEST_MODEL, STATE_FILE, HISTORY_CSV, CURVE_PNG = (
    "last.keras", "best.keras", "state.json", "history.csv", "learning_curve.png")


@keras.saving.register_keras_serializable(package="braggsynth")
class GapMSE(keras.losses.Loss):
    """Mean squared error over the gap voxels of each patch.

    ``y_true`` is (batch, z, y, x, 2): the normalised target patch and the gap
    mask; ``y_pred`` is (batch, z, y, x, 1).  Returns one value per patch:
    sum(mask (pred - target)^2) / max(sum(mask), 1).
    """

    def __init__(self, name="gap_mse", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, "float32")
        target, mask = y_true[..., 0:1], y_true[..., 1:2]
        error = ops.square(ops.cast(y_pred, "float32") - target) * mask
        axes = (1, 2, 3, 4)
        return ops.sum(error, axis=axes) / ops.maximum(ops.sum(mask, axis=axes), 1.0)


#: Normalised values the prediction may take in the amplitude term of :class:`GapAmplitudeLoss`: the measured
#: voxels of a patch span [0, 1], and a gap through the maximum rises above 1 by log(contrast) / span only.
AMPLITUDE_RANGE = (-0.25, 1.5)


@keras.saving.register_keras_serializable(package="braggsynth")
class GapAmplitudeLoss(keras.losses.Loss):
    """:class:`GapMSE` plus ``amplitude_weight`` times the relative squared error of the amplitude over the gap.

    ``y_true`` is (batch, z, y, x, 4): the normalised target patch, the gap mask, and the patch's
    normalisation ``low`` and ``high - low`` (each constant over the patch; log(I + 1) = low + x (high -
    low), :func:`braggsynth.data.patches.normalise`); ``y_pred`` is (batch, z, y, x, 1).  With the amplitude
    a = sqrt(I + 1) = exp(log(I + 1) / 2), the added term is sum(mask (a_pred - a_true)^2) / sum(mask
    a_true^2): the brightest gap voxels weigh as their photons do (in log space a 28 % amplitude error at
    the maximum costs no more than one in the tails), and the term is free of the patch's flux.
    """

    def __init__(self, amplitude_weight: float = 1.0, name="gap_amplitude_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.amplitude_weight = float(amplitude_weight)

    def call(self, y_true, y_pred):
        y_true, y_pred = ops.cast(y_true, "float32"), ops.cast(y_pred, "float32")
        target, mask, low, span = (y_true[..., i:i + 1] for i in range(4))
        axes = (1, 2, 3, 4)
        voxels = ops.maximum(ops.sum(mask, axis=axes), 1.0)
        log_error = ops.sum(ops.square(y_pred - target) * mask, axis=axes) / voxels
        true_amplitude = ops.exp(0.5 * (low + target * span))
        # the amplitude is exponential in the prediction: clipped to AMPLITUDE_RANGE of the patch's normalised
        # range, a wild voxel cannot blow the term (and its gradient) up; the log term still pulls it back
        predicted_amplitude = ops.exp(0.5 * (low + ops.clip(y_pred, *AMPLITUDE_RANGE) * span))
        amplitude_error = ops.sum(ops.square(predicted_amplitude - true_amplitude) * mask, axis=axes) / ops.maximum(
            ops.sum(ops.square(true_amplitude) * mask, axis=axes), 1e-6)
        return log_error + self.amplitude_weight * amplitude_error

    def get_config(self):
        return {**super().get_config(), "amplitude_weight": self.amplitude_weight}


def augment(arrays, rng: np.random.Generator):
    """Flip each patch along z, y and x at random and swap its y and x axes at random (in place of copies).

    ``arrays`` are (b, n, n, n) arrays transformed alike, patch by patch.  The
    eight flips and the swap map a gap plane normal to y or x onto a gap plane
    normal to y or x, so augmented patches are patches a detector could record.
    """
    arrays = [np.array(a, copy=True) for a in arrays]
    count = arrays[0].shape[0]
    flips = rng.random((count, 3)) < 0.5
    swaps = rng.random(count) < 0.5
    for i in range(count):
        axes = tuple(a for a in range(3) if flips[i, a])
        for array in arrays:
            patch = np.flip(array[i], axis=axes) if axes else array[i]
            array[i] = np.swapaxes(patch, 1, 2) if swaps[i] else patch
    return arrays


class PatchBatches(keras.utils.PyDataset):
    """Batches of one split of a patch dataset, read from HDF5 slice by slice (never whole).

    Each item is ``(x, y)``: x (batch, n, n, n, 2) = (prefilled patch, mask)
    (:func:`braggsynth.learn.model.model_inputs`), y (batch, n, n, n, 2) = (target,
    mask), float32.

    Parameters
    ----------
    path
        HDF5 dataset file with groups ``train``, ``validation``, ``test``.
    split
        group name.
    batch_size : int
    prefill
        the model's prefill method (:data:`braggsynth.learn.model.PREFILLS`).
    target
        "counts" or "expected" (:data:`TARGETS`).
    gap_widths
        optional collection of int; keep only the patches whose
        ``gap_width_px`` is one of them.
    shuffle
        bool; reshuffle the patches every epoch.
    patches_per_epoch
        optional int; an epoch is this many patches of the
        shuffled order (a different subset each epoch), not the whole split.
    augment
        bool; random flips and y/x swaps (:func:`augment`).
    seed
        int; the order and the augmentations of an epoch are drawn from
        (seed, epoch), so a resumed run sees the same ones.
    first_epoch
        int, epoch of the first pass.
    cache_mb
        prefilled patches kept in memory, MiB (the prefill is computed
        once per patch: flips and y/x swaps commute with it, so augmented
        batches reuse it); 0 computes it for every batch.
    """

    def __init__(self, path, split, batch_size, *, prefill=DEFAULT_PREFILL, target="counts", gap_widths=None,
                 shuffle=False, patches_per_epoch=None, augment=False, seed=0, first_epoch=0, cache_mb=2048,
                 with_bounds=False, **kwargs):
        super().__init__(**kwargs)
        if target not in TARGETS:
            raise ValueError(f"unknown target {target!r}; expected one of {', '.join(TARGETS)}")
        self.path, self.split, self.batch_size = Path(path), split, int(batch_size)
        self.prefill, self.target, self.with_bounds = prefill, target, bool(with_bounds)
        self.shuffle, self.augment, self.seed, self.epoch = shuffle, augment, int(seed), int(first_epoch)
        self.patches_per_epoch = None if patches_per_epoch is None else int(patches_per_epoch)
        self._handle = None
        self._cache, self._cache_left = {}, int(cache_mb * 2**20)
        with io.open_h5(self.path) as h5:
            if split not in h5:
                raise io.DataFileError(f"{self.path}: has no '{split}' group (has {', '.join(h5)})")
            if TARGETS[target] not in h5[split]:
                raise io.DataFileError(f"{self.path}: split '{split}' has no '{TARGETS[target]}' array")
            if with_bounds and "bounds" not in h5[split]:
                raise io.DataFileError(f"{self.path}: split '{split}' has no 'bounds' array (a dataset made before "
                                       f"they were kept); remake it for the amplitude loss")
            widths = h5[split]["gap_width_px"][()]
        if gap_widths is None:
            self.indices = np.arange(widths.size)
        else:
            self.indices = np.flatnonzero(np.isin(widths, np.asarray(list(gap_widths))))
        if self.indices.size == 0:
            raise io.DataFileError(f"{self.path}: split '{split}' has no patches with gap widths {gap_widths}")
        self.gap_width_px = widths[self.indices]
        self._order = self._draw_order()

    def _draw_order(self):
        order = self.indices
        if self.shuffle:
            order = np.random.default_rng((self.seed, self.epoch)).permutation(self.indices)
        return order[:self.patches_per_epoch]

    def __len__(self):
        return math.ceil(self._order.size / self.batch_size)

    def _group(self):
        if self._handle is None:
            self._handle = h5py.File(self.path, "r")
        return self._handle[self.split]

    def read(self, rows, arrays=("input", "mask", "target")):
        """The named arrays at the given rows (sorted internally), each (k, n, n, n); masks as bool."""
        rows = np.sort(np.asarray(rows, dtype=np.int64))
        group = self._group()
        # runs of consecutive rows, each read as one slice: h5py's point selection of scattered rows costs 7x
        # the decoding of their chunks (10.6 against 1.6 ms a patch for three arrays of 32^3 voxels)
        starts = np.flatnonzero(np.diff(rows, prepend=-2) != 1)
        runs = [(int(rows[a]), int(rows[b - 1]) + 1, int(a)) for a, b in zip(starts, [*starts[1:], rows.size])]
        found = []
        for name in arrays:
            source = group[name]
            values = np.empty((rows.size, *source.shape[1:]), dtype=source.dtype)
            for first, stop, at in runs:
                source.read_direct(values, np.s_[first:stop], np.s_[at:at + stop - first])
            found.append(values.astype(bool if name == "mask" else np.float32, copy=False))
        return tuple(found)

    def _prefilled(self, rows, inputs, mask):
        """The prefill of the patches at ``rows`` (sorted), from the cache where it holds them."""
        missing = [i for i, row in enumerate(rows) if row not in self._cache]
        if len(missing) == len(rows):
            result = prefill(inputs, mask, self.prefill)
        else:
            result = np.stack([self._cache.get(row, inputs[i]) for i, row in enumerate(rows)])
            if missing:
                result[missing] = prefill(inputs[missing], mask[missing], self.prefill)
        for i in missing:
            if self._cache_left < result[i].nbytes:
                break
            self._cache[rows[i]] = result[i].copy()
            self._cache_left -= result[i].nbytes
        return result

    def __getitem__(self, index):
        rows = np.sort(self._order[index * self.batch_size:(index + 1) * self.batch_size])
        inputs, mask, target = self.read(rows, ("input", "mask", TARGETS[self.target]))
        prefilled = self._prefilled(rows, inputs, mask)
        if self.augment:
            rng = np.random.default_rng((self.seed, self.epoch, index))
            prefilled, mask, target = augment((prefilled, mask, target), rng)
        mask = mask.astype(np.float32)
        channels = [target, mask]
        if self.with_bounds:
            low, high = self._group()["bounds"][rows].T
            span = np.where(high > low, high - low, 1.0)  # as patches.unscale
            channels += [np.broadcast_to(value.astype(np.float32)[:, None, None, None], mask.shape)
                         for value in (low, span)]
        return np.stack([prefilled, mask], axis=-1), np.stack(channels, axis=-1)

    def on_epoch_end(self):
        self.epoch += 1
        self._order = self._draw_order()

    def close(self):
        if self._handle is not None:
            self._handle.close()
            self._handle = None


class _ResumableCheckpoint(keras.callbacks.Callback):
    """Saves last.keras every epoch, best.keras on improvement, and the state needed to resume.

    ``state.json`` holds the epochs done, the per-epoch logs (also written to
    ``history.csv``), the best validation loss, the training seconds spent
    and the counters of the early-stopping and learning-rate callbacks, which
    it puts back at the start of a resumed run.  When the seconds spent reach
    ``time_limit_s`` the run stops after the epoch (a budget, not a deadline).
    """

    def __init__(self, output_dir, state, early_stopping, reduce_lr, time_limit_s=None):
        super().__init__()
        self.output_dir, self.state = Path(output_dir), state
        self.early_stopping, self.reduce_lr = early_stopping, reduce_lr
        self.time_limit_s = time_limit_s

    def on_train_begin(self, logs=None):
        self._started = time.perf_counter()
        self._seconds_before = self.state.get("seconds", 0.0)
        saved = self.state.get("callbacks")
        if not saved:
            return
        for name, callback in (("early_stopping", self.early_stopping), ("reduce_lr", self.reduce_lr)):
            for key, value in saved[name].items():
                setattr(callback, key, value)

    def on_epoch_end(self, epoch, logs=None):
        logs = {key: float(value) for key, value in (logs or {}).items()}
        # ReduceLROnPlateau (earlier in the list) logged the rate this epoch ran with.
        logs.setdefault("learning_rate", float(ops.convert_to_numpy(self.model.optimizer.learning_rate)))
        save_model(self.model, self.output_dir / LAST_MODEL)
        val_loss = logs.get("val_loss", logs.get("loss"))
        best = self.state.get("best_val_loss")
        if best is None or val_loss < best:
            self.state["best_val_loss"], self.state["best_epoch"] = val_loss, epoch
            save_model(self.model, self.output_dir / BEST_MODEL)
        self.state["seconds"] = self._seconds_before + time.perf_counter() - self._started
        self.state["history"].append({"epoch": epoch, **logs, "seconds": self.state["seconds"]})
        self.state["epochs_done"] = epoch + 1
        self.state["callbacks"] = {
            "early_stopping": {"wait": self.early_stopping.wait, "best": _plain(self.early_stopping.best),
                               "best_epoch": self.early_stopping.best_epoch},
            "reduce_lr": {"wait": self.reduce_lr.wait, "best": _plain(self.reduce_lr.best),
                          "cooldown_counter": self.reduce_lr.cooldown_counter},
        }
        if self.time_limit_s is not None and self.state["seconds"] >= self.time_limit_s:
            self.state["stopped"] = f"time limit of {self.time_limit_s / 60:g} minutes"
            self.model.stop_training = True
        _write_state(self.output_dir, self.state)

    def on_train_end(self, logs=None):
        if self.early_stopping.stopped_epoch and "stopped" not in self.state:
            self.state["stopped"] = "early stopping"
            _write_state(self.output_dir, self.state)


def _extend_budget(state, epochs, time_limit_minutes):
    """Lets a run stopped by its time budget go on when asked a larger one (in place on ``state``).

    The budgets (``epochs``, ``time_limit_minutes``) are recorded as asked last; a run stopped early
    (its validation loss no longer fell) stays finished whatever the budget.
    """
    budget_s = None if time_limit_minutes is None else 60.0 * float(time_limit_minutes)
    if state.get("stopped", "").startswith("time limit") and (budget_s is None or state["seconds"] < budget_s):
        log.info("time budget raised to %s minutes: training goes on from epoch %d", time_limit_minutes,
                 state["epochs_done"] + 1)
        del state["stopped"]
    state["settings"].update(epochs=epochs, time_limit_minutes=time_limit_minutes)


def _plain(value):
    return None if value is None else float(value)


def _write_state(output_dir, state):
    with io.atomic_path(Path(output_dir) / STATE_FILE) as tmp:
        tmp.write_text(json.dumps(state, indent=1, sort_keys=True))
    _write_history(output_dir, state["history"])


def _write_history(output_dir, history):
    columns = sorted({key for row in history for key in row} - {"epoch"})
    with io.atomic_path(Path(output_dir) / HISTORY_CSV) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["epoch", *columns])
        writer.writeheader()
        writer.writerows(history)


def _restore_best_model(output_dir, state):
    """Put back a missing best.keras from last.keras when the last epoch was the best (the same weights);
    raise DataFileError, one line, when an earlier epoch was: its weights are gone."""
    output_dir = Path(output_dir)
    best_path = output_dir / BEST_MODEL
    if best_path.is_file():
        return
    best_epoch, epochs_done = state.get("best_epoch"), state["epochs_done"]
    if best_epoch != epochs_done - 1:
        where = "unknown" if best_epoch is None else best_epoch + 1
        raise io.DataFileError(f"{best_path}: missing, and the best model (epoch {where} of {epochs_done}) is not "
                               f"the last one ({LAST_MODEL}); delete {output_dir} to train again")
    with io.atomic_path(best_path) as tmp:
        shutil.copyfile(output_dir / LAST_MODEL, tmp)
    log.warning("%s: %s was missing; restored from %s (epoch %d, the best)", output_dir, BEST_MODEL, LAST_MODEL,
                epochs_done)


def _remake_missing(output_dir, state):
    """history.csv and learning_curve.png of a finished run, from the history in state.json, where missing."""
    from braggsynth import figures

    output_dir = Path(output_dir)
    if not (output_dir / HISTORY_CSV).is_file():
        _write_history(output_dir, state["history"])
        log.info("%s: remade the missing %s from %s", output_dir, HISTORY_CSV, STATE_FILE)
    if not (output_dir / CURVE_PNG).is_file():
        figures.learning_curve(state["history"], output_dir / CURVE_PNG)
        log.info("%s: remade the missing %s from %s", output_dir, CURVE_PNG, STATE_FILE)


def _warm_start(model, path) -> dict:
    """Copy the weights of the model at ``path`` into ``model`` (same architecture); its name and SHA-256."""
    path = Path(path)
    start = load_model(path)
    if prefill_of(start) != prefill_of(model) or start.input_shape != model.input_shape or [
            tuple(w.shape) for w in start.weights] != [tuple(w.shape) for w in model.weights]:
        raise io.DataFileError(
            f"{path}: train.initial_model has another architecture than the one asked for (prefill "
            f"{prefill_of(start)}, window {start.input_shape[1:4]}, {start.count_params():,} parameters, against "
            f"{prefill_of(model)}, {model.input_shape[1:4]}, {model.count_params():,})")
    model.set_weights(start.get_weights())
    return {"path": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def has_bfloat16(cpuinfo: str | None = None) -> bool:
    """True where bfloat16 arithmetic is fast: TensorFlow sees a GPU, or the CPU's flags (``/proc/cpuinfo``,
    or its text) name one of :data:`BFLOAT16_CPU_FLAGS`; False where they cannot be read."""
    if cpuinfo is None and _gpu_visible():
        return True
    return bool(_cpu_flags(cpuinfo).intersection(BFLOAT16_CPU_FLAGS))


def cpu_lacks_bfloat16(cpuinfo: str | None = None) -> bool:
    """True where the CPU's flags (``/proc/cpuinfo``, or its text) name none of :data:`BFLOAT16_CPU_FLAGS`.

    False when the flags cannot be read (not Linux) or a GPU does the arithmetic.
    """
    if cpuinfo is None and _gpu_visible():
        return False
    flags = _cpu_flags(cpuinfo)
    return bool(flags) and not flags.intersection(BFLOAT16_CPU_FLAGS)


def resolve_precision(precision: str, cpuinfo: str | None = None) -> str:
    """The arithmetic of ``precision`` (:data:`PRECISIONS`): "auto" is "bfloat16" where :func:`has_bfloat16`,
    else "float32"; the others are themselves."""
    if precision not in PRECISIONS and precision != "auto":
        raise ValueError(f"unknown precision {precision!r}; expected auto or one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        return "bfloat16" if has_bfloat16(cpuinfo) else "float32"
    return precision


def _gpu_visible() -> bool:
    if keras.backend.backend() != "tensorflow":
        return False
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def _cpu_flags(cpuinfo: str | None) -> set[str]:
    """The flags of ``cpuinfo`` (the text of /proc/cpuinfo; None: read it, empty where it cannot be read)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return set()
    return {flag for line in cpuinfo.splitlines() if line.startswith("flags")
            for flag in line.split(":", 1)[-1].split()}


def train(dataset_path, output_dir, *, epochs: int = 50, batch_size: int = 16, learning_rate: float = 1e-3,
          seed: int = 0, gap_widths=None, patience: int = 6, reduce_lr_patience: int = 2,
          reduce_lr_factor: float = 0.5, min_learning_rate: float = 1e-5, time_limit_minutes: float | None = None,
          patches_per_epoch: int | None = None,
          base_filters: int = DEFAULT_BASE_FILTERS, depth: int = DEFAULT_DEPTH, prefill: str = DEFAULT_PREFILL,
          target: str = "counts", amplitude_weight: float = 0.0, augment: bool = True, precision: str = "float32",
          initial_model=None, resume: bool = True, verbose: int = 2, callbacks=(),
          loader_threads: int = LOADER_THREADS) -> list[dict]:
    """Train the gap-inpainting model on a patch dataset, resumably.

    Streams ``train/`` and ``validation/`` of ``dataset_path`` in batches
    (:class:`PatchBatches`), minimises :class:`GapMSE` with Adam, lowers the
    learning rate on plateaus of the validation loss (ReduceLROnPlateau) and
    stops early (EarlyStopping, ``patience`` epochs) or when the training
    time reaches ``time_limit_minutes``.  Every epoch it writes to
    ``output_dir``: ``last.keras`` (model and optimizer state), ``best.keras``
    (lowest validation loss), ``state.json`` and ``history.csv`` (one row per
    epoch); at the end ``learning_curve.png``.

    With ``resume`` (default) and a ``state.json`` + ``last.keras`` present, a
    rerun continues from ``last.keras`` at the first epoch not yet done, with
    the optimizer, learning rate, time spent and callback counters as they
    were; the model arguments of the rerun are then ignored.  A run killed
    during an epoch loses that epoch only.  A run stopped by its time budget
    goes on when rerun with a larger ``time_limit_minutes`` (or ``epochs``):
    a budget is how long to train, not what.  A rerun of a finished run
    (stopped, or at ``epochs``) trains nothing: it remakes a missing
    ``history.csv`` or ``learning_curve.png`` from the history in
    ``state.json`` (a run killed after its last epoch, before its curve).  A
    missing ``best.keras`` is copied back from ``last.keras`` when the last
    epoch was the best (the same weights); when an earlier epoch was, those
    weights are gone and the rerun raises DataFileError, one line naming the
    file and the folder to delete to train again (retraining silently would
    discard the run's checkpoints and take as long as the first training).

    Parameters
    ----------
    dataset_path
        HDF5 patch dataset (see :class:`PatchBatches`).
    output_dir
        folder for the files above (created).
    epochs
        int, most epochs (counting those done before a resume).
    batch_size
        int, patches per step.
    learning_rate
        float, initial Adam learning rate.
    seed
        int, seeds the weights (``keras.utils.set_random_seed``), the
        per-epoch shuffle and the augmentations.
    gap_widths
        optional collection of int; train and validate only on
        patches with these gap widths (pixels).
    patience
        int, epochs without improvement of the validation loss before stopping.
    reduce_lr_patience, reduce_lr_factor, min_learning_rate
        ReduceLROnPlateau settings.
    time_limit_minutes
        optional training-time budget, checked after each epoch.
    patches_per_epoch
        optional int, training patches per epoch (a new random
        subset each epoch; default the whole split): shorter epochs check the
        validation loss, the time budget and the plateaus more often.
    base_filters, depth, prefill
        architecture (:func:`braggsynth.learn.model.build_model`);
        the patch size is the dataset's.
    target
        "counts" or "expected" (module docstring).
    amplitude_weight
        > 0 minimises :class:`GapAmplitudeLoss` with this weight (the dataset must hold each
        patch's ``bounds``), 0 :class:`GapMSE`.
    augment
        random flips and y/x swaps of the training patches.
    precision
        "float32", "bfloat16" (mixed precision: bfloat16 arithmetic,
        float32 weights, loss and output) or "auto" (:func:`resolve_precision`: bfloat16 where the
        hardware has bfloat16 instructions); ``state.json`` records the arithmetic used.
    initial_model
        optional path of a braggsynth model (loaded in safe mode) whose weights start the
        training instead of random ones (a warm start); its architecture and window must be the ones
        asked for. Its SHA-256 is recorded in ``state.json``.
    resume
        bool, continue from ``output_dir`` when it holds a run.
    verbose
        int, Keras verbosity (2: one line per epoch).
    callbacks
        extra Keras callbacks.
    loader_threads
        threads that read, prefill and augment the next training batches while the network
        trains on the last (the numbers do not depend on it: each batch is drawn from (seed, epoch, index)).

    Returns
    -------
    list of dict
        One per epoch done so far: ``epoch``, ``loss``, ``val_loss``,
        ``learning_rate``, ``seconds`` (training time so far).
    """
    from braggsynth import figures

    asked, precision = precision, resolve_precision(precision)
    if asked == "auto":
        log.info("train.precision auto: %s arithmetic", precision)
    elif precision == "bfloat16" and keras.backend.backend() == "tensorflow" and cpu_lacks_bfloat16():
        log.warning("train.precision bfloat16 on a CPU without bfloat16 instructions (%s): TensorFlow falls back to "
                    "kernels about 10x slower than float32; set train.precision: float32", "/".join(BFLOAT16_CPU_FLAGS))
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    state_path, last_path = output_dir / STATE_FILE, output_dir / LAST_MODEL
    for partial in output_dir.glob(f".{LAST_MODEL}.*.keras"):  # left by a run killed while saving
        partial.unlink(missing_ok=True)
    settings = {"dataset": str(dataset_path), "epochs": epochs, "batch_size": batch_size,
                "learning_rate": learning_rate, "seed": seed,
                "gap_widths": None if gap_widths is None else sorted(int(w) for w in gap_widths),
                "base_filters": base_filters, "depth": depth, "prefill": prefill, "target": target,
                "amplitude_weight": float(amplitude_weight),
                "augment": augment, "precision": precision, "time_limit_minutes": time_limit_minutes,
                "patches_per_epoch": patches_per_epoch,
                "backend": keras.backend.backend(), "versions": {**io.package_versions(), "keras": keras.__version__}}
    previous_policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(PRECISIONS[precision])
    try:
        if resume and state_path.is_file() and last_path.is_file():
            state = json.loads(state_path.read_text())
            _restore_best_model(output_dir, state)
            _extend_budget(state, epochs, time_limit_minutes)
            if state.get("stopped") or state["epochs_done"] >= epochs:
                log.info("%s: training already finished (%d epochs, %s)", output_dir, state["epochs_done"],
                         state.get("stopped", "epoch limit"))
                _remake_missing(output_dir, state)
                return state["history"]
            keras.utils.set_random_seed(seed + state["epochs_done"])
            model = load_model(last_path, compile=True)
            log.info("%s: resuming at epoch %d of %d", output_dir, state["epochs_done"] + 1, epochs)
        else:
            for stale in (STATE_FILE, LAST_MODEL, BEST_MODEL, HISTORY_CSV, CURVE_PNG):
                (output_dir / stale).unlink(missing_ok=True)
            with io.open_h5(dataset_path) as h5:
                if "train" not in h5:
                    raise io.DataFileError(f"{dataset_path}: has no 'train' group")
                patch_shape = tuple(h5["train"]["input"].shape[1:])
            if len(patch_shape) != 3 or len(set(patch_shape)) != 1:
                raise io.DataFileError(f"{dataset_path}: patches of shape {patch_shape} are not cubes")
            settings["patch_size"] = patch_shape[0]
            state = {"epochs_done": 0, "history": [], "best_val_loss": None, "seconds": 0.0, "settings": settings}
            keras.utils.set_random_seed(seed)
            model = build_model(patch_size=patch_shape[0], base_filters=base_filters, depth=depth, prefill=prefill)
            if initial_model is not None:
                settings["initial_model"] = _warm_start(model, initial_model)
            model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                          loss=GapAmplitudeLoss(amplitude_weight) if amplitude_weight > 0 else GapMSE())
        first_epoch = state["epochs_done"]
        method = prefill_of(model)
        with_bounds = isinstance(model.loss, GapAmplitudeLoss)  # a resumed run keeps its own loss
        training = PatchBatches(dataset_path, "train", batch_size, prefill=method, target=target,
                                gap_widths=gap_widths, shuffle=True, patches_per_epoch=patches_per_epoch,
                                augment=augment, seed=seed, first_epoch=first_epoch, with_bounds=with_bounds,
                                workers=int(loader_threads), use_multiprocessing=False)
        validation = PatchBatches(dataset_path, "validation", batch_size, prefill=method, target=target,
                                  gap_widths=gap_widths, with_bounds=with_bounds)
        early_stopping = keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience)
        reduce_lr = keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=reduce_lr_factor,
                                                      patience=reduce_lr_patience, min_lr=min_learning_rate)
        limit = None if time_limit_minutes is None else 60.0 * float(time_limit_minutes)
        checkpoint = _ResumableCheckpoint(output_dir, state, early_stopping, reduce_lr, limit)
        try:
            model.fit(training, validation_data=validation, epochs=epochs, initial_epoch=first_epoch,
                      callbacks=[early_stopping, reduce_lr, checkpoint, *callbacks], verbose=verbose)
        finally:
            training.close()
            validation.close()
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)
    figures.learning_curve(state["history"], output_dir / CURVE_PNG)
    return state["history"]
