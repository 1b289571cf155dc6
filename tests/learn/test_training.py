"""Training: the gap loss, batches with prefill and augmentation, resume, time budget, bfloat16."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # before TensorFlow loads: fast CPU 3D convolutions

import h5py
import keras
import numpy as np
import pytest
from synthetic_patches import write_fringe_dataset

from braggsynth import io
from braggsynth.learn import model as gapmodel
from braggsynth.learn import training

TINY = {"base_filters": 4, "depth": 2}


@pytest.fixture(scope="module")
def fringe_dataset(tmp_path_factory) -> Path:
    """64 / 16 / 16 patches of 16^3 voxels (the model takes any patch size divisible by 2**depth)."""
    path = tmp_path_factory.mktemp("patches") / "fringes.h5"
    write_fringe_dataset(path, counts=(64, 16, 16), gap_widths=(3, 4), patch_size=16)
    return path


@pytest.mark.parametrize("module", ["training", "finetune"])
def test_every_learn_module_turns_onednn_on_before_tensorflow_loads(module):
    """Whichever module of braggsynth.learn a script imports first, TensorFlow loads with its oneDNN kernels on
    (the training ran 13 s a step instead of 1 s when braggsynth.learn.training imported Keras before the model
    module set it)."""
    environment = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    environment["TF_CPP_MIN_LOG_LEVEL"] = "0"
    code = f"import braggsynth.learn.{module}, keras; keras.ops.zeros(1)"
    result = subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True, check=True)
    assert "oneDNN custom operations are on" in result.stderr
    assert "imported before" not in result.stderr


def test_cpu_lacks_bfloat16_reads_the_flags():
    assert training.cpu_lacks_bfloat16("processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma\n")
    assert not training.cpu_lacks_bfloat16("flags\t\t: fpu avx2 avx512f avx512_bf16 amx_tile\n")
    assert not training.cpu_lacks_bfloat16("Processor : ARMv8\n")  # no flags line: unknown, no warning


def test_auto_precision_is_bfloat16_only_where_the_cpu_has_the_instructions():
    avx2, bf16 = "flags\t\t: fpu sse2 avx avx2 fma\n", "flags\t\t: fpu avx2 avx512f avx512_bf16\n"
    assert training.resolve_precision("auto", avx2) == "float32"
    assert training.resolve_precision("auto", bf16) == "bfloat16"
    assert training.resolve_precision("auto", "Processor : ARMv8\n") == "float32"  # unknown: the safe one
    assert training.resolve_precision("bfloat16", avx2) == "bfloat16"  # asked for: kept (the training warns)
    with pytest.raises(ValueError, match="'half'"):
        training.resolve_precision("half")


def _loss_inputs():
    rng = np.random.default_rng(4)
    target = rng.random((2, 32, 32, 32, 1)).astype(np.float32)
    mask = np.zeros_like(target)
    mask[:, :, 13:19] = 1
    mask[1, :, :, 13:19] = 1
    return target, mask, np.concatenate([target, mask], axis=-1)


def test_gap_loss_is_the_mean_square_error_over_the_gap_only():
    target, mask, y_true = _loss_inputs()
    loss = training.GapMSE()
    assert float(loss(y_true, target)) == pytest.approx(0.0, abs=1e-7)
    assert float(loss(y_true, np.where(mask > 0, target, 1.0 - target))) == pytest.approx(0.0, abs=1e-7)
    assert float(loss(y_true, np.where(mask > 0, target + 0.1, target))) == pytest.approx(0.01, rel=1e-4)


def test_augmentation_maps_gap_planes_to_gap_planes_and_keeps_arrays_aligned():
    rng = np.random.default_rng(0)
    patch = rng.random((8, 16, 16, 16))
    mask = np.zeros(patch.shape, bool)
    mask[:, :, 6:10, :] = True  # horizontal gaps
    flipped_patch, flipped_mask = training.augment((patch, mask), np.random.default_rng(1))
    for p, m, original in zip(flipped_patch, flipped_mask, patch):
        footprint = m.all(axis=0)  # (y, x): a gap plane goes through every frame
        assert np.array_equal(footprint, m.any(axis=0))
        rows, columns = footprint.all(axis=1).sum(), footprint.all(axis=0).sum()
        assert (rows, columns) in ((4, 0), (0, 4)) and footprint.sum() == 4 * 16
        assert np.allclose(np.sort(p.ravel()), np.sort(original.ravel()))
    assert not np.array_equal(flipped_mask, mask)  # some patches had y and x swapped


def test_patch_batches_prefill_the_input_and_choose_the_target(fringe_dataset):
    batches = training.PatchBatches(fringe_dataset, "validation", 4, gap_widths=[4], target="expected")
    try:
        x, y = batches[0]
        assert x.shape[1:] == (16, 16, 16, 2) and y.shape == x.shape
        assert np.all(batches.gap_width_px == 4)
        inputs, masks, expected = batches.read(batches.indices[:4], ("input", "mask", "expected"))
        np.testing.assert_allclose(x[..., 0], gapmodel.prefill(inputs, masks), atol=1e-6)
        np.testing.assert_array_equal(y[..., 0], expected)
        assert sum(len(batches[i][0]) for i in range(len(batches))) == batches.indices.size
    finally:
        batches.close()
    with pytest.raises(OSError, match="no 'bogus' group"):
        training.PatchBatches(fringe_dataset, "bogus", 4)


def test_bfloat16_gives_the_float32_loss_on_one_batch(fringe_dataset):
    """The chosen fast path (mixed bfloat16) computes the same loss as float32, to 2e-3 relative."""
    batches = training.PatchBatches(fringe_dataset, "train", 16)
    x, y = batches[0]
    batches.close()
    losses = {}
    for precision, policy in training.PRECISIONS.items():
        keras.mixed_precision.set_global_policy(policy)
        try:
            keras.utils.set_random_seed(3)
            net = gapmodel.build_model(patch_size=16, **TINY)
            head = net.get_layer("correction")
            head.set_weights([np.random.default_rng(5).normal(0, 0.05, w.shape).astype(np.float32)
                              for w in head.get_weights()])
            net.compile(loss=training.GapMSE())
            losses[precision] = float(net.evaluate(x, y, verbose=0, batch_size=16))
        finally:
            keras.mixed_precision.set_global_policy("float32")
    assert losses["float32"] > 0
    assert losses["bfloat16"] == pytest.approx(losses["float32"], rel=2e-3)


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
    settings = dict(batch_size=8, learning_rate=1e-3, seed=5, verbose=0, prefill="zero", **TINY)  # much to learn
    with pytest.raises(KeyboardInterrupt):
        training.train(fringe_dataset, output, epochs=3, callbacks=[Interrupt(2)], **settings)
    interrupted = json.loads((output / training.STATE_FILE).read_text())
    history = training.train(fringe_dataset, output, epochs=3, **settings)
    return output, interrupted, history


def test_training_lowers_the_validation_loss(trained):
    _, _, history = trained
    assert history[-1]["val_loss"] < history[0]["val_loss"]


def test_training_resumes_after_an_interruption_at_the_next_epoch(trained):
    output, interrupted, history = trained
    assert interrupted["epochs_done"] == 2
    assert [row["epoch"] for row in history] == [0, 1, 2]
    assert history[:2] == interrupted["history"]
    assert history[2]["seconds"] > history[1]["seconds"]
    with open(output / training.HISTORY_CSV) as handle:
        assert [int(row["epoch"]) for row in csv.DictReader(handle)] == [0, 1, 2]
    model = gapmodel.load_model(output / training.LAST_MODEL, compile=True)
    steps_per_epoch = 64 // 8
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 3 * steps_per_epoch
    assert isinstance(model.loss, training.GapMSE)
    for name in (training.BEST_MODEL, training.CURVE_PNG):
        assert (output / name).stat().st_size > 0


def test_finished_training_is_not_redone(trained, fringe_dataset):
    output, _, history = trained
    stamp = (output / training.LAST_MODEL).stat().st_mtime_ns
    again = training.train(fringe_dataset, output, epochs=3, verbose=0, **TINY)
    assert again == history
    assert (output / training.LAST_MODEL).stat().st_mtime_ns == stamp


def test_training_stops_at_its_time_budget(fringe_dataset, tmp_path):
    history = training.train(fringe_dataset, tmp_path, epochs=20, time_limit_minutes=1e-4, batch_size=16,
                             verbose=0, **TINY)
    assert len(history) == 1
    assert "time limit" in json.loads((tmp_path / training.STATE_FILE).read_text())["stopped"]


def test_a_larger_time_budget_resumes_a_run_its_budget_stopped(fringe_dataset, tmp_path):
    settings = dict(epochs=20, batch_size=16, verbose=0, **TINY)
    first = training.train(fringe_dataset, tmp_path, time_limit_minutes=1e-4, **settings)
    assert len(first) == 1
    stamp = (tmp_path / training.LAST_MODEL).stat().st_mtime_ns
    assert training.train(fringe_dataset, tmp_path, time_limit_minutes=1e-4, **settings) == first
    assert (tmp_path / training.LAST_MODEL).stat().st_mtime_ns == stamp  # the same budget: nothing to do
    longer = training.train(fringe_dataset, tmp_path, epochs=3, time_limit_minutes=None, batch_size=16,
                            verbose=0, **TINY)
    assert [row["epoch"] for row in longer] == [0, 1, 2] and longer[0] == first[0]
    state = json.loads((tmp_path / training.STATE_FILE).read_text())
    assert "stopped" not in state and state["settings"]["time_limit_minutes"] is None


def test_an_epoch_can_be_a_new_random_subset_of_the_split(fringe_dataset):
    batches = training.PatchBatches(fringe_dataset, "train", 8, shuffle=True, patches_per_epoch=20, seed=1)
    try:
        first = batches._order.copy()
        assert len(batches) == 3 and first.size == 20
        batches.on_epoch_end()
        assert batches._order.size == 20 and not np.array_equal(batches._order, first)
    finally:
        batches.close()


def test_cached_prefill_gives_the_batches_computed_afresh(fringe_dataset):
    settings = dict(prefill="smoothed_linear", shuffle=True, augment=True, seed=2)
    cached = training.PatchBatches(fringe_dataset, "train", 8, cache_mb=0.5, **settings)  # 32 of 64 patches
    fresh = training.PatchBatches(fringe_dataset, "train", 8, cache_mb=0, **settings)
    try:
        for _ in range(2):
            for index in range(len(cached)):
                (x_cached, y_cached), (x_fresh, y_fresh) = cached[index], fresh[index]
                np.testing.assert_allclose(x_cached, x_fresh, atol=1e-6)
                np.testing.assert_array_equal(y_cached, y_fresh)
            cached.on_epoch_end()
            fresh.on_epoch_end()
        assert 0 < len(cached._cache) < 64 and not fresh._cache
    finally:
        cached.close()
        fresh.close()


def _finished_copy(trained, destination):
    """A copy of the finished training folder (the module's run stays as it is for the other tests)."""
    import shutil

    output, _, history = trained
    shutil.copytree(output, destination)
    return destination, history


def test_a_finished_training_remakes_its_missing_curve_and_history_without_retraining(trained, fringe_dataset,
                                                                                      tmp_path):
    """A job killed after the last epoch's state.json but before its curve: the rerun draws it, never retrains."""
    output, history = _finished_copy(trained, tmp_path / "run")
    state = (output / training.STATE_FILE).read_bytes()
    models = {name: (output / name).read_bytes() for name in (training.LAST_MODEL, training.BEST_MODEL)}
    (output / training.CURVE_PNG).unlink()
    (output / training.HISTORY_CSV).unlink()
    again = training.train(fringe_dataset, output, epochs=3, verbose=0, **TINY)
    assert again == history
    assert (output / training.CURVE_PNG).stat().st_size > 5_000
    with open(output / training.HISTORY_CSV) as handle:
        assert [int(row["epoch"]) for row in csv.DictReader(handle)] == [0, 1, 2]
    assert (output / training.STATE_FILE).read_bytes() == state
    assert {name: (output / name).read_bytes() for name in models} == models


def test_a_finished_training_without_its_best_model(trained, fringe_dataset, tmp_path):
    """best.keras is the last epoch's model: restored from last.keras; an earlier epoch's is lost: one line."""
    output, history = _finished_copy(trained, tmp_path / "run")
    state = json.loads((output / training.STATE_FILE).read_text())
    assert state["best_epoch"] == 2  # the loss still falls at the third epoch
    best = gapmodel.load_model(output / training.BEST_MODEL).get_weights()
    (output / training.BEST_MODEL).unlink()
    assert training.train(fringe_dataset, output, epochs=3, verbose=0, **TINY) == history
    restored = gapmodel.load_model(output / training.BEST_MODEL).get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(best, restored, strict=True))

    (output / training.BEST_MODEL).unlink()
    (output / training.STATE_FILE).write_text(json.dumps({**state, "best_epoch": 1}))  # an earlier epoch was best
    with pytest.raises(OSError) as error:
        training.train(fringe_dataset, output, epochs=3, verbose=0, **TINY)
    assert str(error.value) == (f"{output / training.BEST_MODEL}: missing, and the best model (epoch 2 of 3) is not "
                                f"the last one (last.keras); delete {output} to train again")
    assert (output / training.LAST_MODEL).is_file() and not (output / training.BEST_MODEL).exists()


