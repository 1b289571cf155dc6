"""Gap-inpainting model: a 3D U-Net that corrects a classic fill of the gap (residual design).

The model fills the detector gap of one 32^3 patch.  Its input is
(n, n, n, 2), channels last: channel 0 the normalised patch
(:func:`braggsynth.data.patches.normalise`: log(I + 1) scaled to [0, 1] over the
measured voxels) whose gap is already filled by a classic interpolation, the
*prefill* (:func:`prefill`; by default 1D linear interpolation across the gap
from the measured voxels smoothed by a masked Gaussian of 1 voxel, which on
Poisson counts continues the local mean rather than the noise at the gap's
edges); channel 1 the gap mask (1 in the gap).  Its output (n, n, n, 1) is

    out = prefill + mask * correction,

where ``correction`` is the U-Net's output.  The measured voxels pass through
untouched, and the last (1^3) convolution starts at zero, so an untrained
network returns the prefill exactly: training starts where the baseline ends
and can only add to it.  ``prefill="zero"`` gives the network the gap at 0
instead (the design of Masto et al.), for comparison.  Patch axes are (z, y, x).

Architecture (``depth`` poolings, filters f_i = base_filters * 2^i at level
i = 0 ... depth, k^3 kernels, ReLU): at each level two k^3 convolutions; a
2^3 max pooling between levels; on the way up a stride-2 2^3 transposed
convolution to f_{i}, concatenation with level i's output, two k^3
convolutions; a 1^3 convolution (zero-initialised) gives the correction.
With 16 base filters and depth 2: 339,681 parameters.
"""

from __future__ import annotations

import itertools
import logging
import os
from pathlib import Path

import keras
import numpy as np
from keras import layers

from braggsynth import io
from braggsynth.learn import ONEDNN_UNSET, TENSORFLOW_IMPORTED
from braggsynth.models import SHIPPED_MODEL, window_of
from braggsynth.score import baselines

log = logging.getLogger("braggsynth.learn.model")
if ONEDNN_UNSET and TENSORFLOW_IMPORTED and keras.backend.backend() == "tensorflow":
    log.warning("TensorFlow was imported before braggsynth.learn without TF_ENABLE_ONEDNN_OPTS=1: "
                "3D convolutions may run many times slower on CPU")

PATCH_SIZE = 32
DEFAULT_BASE_FILTERS = 16
DEFAULT_DEPTH = 2
#: Ways of filling the gap of the network's input (names of :mod:`braggsynth.score.baselines` fillers).
PREFILLS = ("zero", "linear", "smoothed_linear")
DEFAULT_PREFILL = "smoothed_linear"


def prefill(patches, masks, method: str = DEFAULT_PREFILL) -> np.ndarray:
    """Fill the gaps of a batch of normalised patches with a classic filler, the network's starting point.

    Parameters
    ----------
    patches
        (b, n, n, n) normalised patches; gap values are ignored.
    masks
        (b, n, n, n) bool, True in the gap.
    method
        one of :data:`PREFILLS` (:func:`braggsynth.score.baselines.zero_fill`,
        :func:`~braggsynth.score.baselines.linear_fill`,
        :func:`~braggsynth.score.baselines.smoothed_linear_fill`), applied to each
        patch along y and x.

    Returns
    -------
    float32 (b, n, n, n), measured voxels unchanged.
    """
    if method not in PREFILLS:
        raise ValueError(f"unknown prefill {method!r}; expected one of {', '.join(PREFILLS)}")
    return baselines.fill_batch(method, patches, masks)


@keras.saving.register_keras_serializable(package="braggsynth")
class ResidualFill(layers.Layer):
    """``prefilled + mask * correction``: the correction acts in the gap only.

    Called on ``[inputs, correction]`` where ``inputs`` is (..., 2) = (prefilled
    patch, gap mask) and ``correction`` is (..., 1); returns (..., 1).  The
    ``prefill`` method the input was made with is kept in the layer's config,
    so a saved model says how to prepare its input.
    """

    def __init__(self, prefill: str = DEFAULT_PREFILL, **kwargs):
        super().__init__(**kwargs)
        if prefill not in PREFILLS:
            raise ValueError(f"unknown prefill {prefill!r}; expected one of {', '.join(PREFILLS)}")
        self.prefill = prefill

    def call(self, inputs):
        patch_and_mask, correction = inputs
        prefilled = patch_and_mask[..., 0:1]
        mask = patch_and_mask[..., 1:2]
        return prefilled + mask * keras.ops.cast(correction, prefilled.dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[1])

    def get_config(self):
        return {**super().get_config(), "prefill": self.prefill}


