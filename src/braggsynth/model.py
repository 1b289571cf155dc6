"""Gap-inpainting model: a 3D U-Net with dilated encoder blocks ("Unet_mod", Masto et al. 2024).

The model fills the detector gap of one 32^3 patch.  Its input is
(32, 32, 32, 2), channels last: channel 0 is the normalised gapped patch
(:func:`braggsynth.patches.normalise`: log(I + 1) scaled to [0, 1] over the
measured voxels, gap voxels 0), channel 1 the gap mask (1 in the gap).  Its
output (32, 32, 32, 1) is the *filled* patch: the network's sigmoid prediction
in the gap, the input unchanged elsewhere,

    out = mask * prediction + (1 - mask) * input,

so the measured voxels pass through untouched.  Patch axes are (z, y, x).

Architecture (``depth`` levels, filters f_i = base_filters * 2^i at level i,
kernel k^3, leaky ReLU after every convolution):

- encoder level i < len(dilation_rates) (the dilated blocks): the block input
  concatenated with len(rates) parallel k^3 convolutions of f_i // len(rates)
  filters each, one per dilation rate (the block keeps its input, as in the
  paper's ``encoder_block_mod``); deeper levels: one k^3 convolution of f_i
  filters.  The block output s_i is the skip; 2^3 max pooling follows.
- decoder: a stride-2 k^3 transposed convolution brings the pooled deepest map
  back to the size of s_{depth-1} with f_{depth-1} filters; then at each level
  i = depth-1 ... 1 the map is concatenated with s_i and a stride-2 transposed
  convolution with f_{i-1} filters doubles its size; finally the map is
  concatenated with s_0 and a k^3 convolution with one filter and a sigmoid
  gives the prediction.

Default dilation rates, for 32^3 patches: (8, 4, 2, 1) at 32^3, (4, 3, 2, 1) at
16^3, (2, 1) at 8^3.  The paper's (16, 8, 4, 2), (10, 5, 3, 1), (5, 3, 2, 1)
were chosen for larger images: at 32^3 a rate of 16 puts, along each axis,
one of the two outer taps of every voxel in the zero padding, so the defaults
halve the rates and keep each block's reach within the map it looks at.

Loss (:class:`GapLoss`), evaluated on the gap only, with the measured voxels of
the prediction replaced by the target's (so the loss cannot see them):

    L = w_pixel * MSE_gap + w_ssim * (1 - SSIM_gap) + w_gradient * MSE_grad,

- MSE_gap: mean squared error over the gap voxels;
- SSIM_gap: the 3D SSIM map (Gaussian window of 11 taps, sigma 1.5,
  K1 = 0.01, K2 = 0.03, data range 1; the map is defined where the whole
  window lies in the patch, i.e. on the central (n - 10)^3 voxels, as in
  scikit-image) of the filled patch against the target, averaged over the gap
  voxels of that region;
- MSE_grad: mean squared error of the forward differences along z, y and x,
  over the pairs of neighbours of which at least one is a gap voxel (mean of
  the three axes).
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import sys
from pathlib import Path

import h5py
import numpy as np

# TensorFlow's oneDNN kernels run the 3D (transposed) convolutions of this model
# 5-100x faster on CPU than its default ones here (TensorFlow 2.21 leaves them
# off); the setting is read when TensorFlow is imported, and the user's wins.
_ONEDNN_UNSET = "TF_ENABLE_ONEDNN_OPTS" not in os.environ
_TENSORFLOW_IMPORTED = "tensorflow" in sys.modules
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

import keras  # noqa: E402
from keras import layers, ops  # noqa: E402

from . import io

log = logging.getLogger("braggsynth.model")
if _ONEDNN_UNSET and _TENSORFLOW_IMPORTED and keras.backend.backend() == "tensorflow":
    log.warning("TensorFlow was imported before braggsynth.model without TF_ENABLE_ONEDNN_OPTS=1: "
                "3D convolutions may run many times slower on CPU")

#: Dilation rates of the dilated encoder blocks, one tuple per block, from the first (finest) level.
DEFAULT_DILATION_RATES = ((8, 4, 2, 1), (4, 3, 2, 1), (2, 1))
DEFAULT_BASE_FILTERS = 16  # 32 doubles the quality budget but halves CPU throughput
DEFAULT_DEPTH = 4
PATCH_SIZE = 32

#: SSIM constants (Wang et al. 2004; scikit-image defaults with Gaussian weights).
SSIM_SIGMA = 1.5
SSIM_WINDOW = 11  # taps: radius int(3.5 * sigma + 0.5) = 5, as scikit-image's truncate=3.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03

#: Files written by :func:`train` in its output folder.
LAST_MODEL, BEST_MODEL, STATE_FILE, HISTORY_CSV, CURVE_PNG = (
    "last.keras", "best.keras", "state.json", "history.csv", "learning_curve.png")


# --------------------------------------------------------------------------- architecture


@keras.saving.register_keras_serializable(package="braggsynth")
class FillGap(layers.Layer):
    """Keep the measured voxels: ``mask * prediction + (1 - mask) * gapped``.

    Called on ``[inputs, prediction]`` where ``inputs`` is (..., 2) = (gapped
    patch, gap mask) and ``prediction`` is (..., 1); returns (..., 1).
    """

    def call(self, inputs):
        patch_and_mask, prediction = inputs
        gapped = patch_and_mask[..., 0:1]
        mask = patch_and_mask[..., 1:2]
        return mask * prediction + (1.0 - mask) * gapped

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[1])


def _check_architecture(patch_size, base_filters, depth, dilation_rates):
    if depth < 1:
        raise ValueError(f"depth must be at least 1, got {depth}")
    if patch_size % 2**depth:
        raise ValueError(f"patch_size {patch_size} must be divisible by 2**depth = {2**depth}")
    if len(dilation_rates) > depth:
        raise ValueError(f"dilation_rates has {len(dilation_rates)} blocks but depth is {depth}")
    for level, rates in enumerate(dilation_rates):
        if not rates or any(int(r) != r or r < 1 for r in rates):
            raise ValueError(f"dilation_rates[{level}] must be positive integers, got {rates!r}")
        if base_filters * 2**level // len(rates) < 1:
            raise ValueError(f"base_filters {base_filters} is too small for {len(rates)} dilation rates "
                             f"at level {level}")


def build_model(*, patch_size: int = PATCH_SIZE, base_filters: int = DEFAULT_BASE_FILTERS,
                depth: int = DEFAULT_DEPTH, dilation_rates=DEFAULT_DILATION_RATES,
                kernel_size: int = 3) -> keras.Model:
    """The (uncompiled) gap-inpainting 3D U-Net described in the module docstring.

    Parameters
    ----------
    patch_size : int, voxels per side of the cubic patch; divisible by 2**depth.
    base_filters : int, filters of the first level (doubled at each level).
    depth : int, number of encoder levels (max-pooling steps).
    dilation_rates : sequence of sequences of int, one per dilated encoder
        block from the first level; fewer blocks than ``depth``.
    kernel_size : int, side of every convolution kernel.

    Returns
    -------
    keras.Model mapping (batch, n, n, n, 2) to the filled patch (batch, n, n, n, 1).

    Examples
    --------
    >>> model = build_model(base_filters=8, depth=2, dilation_rates=((4, 2, 1, 1),))
    >>> model.output_shape
    (None, 32, 32, 32, 1)
    """
    dilation_rates = tuple(tuple(int(r) for r in rates) for rates in dilation_rates)
    _check_architecture(patch_size, base_filters, depth, dilation_rates)
    conv = dict(kernel_size=kernel_size, padding="same", activation="leaky_relu")
    inputs = keras.Input((patch_size, patch_size, patch_size, 2), name="gapped_patch_and_mask")
    x = inputs
    skips = []
    for level in range(depth):
        filters = base_filters * 2**level
        if level < len(dilation_rates):
            rates = dilation_rates[level]
            branches = [layers.Conv3D(filters // len(rates), dilation_rate=rate,
                                      name=f"encoder{level}_dilation{rate}_{i}", **conv)(x)
                        for i, rate in enumerate(rates)]
            x = layers.Concatenate(name=f"encoder{level}_concat")([x, *branches])
        else:
            x = layers.Conv3D(filters, name=f"encoder{level}_conv", **conv)(x)
        skips.append(x)
        x = layers.MaxPooling3D(2, name=f"encoder{level}_pool")(x)
    x = layers.Conv3DTranspose(base_filters * 2 ** (depth - 1), strides=2, name=f"decoder{depth - 1}_up", **conv)(x)
    for level in range(depth - 1, 0, -1):
        x = layers.Concatenate(name=f"decoder{level}_skip")([x, skips[level]])
        x = layers.Conv3DTranspose(base_filters * 2 ** (level - 1), strides=2, name=f"decoder{level - 1}_up", **conv)(x)
    x = layers.Concatenate(name="decoder0_skip")([x, skips[0]])
    prediction = layers.Conv3D(1, kernel_size, padding="same", activation="sigmoid", name="head")(x)
    filled = FillGap(name="fill_gap")([inputs, prediction])
    return keras.Model(inputs, filled, name="unet_mod_3d")


def count_parameters(*, base_filters: int = DEFAULT_BASE_FILTERS, depth: int = DEFAULT_DEPTH,
                     dilation_rates=DEFAULT_DILATION_RATES, kernel_size: int = 3) -> int:
    """Number of trainable parameters of :func:`build_model`, from the layer shapes.

    A (transposed) convolution from c_in to c_out channels with a k^3 kernel
    has k^3 c_in c_out + c_out parameters.  With f_i = base_filters 2^i and c_i
    the channels of the skip s_i (c_{-1} = 2 input channels):

    - dilated level, n rates: n (k^3 c_{i-1} (f_i // n) + f_i // n), and
      c_i = c_{i-1} + n (f_i // n);
    - plain level: k^3 c_{i-1} f_i + f_i, and c_i = f_i;
    - decoder: k^3 c_{D-1} f_{D-1} + f_{D-1}, then for i = D-1 ... 1
      k^3 (f_i + c_i) f_{i-1} + f_{i-1}, and the head k^3 (f_0 + c_0) + 1.

    With the defaults (16 filters, depth 4, rates (8,4,2,1), (4,3,2,1), (2,1))
    this is 1,572,151; with 32 filters 6,254,647.  Independent of the patch size.
    """
    dilation_rates = tuple(tuple(rates) for rates in dilation_rates)
    _check_architecture(2**depth, base_filters, depth, dilation_rates)
    k3 = kernel_size**3

    def conv(c_in, c_out):
        return k3 * c_in * c_out + c_out

    total, channels, skip_channels = 0, 2, []
    for level in range(depth):
        filters = base_filters * 2**level
        if level < len(dilation_rates):
            branch = filters // len(dilation_rates[level])
            total += len(dilation_rates[level]) * conv(channels, branch)
            channels += len(dilation_rates[level]) * branch
        else:
            total += conv(channels, filters)
            channels = filters
        skip_channels.append(channels)
    filters = base_filters * 2 ** (depth - 1)
    total += conv(channels, filters)
    for level in range(depth - 1, 0, -1):
        total += conv(filters + skip_channels[level], base_filters * 2 ** (level - 1))
        filters = base_filters * 2 ** (level - 1)
    total += conv(filters + skip_channels[0], 1)
    return total


# --------------------------------------------------------------------------- SSIM and loss


def _gaussian_taps(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> np.ndarray:
    offsets = np.arange(size) - (size - 1) / 2
    taps = np.exp(-0.5 * (offsets / sigma) ** 2)
    return (taps / taps.sum()).astype(np.float32)


def _gaussian_filter_valid(volumes):
    """Separable Gaussian mean over the window, 'valid' region: (b, z, y, x, 1) -> (b, z-10, y-10, x-10, 1)."""
    taps = _gaussian_taps()
    for axis in range(3):
        shape = [1, 1, 1, 1, 1]
        shape[axis] = taps.size
        volumes = ops.conv(volumes, ops.convert_to_tensor(taps.reshape(shape), dtype="float32"), padding="valid")
    return volumes


def ssim_map(a, b):
    """Local 3D SSIM of two batches of volumes with values in [0, 1] (keras tensors or arrays).

    SSIM = (2 mu_a mu_b + C1)(2 cov_ab + C2) / ((mu_a^2 + mu_b^2 + C1)(var_a + var_b + C2)),
    with local means and (population) covariances under a normalised Gaussian
    window of 11^3 taps and sigma 1.5 voxels, C1 = (0.01)^2, C2 = (0.03)^2
    (data range 1).

    Parameters
    ----------
    a, b : (batch, z, y, x, 1) float tensors; each side at least 11.

    Returns
    -------
    (batch, z - 10, y - 10, x - 10, 1): SSIM where the whole window lies
    inside the volume (scikit-image crops the same 5-voxel border).
    """
    a = ops.convert_to_tensor(a, dtype="float32")
    b = ops.convert_to_tensor(b, dtype="float32")
    batch = ops.shape(a)[0]
    moments = _gaussian_filter_valid(ops.concatenate([a, b, a * a, b * b, a * b], axis=0))
    mu_a, mu_b, aa, bb, ab = (moments[i * batch:(i + 1) * batch] for i in range(5))
    var_a = aa - mu_a * mu_a
    var_b = bb - mu_b * mu_b
    cov = ab - mu_a * mu_b
    c1, c2 = SSIM_K1**2, SSIM_K2**2
    return ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a * mu_a + mu_b * mu_b + c1) * (var_a + var_b + c2))


def _crop_to_ssim_map(volumes):
    border = (SSIM_WINDOW - 1) // 2
    return volumes[:, border:-border, border:-border, border:-border, :]


def ssim_3d(a, b, mask=None) -> float:
    """Mean 3D SSIM of two volumes with values in [0, 1] (see :func:`ssim_map`).

    Parameters
    ----------
    a, b : (z, y, x) arrays, each side at least 11.
    mask : optional (z, y, x) bool array; when given, the SSIM map is averaged
        over the voxels of ``mask`` only (those at least 5 voxels from the
        border); NaN when there are none.

    Returns
    -------
    float.  Without a mask it equals
    ``skimage.metrics.structural_similarity(a, b, data_range=1,
    gaussian_weights=True, sigma=1.5, use_sample_covariance=False)``.
    """
    a = np.asarray(a, dtype=np.float32)
    b = np.asarray(b, dtype=np.float32)
    if a.ndim != 3 or a.shape != b.shape:
        raise ValueError(f"a and b must be 3D volumes of one shape, got {a.shape} and {b.shape}")
    if min(a.shape) < SSIM_WINDOW:
        raise ValueError(f"volumes of shape {a.shape} are smaller than the {SSIM_WINDOW}-voxel SSIM window")
    local = ops.convert_to_numpy(ssim_map(a[None, ..., None], b[None, ..., None]))[0, ..., 0].astype(np.float64)
    if mask is None:
        return float(local.mean())
    inside = _crop_to_ssim_map(np.asarray(mask, dtype=bool)[None, ..., None])[0, ..., 0]
    return float(local[inside].mean()) if inside.any() else float("nan")


def _masked_mean(values, weights):
    axes = tuple(range(1, len(values.shape)))
    return ops.sum(values * weights, axis=axes) / ops.maximum(ops.sum(weights, axis=axes), 1.0)


@keras.saving.register_keras_serializable(package="braggsynth")
class GapLoss(keras.losses.Loss):
    """Loss on the gap voxels: pixel MSE + (1 - SSIM) + gradient MSE, weighted (module docstring).

    ``y_true`` is (batch, z, y, x, 2): the normalised target patch and the gap
    mask; ``y_pred`` is (batch, z, y, x, 1).  Returns one value per patch.

    Parameters
    ----------
    pixel_weight, ssim_weight, gradient_weight : float, weights of the three terms.
    """

    def __init__(self, pixel_weight=1.0, ssim_weight=1.0, gradient_weight=1.0, name="gap_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.pixel_weight = float(pixel_weight)
        self.ssim_weight = float(ssim_weight)
        self.gradient_weight = float(gradient_weight)

    def call(self, y_true, y_pred):
        y_true = ops.convert_to_tensor(y_true, dtype="float32")
        target, mask = y_true[..., 0:1], y_true[..., 1:2]
        filled = mask * ops.cast(y_pred, "float32") + (1.0 - mask) * target
        loss = 0.0
        if self.pixel_weight:
            loss = loss + self.pixel_weight * _masked_mean(ops.square(filled - target), mask)
        if self.ssim_weight:
            dissimilarity = 1.0 - ssim_map(filled, target)
            loss = loss + self.ssim_weight * _masked_mean(dissimilarity, _crop_to_ssim_map(mask))
        if self.gradient_weight:
            gradient = 0.0
            for axis in (1, 2, 3):
                size = ops.shape(filled)[axis]
                head = [slice(None)] * 5
                tail = [slice(None)] * 5
                head[axis], tail[axis] = slice(1, size), slice(0, size - 1)
                head, tail = tuple(head), tuple(tail)
                error = (filled[head] - filled[tail]) - (target[head] - target[tail])
                gradient = gradient + _masked_mean(ops.square(error), ops.maximum(mask[head], mask[tail]))
            loss = loss + self.gradient_weight * gradient / 3.0
        return loss

    def get_config(self):
        return {**super().get_config(), "pixel_weight": self.pixel_weight, "ssim_weight": self.ssim_weight,
                "gradient_weight": self.gradient_weight}


# --------------------------------------------------------------------------- data


class PatchBatches(keras.utils.PyDataset):
    """Batches of one split of a patch dataset, read from HDF5 slice by slice (never whole).

    Each item is ``(x, y)``: x (batch, n, n, n, 2) = (input, mask), y (batch,
    n, n, n, 2) = (target, mask), float32.

    Parameters
    ----------
    path : HDF5 dataset file with groups ``train``, ``validation``, ``test``.
    split : group name.
    batch_size : int.
    gap_widths : optional collection of int; keep only the patches whose
        ``gap_width_px`` is one of them.
    shuffle : bool; reshuffle the patches every epoch (order drawn from
        (seed, epoch), so a resumed run sees the same order).
    seed : int.
    first_epoch : int, epoch of the first pass (for the shuffle order).
    """

    def __init__(self, path, split, batch_size, *, gap_widths=None, shuffle=False, seed=0, first_epoch=0, **kwargs):
        super().__init__(**kwargs)
        self.path, self.split, self.batch_size = Path(path), split, int(batch_size)
        self.shuffle, self.seed, self.epoch = shuffle, int(seed), int(first_epoch)
        self._handle = None
        with io.open_h5(self.path) as h5:
            if split not in h5:
                raise io.DataFileError(f"{self.path}: has no '{split}' group (has {', '.join(h5)})")
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
        if not self.shuffle:
            return self.indices
        return np.random.default_rng((self.seed, self.epoch)).permutation(self.indices)

    def __len__(self):
        return math.ceil(self.indices.size / self.batch_size)

    def _group(self):
        if self._handle is None:
            self._handle = h5py.File(self.path, "r")
        return self._handle[self.split]

    def read(self, rows):
        """(input, mask, target) arrays of the given rows (sorted internally), each (k, n, n, n)."""
        rows = np.sort(np.asarray(rows))
        group = self._group()
        if rows.size and np.all(np.diff(rows) == 1):
            selection = slice(int(rows[0]), int(rows[-1]) + 1)
        else:
            selection = rows
        return (group["input"][selection].astype(np.float32), group["mask"][selection].astype(bool),
                group["target"][selection].astype(np.float32))

    def __getitem__(self, index):
        rows = self._order[index * self.batch_size:(index + 1) * self.batch_size]
        inputs, mask, target = self.read(rows)
        mask = mask.astype(np.float32)
        return np.stack([inputs, mask], axis=-1), np.stack([target, mask], axis=-1)

    def on_epoch_end(self):
        self.epoch += 1
        self._order = self._draw_order()

    def close(self):
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def model_inputs(patches, masks) -> np.ndarray:
    """Stack normalised gapped patches (b, n, n, n) and gap masks (b, n, n, n) into model input (b, n, n, n, 2)."""
    return np.stack([np.asarray(patches, dtype=np.float32), np.asarray(masks, dtype=np.float32)], axis=-1)


# --------------------------------------------------------------------------- training


class _ResumableCheckpoint(keras.callbacks.Callback):
    """Saves last.keras every epoch, best.keras on improvement, and the state needed to resume.

    ``state.json`` holds the epochs done, the per-epoch logs (also written to
    ``history.csv``), the best validation loss and the counters of the
    early-stopping and learning-rate callbacks, which it puts back at the
    start of a resumed run.
    """

    def __init__(self, output_dir, state, early_stopping, reduce_lr):
        super().__init__()
        self.output_dir, self.state = Path(output_dir), state
        self.early_stopping, self.reduce_lr = early_stopping, reduce_lr

    def on_train_begin(self, logs=None):
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
        tmp = self.output_dir / f".{LAST_MODEL}.{os.getpid()}.keras"
        self.model.save(tmp)
        os.replace(tmp, self.output_dir / LAST_MODEL)
        val_loss = logs.get("val_loss", logs.get("loss"))
        best = self.state.get("best_val_loss")
        if best is None or val_loss < best:
            self.state["best_val_loss"], self.state["best_epoch"] = val_loss, epoch
            self.model.save(tmp)
            os.replace(tmp, self.output_dir / BEST_MODEL)
        self.state["history"].append({"epoch": epoch, **logs})
        self.state["epochs_done"] = epoch + 1
        self.state["callbacks"] = {
            "early_stopping": {"wait": self.early_stopping.wait, "best": _plain(self.early_stopping.best),
                               "best_epoch": self.early_stopping.best_epoch},
            "reduce_lr": {"wait": self.reduce_lr.wait, "best": _plain(self.reduce_lr.best),
                          "cooldown_counter": self.reduce_lr.cooldown_counter},
        }
        _write_state(self.output_dir, self.state)

    def on_train_end(self, logs=None):
        if self.early_stopping.stopped_epoch:
            self.state["stopped_early"] = True
            _write_state(self.output_dir, self.state)


def _plain(value):
    return None if value is None else float(value)


def _write_state(output_dir, state):
    with io.atomic_path(Path(output_dir) / STATE_FILE) as tmp:
        tmp.write_text(json.dumps(state, indent=1, sort_keys=True))
    columns = sorted({key for row in state["history"] for key in row} - {"epoch"})
    with io.atomic_path(Path(output_dir) / HISTORY_CSV) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["epoch", *columns])
        writer.writeheader()
        writer.writerows(state["history"])


def train(dataset_path, output_dir, *, epochs: int = 50, batch_size: int = 16, learning_rate: float = 1e-4,
          seed: int = 0, gap_widths=None, patience: int = 10, reduce_lr_patience: int = 4,
          reduce_lr_factor: float = 0.5, min_learning_rate: float = 1e-6, base_filters: int = DEFAULT_BASE_FILTERS,
          depth: int = DEFAULT_DEPTH, dilation_rates=DEFAULT_DILATION_RATES, pixel_weight: float = 1.0,
          ssim_weight: float = 1.0, gradient_weight: float = 1.0, resume: bool = True, verbose: int = 2,
          callbacks=()) -> list[dict]:
    """Train the gap-inpainting model on a patch dataset, resumably.

    Streams ``train/`` and ``validation/`` of ``dataset_path`` in batches
    (:class:`PatchBatches`), minimises :class:`GapLoss` with Adam, lowers the
    learning rate on plateaus of the validation loss (ReduceLROnPlateau) and
    stops early (EarlyStopping, ``patience`` epochs).  Every epoch it writes to
    ``output_dir``: ``last.keras`` (model and optimizer state), ``best.keras``
    (lowest validation loss), ``state.json`` and ``history.csv`` (one row per
    epoch); at the end ``learning_curve.png``.

    With ``resume`` (default) and a ``state.json`` + ``last.keras`` present, a
    rerun continues from ``last.keras`` at the first epoch not yet done, with
    the optimizer, learning rate and callback counters as they were; the model
    arguments of the rerun are then ignored.  A run killed during an epoch
    loses that epoch only.

    Parameters
    ----------
    dataset_path : HDF5 patch dataset (see :class:`PatchBatches`).
    output_dir : folder for the files above (created).
    epochs : int, total number of epochs (counting those done before a resume).
    batch_size : int, patches per step.
    learning_rate : float, initial Adam learning rate.
    seed : int, seeds the weights (``keras.utils.set_random_seed``) and the
        per-epoch shuffle.
    gap_widths : optional collection of int; train and validate only on
        patches with these gap widths (pixels).
    patience : int, epochs without improvement of the validation loss before stopping.
    reduce_lr_patience, reduce_lr_factor, min_learning_rate : ReduceLROnPlateau settings.
    base_filters, depth, dilation_rates : architecture (:func:`build_model`);
        the patch size is the dataset's.
    pixel_weight, ssim_weight, gradient_weight : loss weights (:class:`GapLoss`).
    resume : bool, continue from ``output_dir`` when it holds a run.
    verbose : int, Keras verbosity (2: one line per epoch).
    callbacks : extra Keras callbacks.

    Returns
    -------
    list of dict, one per epoch done so far: ``epoch``, ``loss``, ``val_loss``, ``learning_rate``.
    """
    from . import figures

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    state_path, last_path = output_dir / STATE_FILE, output_dir / LAST_MODEL
    for partial in output_dir.glob(f".{LAST_MODEL}.*.keras"):  # left by a run killed while saving
        partial.unlink(missing_ok=True)
    settings = {"dataset": str(dataset_path), "epochs": epochs, "batch_size": batch_size,
                "learning_rate": learning_rate, "seed": seed,
                "gap_widths": None if gap_widths is None else sorted(int(w) for w in gap_widths),
                "base_filters": base_filters, "depth": depth,
                "dilation_rates": [list(rates) for rates in dilation_rates], "pixel_weight": pixel_weight,
                "ssim_weight": ssim_weight, "gradient_weight": gradient_weight, "backend": keras.backend.backend(),
                "versions": {**io.package_versions(), "keras": keras.__version__}}
    if resume and state_path.is_file() and last_path.is_file():
        state = json.loads(state_path.read_text())
        if state.get("stopped_early") or state["epochs_done"] >= epochs:
            log.info("%s: training already finished (%d epochs)", output_dir, state["epochs_done"])
            return state["history"]
        keras.utils.set_random_seed(seed + state["epochs_done"])
        model = load_model(last_path)
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
        state = {"epochs_done": 0, "history": [], "best_val_loss": None, "settings": settings}
        keras.utils.set_random_seed(seed)
        model = build_model(patch_size=patch_shape[0], base_filters=base_filters, depth=depth,
                            dilation_rates=dilation_rates)
        model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                      loss=GapLoss(pixel_weight, ssim_weight, gradient_weight))
    first_epoch = state["epochs_done"]
    training = PatchBatches(dataset_path, "train", batch_size, gap_widths=gap_widths, shuffle=True, seed=seed,
                            first_epoch=first_epoch)
    validation = PatchBatches(dataset_path, "validation", batch_size, gap_widths=gap_widths)
    early_stopping = keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience)
    reduce_lr = keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=reduce_lr_factor,
                                                  patience=reduce_lr_patience, min_lr=min_learning_rate)
    checkpoint = _ResumableCheckpoint(output_dir, state, early_stopping, reduce_lr)
    try:
        model.fit(training, validation_data=validation, epochs=epochs, initial_epoch=first_epoch,
                  callbacks=[early_stopping, reduce_lr, checkpoint, *callbacks], verbose=verbose)
    finally:
        training.close()
        validation.close()
    figures.learning_curve(state["history"], output_dir / CURVE_PNG)
    return state["history"]


def load_model(path) -> keras.Model:
    """Load a model saved by :func:`train` in safe mode (a file with Lambda layers or pickled code is refused)."""
    path = Path(path)
    if not path.is_file():
        raise io.DataFileError(f"{path}: model file not found")
    try:
        return keras.saving.load_model(path, safe_mode=True)
    except ValueError as error:
        raise ValueError(f"{path}: refused or unreadable model file ({error})") from None