def test_the_amplitude_loss_weighs_the_gap_in_sqrt_counts_relative_to_its_level():
    """GapAmplitudeLoss = GapMSE + w sum(mask (a_pred - a_true)^2) / sum(mask a_true^2), a = sqrt(I + 1)."""
    target, mask, y_log = _loss_inputs()
    low, span = 0.5, 12.0  # log(I + 1) = low + x span: up to ~1e5 photons
    y_true = np.concatenate([y_log, np.full_like(target, low), np.full_like(target, span)], axis=-1)
    loss = training.GapAmplitudeLoss(2.0)
    assert float(loss(y_true, target)) == pytest.approx(0.0, abs=1e-6)
    predicted = np.where(mask > 0, target + 0.05, target)
    def amplitude(x):
        return np.exp(0.5 * (low + x * span))

    expected = [((mask[i] * (predicted[i] - target[i]) ** 2).sum() / mask[i].sum()
                 + 2.0 * (mask[i] * (amplitude(predicted[i]) - amplitude(target[i])) ** 2).sum()
                 / (mask[i] * amplitude(target[i]) ** 2).sum()) for i in range(2)]
    assert float(loss(y_true, predicted)) == pytest.approx(np.mean(expected), rel=1e-4)
    # the same log error costs more where the photons are: at the brightest gap voxel than at the dimmest
    values = np.where(mask[0, ..., 0] > 0, target[0, ..., 0], np.nan)
    costs = []
    for voxel in (np.nanargmax(values), np.nanargmin(values)):
        moved = target[:1].copy()
        moved[(0, *np.unravel_index(voxel, values.shape), 0)] += 0.05
        costs.append(float(loss(y_true[:1], moved)))
    assert costs[0] > 10 * costs[1]