def build_model(*, patch_size: int = PATCH_SIZE, base_filters: int = DEFAULT_BASE_FILTERS, depth: int = DEFAULT_DEPTH,
                prefill: str = DEFAULT_PREFILL, kernel_size: int = 3) -> keras.Model:
    """The (uncompiled) residual gap-inpainting 3D U-Net described in the module docstring.

    Parameters
    ----------
    patch_size
        int, voxels per side of the cubic patch; divisible by 2**depth.
    base_filters
        int, filters of the first level (doubled at each level).
    depth
        int, number of max-pooling steps (levels - 1).
    prefill
        how the input's gap is filled, one of :data:`PREFILLS` (recorded in the model).
    kernel_size
        int, side of the convolution kernels.

    Returns
    -------
    keras.Model
        Mapping (batch, n, n, n, 2) = (prefilled patch, mask) to the
        filled patch (batch, n, n, n, 1), float32 whatever the dtype policy.

    Examples
    --------
    >>> net = build_model(base_filters=4, depth=1)
    >>> net.output_shape
    (None, 32, 32, 32, 1)
    """
    if depth < 1 or patch_size % 2**depth:
        raise ValueError(f"patch_size {patch_size} must be divisible by 2**depth with depth >= 1, got depth {depth}")
    if base_filters < 1 or kernel_size < 1:
        raise ValueError(f"base_filters and kernel_size must be positive, got {base_filters} and {kernel_size}")
    conv = dict(kernel_size=kernel_size, padding="same", activation="relu")
    inputs = keras.Input((patch_size, patch_size, patch_size, 2), name="prefilled_patch_and_mask")
    x = inputs
    skips = []
    for level in range(depth + 1):
        filters = base_filters * 2**level
        x = layers.Conv3D(filters, name=f"encoder{level}_a", **conv)(x)
        x = layers.Conv3D(filters, name=f"encoder{level}_b", **conv)(x)
        if level < depth:
            skips.append(x)
            x = layers.MaxPooling3D(2, name=f"encoder{level}_pool")(x)
    for level in range(depth - 1, -1, -1):
        filters = base_filters * 2**level
        x = layers.Conv3DTranspose(filters, 2, strides=2, name=f"decoder{level}_up")(x)
        x = layers.Concatenate(name=f"decoder{level}_skip")([x, skips[level]])
        x = layers.Conv3D(filters, name=f"decoder{level}_a", **conv)(x)
        x = layers.Conv3D(filters, name=f"decoder{level}_b", **conv)(x)
    correction = layers.Conv3D(1, 1, kernel_initializer="zeros", name="correction", dtype="float32")(x)
    filled = ResidualFill(prefill, name="residual_fill", dtype="float32")([inputs, correction])
    return keras.Model(inputs, filled, name="residual_unet_3d")


def prefill_of(model) -> str:
    """The prefill method a model's input expects (``zero`` for models without a :class:`ResidualFill`)."""
    for layer in getattr(model, "layers", ()):
        if isinstance(layer, ResidualFill):
            return layer.prefill
    return "zero"


def patch_size_of(model, default: int = PATCH_SIZE) -> int:
    """Side of the cubic patches a model fills (from its input shape; ``default`` for other callables)."""
    shape = getattr(model, "input_shape", None)
    return int(shape[1]) if shape is not None and len(shape) == 5 and shape[1] is not None else default


def model_inputs(patches, masks, method: str = DEFAULT_PREFILL, prefilled=None) -> np.ndarray:
    """Network input (b, n, n, n, 2) float32: the :func:`prefill` of the patches (``prefilled``, when it is
    computed already) and the gap masks."""
    masks = np.asarray(masks, dtype=bool)
    filled = prefill(patches, masks, method) if prefilled is None else np.asarray(prefilled, dtype=np.float32)
    return np.stack([filled, masks.astype(np.float32)], axis=-1)


#: The 16 symmetries of the task, (flips along z, y, x, y-x swap), the identity first; each maps a gap plane
#: normal to y or x onto one, and a patch a detector could record onto another (training draws from them,
#: :func:`braggsynth.learn.training.augment`).
SYMMETRIES = tuple((flips, swap) for swap in (False, True) for flips in itertools.product((False, True), repeat=3))


def transform(batch, symmetry, *, inverse: bool = False) -> np.ndarray:
    """A batch (b, n, n, n[, c]) under one of :data:`SYMMETRIES` (or its inverse): flips along z, y, x, then
    the y-x swap."""
    flips, swap = symmetry
    axes = tuple(1 + axis for axis in range(3) if flips[axis])
    if inverse and swap:
        batch = np.swapaxes(batch, 2, 3)
    if axes:
        batch = np.flip(batch, axis=axes)
    if swap and not inverse:
        batch = np.swapaxes(batch, 2, 3)
    return batch


def _predict(model, inputs) -> np.ndarray:
    result = model.predict_on_batch(inputs) if hasattr(model, "predict_on_batch") else model(inputs)
    result = np.asarray(result, dtype=np.float32)
    return result[..., 0] if result.ndim == 5 else result


