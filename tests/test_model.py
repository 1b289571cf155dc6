"""Gap-inpainting model: architecture, loss, SSIM, training with resume, safe loading."""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # before TensorFlow loads: fast CPU 3D convolutions

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from scipy.ndimage import gaussian_filter  # noqa: E402
from skimage.metrics import structural_similarity  # noqa: E402
from synthetic_patches import write_fringe_dataset  # noqa: E402

from braggsynth import model as gapmodel  # noqa: E402

TINY = {"base_filters": 4, "depth": 2, "dilation_rates": ((4, 2),)}


@pytest.fixture(scope="module")
def fringe_dataset(tmp_path_factory) -> Path:
    """64 / 16 / 16 patches of 16^3 voxels (the model takes any patch size divisible by 2**depth)."""
    path = tmp_path_factory.mktemp("patches") / "fringes.h5"
    write_fringe_dataset(path, counts=(64, 16, 16), gap_widths=(3, 4), patch_size=16)
    return path


def test_default_model_has_the_documented_parameter_count():
    net = gapmodel.build_model()
    assert net.input_shape == (None, 32, 32, 32, 2)
    assert net.output_shape == (None, 32, 32, 32, 1)
    assert net.count_params() == gapmodel.count_parameters() == 1_572_151


@pytest.mark.parametrize("settings", [TINY, {"base_filters": 8, "depth": 3, "dilation_rates": ((3, 2, 1), (2, 1))}])
def test_parameter_formula_matches_other_architectures(settings):
    assert gapmodel.build_model(**settings).count_params() == gapmodel.count_parameters(**settings)


def test_model_keeps_measured_voxels_and_fills_the_gap_in_the_unit_interval():
    keras.utils.set_random_seed(1)
    net = gapmodel.build_model(**TINY)
    rng = np.random.default_rng(0)
    patch = rng.random((2, 32, 32, 32)).astype(np.float32)
    mask = np.zeros(patch.shape, dtype=bool)
    mask[:, :, 13:19] = True
    out = np.asarray(net.predict_on_batch(gapmodel.model_inputs(np.where(mask, 0, patch), mask)))[..., 0]
    assert np.array_equal(out[~mask], patch[~mask])
    assert np.all((out[mask] > 0) & (out[mask] < 1))