def test_one_wild_voxel_cannot_blow_the_amplitude_term_up():
    """The prediction enters the amplitude term clipped to AMPLITUDE_RANGE: at 1e8 photons (span 18.4) a voxel
    predicted at 40 would otherwise cost exp(350); the term stays that of the clipped value, its gradient finite."""
    target, mask, y_log = _loss_inputs()
    low, span = 0.0, float(np.log(1e8 + 1))
    y_true = np.concatenate([y_log, np.full_like(target, low), np.full_like(target, span)], axis=-1)
    loss = training.GapAmplitudeLoss(1.0)
    voxel = (0, *np.argwhere(mask[0, ..., 0] > 0)[0], 0)
    wild, clipped = target.copy(), target.copy()
    wild[voxel], clipped[voxel] = 40.0, training.AMPLITUDE_RANGE[1]
    high, t = training.AMPLITUDE_RANGE[1], float(target[voxel])
    log_difference = ((40.0 - t) ** 2 - (high - t) ** 2) / mask[0].sum() / 2  # the log term's share, batch of 2
    assert np.isfinite(float(loss(y_true, wild)))
    assert float(loss(y_true, wild)) - float(loss(y_true, clipped)) == pytest.approx(log_difference, rel=1e-3)
    import tensorflow as tf

    prediction = tf.Variable(wild)
    with tf.GradientTape() as tape:
        value = loss(tf.constant(y_true), prediction)
    assert np.all(np.isfinite(tape.gradient(value, prediction).numpy()))