def fill_patches(model, patches, masks, *, batch_size: int = 64, prefilled=None) -> np.ndarray:
    """Fill the gaps of normalised patches with a model (its own prefill first).

    Parameters
    ----------
    model
        Keras model of :func:`build_model` (or any callable on the
        (b, n, n, n, 2) input returning (b, n, n, n[, 1]), a :class:`Symmetrised` one).
    patches
        (b, n, n, n) normalised patches, gap values ignored.
    masks
        (b, n, n, n) bool, True in the gap.
    batch_size
        patches per model call.
    prefilled
        optional (b, n, n, n), the :func:`prefill` of ``patches`` with the model's method, computed
        already (an evaluation that scores that classic filler too).

    Returns
    -------
    float32 (b, n, n, n): the filled patches (measured voxels as given).
    """
    patches = np.asarray(patches, dtype=np.float32)
    masks = np.asarray(masks, dtype=bool)
    method = prefill_of(model)
    out = np.empty(patches.shape, dtype=np.float32)
    for first in range(0, len(patches), batch_size):
        chunk = slice(first, first + batch_size)
        out[chunk] = _predict(model, model_inputs(patches[chunk], masks[chunk], method,
                                                  None if prefilled is None else prefilled[chunk]))
    return np.where(masks, out, patches)


class Symmetrised:
    """Test-time augmentation: a model whose fill is the mean of its fills of the input under the first
    ``count`` of :data:`SYMMETRIES`, each mapped back (``count`` model calls a batch).

    Used wherever a model is (:func:`fill_patches`, :func:`braggsynth.inpaint.inpaint`, the evaluation):
    the prefill of a transformed window is the transformed prefill, so only the network sees the symmetry.
    """

    def __init__(self, model, count: int = len(SYMMETRIES)):
        if not 1 <= int(count) <= len(SYMMETRIES):
            raise ValueError(f"count must be between 1 and {len(SYMMETRIES)}, got {count}")
        self.model, self.count = model, int(count)
        self.input_shape, self.layers = getattr(model, "input_shape", None), getattr(model, "layers", ())

    def predict_on_batch(self, inputs) -> np.ndarray:
        """(b, n, n, n) float32: the mean fill of ``inputs`` (b, n, n, n, 2) over the symmetries."""
        inputs = np.asarray(inputs, dtype=np.float32)
        total = np.zeros(inputs.shape[:-1], dtype=np.float64)
        for symmetry in SYMMETRIES[:self.count]:
            total += transform(_predict(self.model, np.ascontiguousarray(transform(inputs, symmetry))), symmetry,
                               inverse=True)
        return (total / self.count).astype(np.float32)


def load_model(path=None, *, compile: bool = False) -> keras.Model:
    """Load a braggsynth inpainting model in safe mode (:func:`braggsynth.models.window_of` checks its
    structure first; a file with Lambda layers or pickled code is refused).

    ``path`` None loads the model shipped with the package (:data:`braggsynth.models.SHIPPED_MODEL`);
    ``compile`` also restores its loss and optimizer state (to resume training, in the precision it was
    trained in).  Without it the model is returned in float32 (:func:`as_float32`): one trained in bfloat16
    mixed precision keeps that policy in its file, and on a CPU without AVX512-BF16 or AMX it would infer
    about 26 times slower, with other numbers than the float32 model a card ships.
    """
    path = SHIPPED_MODEL if path is None else Path(path)
    if not path.is_file():
        raise io.DataFileError(f"{path}: model file not found")
    window_of(path)  # a braggsynth inpainting model, checked before any of it loads
    try:
        loaded = keras.saving.load_model(path, safe_mode=True, compile=compile)
    except (ValueError, OSError, KeyError, TypeError) as error:
        raise ValueError(f"{path}: refused or unreadable model file ({str(error).splitlines()[0]})") from None
    return loaded if compile else as_float32(loaded)


def as_float32(model) -> keras.Model:
    """``model`` itself if every layer computes in float32, else a float32 copy with the same weights (a
    model trained in mixed precision keeps float32 variables, so they carry over exactly)."""
    if all(layer.dtype_policy.name == "float32" for layer in model.layers):
        return model

    def float32_layer(layer):
        return layer.__class__.from_config({**layer.get_config(), "dtype": "float32"})

    copy = keras.models.clone_model(model, clone_function=float32_layer)
    copy.set_weights(model.get_weights())
    return copy


def save_model(model, path) -> Path:
    """Write a Keras model to ``path`` (.keras) atomically: a reader never sees a half-written file."""
    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"{path}: a Keras model file must end in .keras")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.stem}.{os.getpid()}.keras")  # Keras wants the suffix
    try:
        model.save(partial)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path