def test_architecture_arguments_are_checked():
    with pytest.raises(ValueError, match="divisible"):
        gapmodel.build_model(patch_size=30, depth=2)
    with pytest.raises(ValueError, match="dilation_rates"):
        gapmodel.build_model(depth=2, dilation_rates=((2, 1), (2, 1), (2, 1)))


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_model_builds_with_other_keras_backends(backend):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed")
    code = ("from braggsynth import model as m; "
            "net = m.build_model(base_filters=4, depth=2, dilation_rates=((4, 2),)); "
            "import numpy as np; out = net.predict_on_batch(np.zeros((1, 32, 32, 32, 2), 'float32')); "
            "assert out.shape == (1, 32, 32, 32, 1); print(net.count_params())")
    result = subprocess.run([sys.executable, "-c", code], env={**os.environ, "KERAS_BACKEND": backend},
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert int(result.stdout.split()[-1]) == gapmodel.count_parameters(**TINY)


def test_ssim_3d_matches_scikit_image():
    rng = np.random.default_rng(3)
    a = gaussian_filter(rng.random((24, 30, 27)), 2)
    a = (a - a.min()) / (a.max() - a.min())
    b = np.clip(a + 0.05 * rng.standard_normal(a.shape), 0, 1)
    expected = structural_similarity(a, b, data_range=1, gaussian_weights=True, sigma=1.5,
                                     use_sample_covariance=False)
    assert gapmodel.ssim_3d(a, b) == pytest.approx(expected, abs=1e-4)
    assert gapmodel.ssim_3d(a, a) == pytest.approx(1.0, abs=1e-6)


def _loss_inputs():
    rng = np.random.default_rng(4)
    target = rng.random((2, 32, 32, 32, 1)).astype(np.float32)
    mask = np.zeros_like(target)
    mask[:, :, 13:19] = 1
    mask[1, :, :, 13:19] = 1
    return target, mask, np.concatenate([target, mask], axis=-1)


def test_loss_is_zero_on_a_perfect_prediction():
    target, _, y_true = _loss_inputs()
    assert float(gapmodel.GapLoss()(y_true, target)) == pytest.approx(0.0, abs=1e-7)


def test_loss_ignores_voxels_outside_the_gap():
    target, mask, y_true = _loss_inputs()
    loss = gapmodel.GapLoss(pixel_weight=1.0, ssim_weight=0.5, gradient_weight=2.0)
    wrong_outside = np.where(mask > 0, target, 1.0 - target)
    assert float(loss(y_true, wrong_outside)) == pytest.approx(0.0, abs=1e-7)
    wrong_inside = np.where(mask > 0, 1.0 - target, target)
    assert float(loss(y_true, wrong_inside)) > 0.1


def test_each_loss_term_responds_to_its_weight():
    target, mask, y_true = _loss_inputs()
    prediction = np.where(mask > 0, target + 0.1, target)
    terms = [float(gapmodel.GapLoss(*weights)(y_true, prediction)) for weights in ((1, 0, 0), (0, 1, 0), (0, 0, 1))]
    assert terms[0] == pytest.approx(0.01, rel=1e-4)  # a uniform 0.1 offset in the gap
    assert terms[1] > 0 and terms[2] > 0
    assert float(gapmodel.GapLoss(1, 1, 1)(y_true, prediction)) == pytest.approx(sum(terms), rel=1e-5)


def test_patch_batches_stream_and_filter_by_gap_width(fringe_dataset):
    batches = gapmodel.PatchBatches(fringe_dataset, "validation", 4, gap_widths=[4])
    try:
        x, y = batches[0]
        assert x.shape[1:] == (16, 16, 16, 2) and y.shape == x.shape
        assert np.all(batches.gap_width_px == 4)
        assert np.array_equal(x[..., 1], y[..., 1])
        assert sum(len(batches[i][0]) for i in range(len(batches))) == batches.indices.size
    finally:
        batches.close()
    with pytest.raises(OSError, match="no 'bogus' group"):
        gapmodel.PatchBatches(fringe_dataset, "bogus", 4)


class Interrupt(keras.callbacks.Callback):
    """Stands for a killed job: raises during the given epoch."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.current_epoch == self.epoch and batch == 3:
            raise KeyboardInterrupt

    def on_epoch_begin(self, epoch, logs=None):
        self.current_epoch = epoch


@pytest.fixture(scope="module")
def trained(fringe_dataset, tmp_path_factory):
    """A tiny model trained for 3 epochs, killed during the third and rerun."""
    output = tmp_path_factory.mktemp("training")
    settings = dict(batch_size=8, learning_rate=3e-3, seed=5, verbose=0, **TINY)
    with pytest.raises(KeyboardInterrupt):
        gapmodel.train(fringe_dataset, output, epochs=3, callbacks=[Interrupt(2)], **settings)
    interrupted = json.loads((output / gapmodel.STATE_FILE).read_text())
    history = gapmodel.train(fringe_dataset, output, epochs=3, **settings)
    return output, interrupted, history


def test_training_lowers_the_validation_loss(trained):
    _, _, history = trained
    assert history[-1]["val_loss"] < history[0]["val_loss"]


def test_training_resumes_after_an_interruption_at_the_next_epoch(trained):
    output, interrupted, history = trained
    assert interrupted["epochs_done"] == 2
    assert [row["epoch"] for row in history] == [0, 1, 2]
    assert history[:2] == interrupted["history"]
    with open(output / gapmodel.HISTORY_CSV) as handle:
        assert [int(row["epoch"]) for row in csv.DictReader(handle)] == [0, 1, 2]
    model = gapmodel.load_model(output / gapmodel.LAST_MODEL)
    steps_per_epoch = 64 // 8
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 3 * steps_per_epoch
    for name in (gapmodel.BEST_MODEL, gapmodel.CURVE_PNG):
        assert (output / name).stat().st_size > 0


def test_finished_training_is_not_redone(trained, fringe_dataset):
    output, _, history = trained
    stamp = (output / gapmodel.LAST_MODEL).stat().st_mtime_ns
    again = gapmodel.train(fringe_dataset, output, epochs=3, verbose=0, **TINY)
    assert again == history
    assert (output / gapmodel.LAST_MODEL).stat().st_mtime_ns == stamp


def test_load_model_restores_custom_layers_and_loss(trained):
    output, _, _ = trained
    model = gapmodel.load_model(output / gapmodel.BEST_MODEL)
    assert isinstance(model.get_layer("fill_gap"), gapmodel.FillGap)
    assert isinstance(model.loss, gapmodel.GapLoss)


def test_load_model_refuses_lambda_layers(tmp_path):
    inputs = keras.Input((4,))
    outputs = keras.layers.Lambda(lambda x: x * 2)(inputs)
    path = tmp_path / "unsafe.keras"
    keras.Model(inputs, outputs).save(path)
    with pytest.raises(ValueError, match="unsafe.keras"):
        gapmodel.load_model(path)