def test_training_with_the_amplitude_loss_reads_the_patch_bounds(fringe_dataset, tmp_path):
    batches = training.PatchBatches(fringe_dataset, "validation", 4, with_bounds=True)
    try:
        x, y = batches[0]
        assert y.shape[-1] == 4 and np.all(y[..., 3] > 0)
        with h5py.File(fringe_dataset) as h5:
            low, high = h5["validation/bounds"][0]
        assert y[0, 0, 0, 0, 2] == pytest.approx(low) and y[0, 0, 0, 0, 3] == pytest.approx(high - low)
    finally:
        batches.close()
    history = training.train(fringe_dataset, tmp_path / "run", epochs=2, batch_size=8, amplitude_weight=1.0,
                             verbose=0, **TINY)
    assert len(history) == 2 and all(np.isfinite(row["val_loss"]) for row in history)
    assert history[-1]["val_loss"] < history[0]["val_loss"] or history[-1]["loss"] < history[0]["loss"]
    resumed = keras.saving.load_model(tmp_path / "run" / "last.keras", compile=True, safe_mode=True)
    assert isinstance(resumed.loss, training.GapAmplitudeLoss) and resumed.loss.amplitude_weight == 1.0


def test_batches_loaded_in_threads_train_the_same_model(fringe_dataset, tmp_path):
    """The loader threads only overlap reading with training: the weights are those of batches loaded in turn."""
    weights = []
    for threads in (1, 2):
        training.train(fringe_dataset, tmp_path / f"threads{threads}", epochs=2, batch_size=8, verbose=0,
                       loader_threads=threads, **TINY)
        model = keras.saving.load_model(tmp_path / f"threads{threads}" / "last.keras", safe_mode=True)
        weights.append(np.concatenate([w.ravel() for w in model.get_weights()]))
    assert np.array_equal(weights[0], weights[1])


def test_a_warm_start_begins_from_the_initial_models_weights_and_records_it(trained, fringe_dataset, tmp_path):
    output, _, _ = trained
    start = output / training.BEST_MODEL
    run = tmp_path / "warm"
    training.train(fringe_dataset, run, epochs=1, batch_size=8, learning_rate=1e-12, verbose=0,
                   prefill="zero", initial_model=start, **TINY)
    warm = keras.saving.load_model(run / training.LAST_MODEL, safe_mode=True)
    first = keras.saving.load_model(start, safe_mode=True)
    for a, b in zip(warm.get_weights(), first.get_weights()):  # a learning rate of 1e-12 moves nothing visible
        np.testing.assert_allclose(a, b, atol=1e-6)
    recorded = json.loads((run / training.STATE_FILE).read_text())["settings"]["initial_model"]
    assert recorded["path"] == start.name and len(recorded["sha256"]) == 64
    cold = tmp_path / "cold"
    training.train(fringe_dataset, cold, epochs=1, batch_size=8, learning_rate=1e-12, verbose=0, prefill="zero",
                   **TINY)
    random = keras.saving.load_model(cold / training.LAST_MODEL, safe_mode=True)
    assert not np.allclose(random.get_weights()[0], first.get_weights()[0])


def test_a_warm_start_from_another_architecture_fails_naming_the_file(trained, fringe_dataset, tmp_path):
    output, _, _ = trained
    with pytest.raises(io.DataFileError, match=r"best\.keras: train\.initial_model has another architecture"):
        training.train(fringe_dataset, tmp_path / "run", epochs=1, verbose=0, prefill="zero",
                       initial_model=output / training.BEST_MODEL, base_filters=TINY["base_filters"] * 2,
                       depth=TINY["depth"])
