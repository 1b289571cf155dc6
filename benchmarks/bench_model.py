"""Benchmark of the gap-inpainting model on CPU: training and inference throughput, and whole-volume inpainting.

For each Keras backend that is installed (TensorFlow, and PyTorch or JAX when
present) and each precision (float32, bfloat16 mixed precision), in its own
process:

- training: patches/s of ``train_on_batch`` steps of the default model with
  the gap loss (after one warm-up step that traces the graph), the loss of
  one fixed batch before any step (bfloat16 against float32: the same loss
  to the stated tolerance), and the time the batch's linear prefill takes;
- inference: patches/s of ``predict_on_batch``;
- inpainting: seconds to fill a 6 px cross gap in a 128 x 256 x 256
  (z, y, x) volume of fringes with :func:`braggsynth.inpaint.inpaint` at the
  default stride, and the number of windows this needs against the stride-1
  sliding window of Masto et al.

The table is markdown, to paste into a note.

Usage::

    python benchmarks/bench_model.py                    # every installed backend
    python benchmarks/bench_model.py --backends tensorflow --precisions float32 --steps 3
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import subprocess
import sys
import time

BACKEND_MODULES = {"tensorflow": "tensorflow", "torch": "torch", "jax": "jax"}
VOLUME_SHAPE = (128, 256, 256)
GAP_WIDTH_PX = 6


def fringe_volume(shape, max_counts=1e5):
    """A Bragg-peak-like intensity: product of sinc^2 fringes (period 7 px) plus a flat background."""
    import numpy as np

    intensity = np.ones(shape)
    for axis, n in enumerate(shape):
        profile = np.sinc((np.arange(n) - 0.45 * n) / 7.0) ** 2
        intensity = intensity * profile.reshape([-1 if a == axis else 1 for a in range(3)])
    return (max_counts * intensity + 0.5).astype(np.float32)


def measure(batch_size: int, steps: int, base_filters: int | None, precision: str) -> dict:
    """Run in a child process whose KERAS_BACKEND is set: the numbers of one backend and precision."""
    import keras
    import numpy as np

    from braggsynth.inpaint import gap_windows, inpaint
    from braggsynth.learn import model as gapmodel
    from braggsynth.learn import training
    from braggsynth.simulate.detector import gap_planes
    keras.mixed_precision.set_global_policy(training.PRECISIONS[precision])
    keras.utils.set_random_seed(0)
    settings = {} if base_filters is None else {"base_filters": base_filters}
    net = gapmodel.build_model(**settings)
    net.compile(optimizer=keras.optimizers.Adam(1e-3), loss=training.GapMSE())
    rng = np.random.default_rng(0)
    patches = np.stack([fringe_volume((32, 32, 32), 10 ** rng.uniform(2, 5)) for _ in range(batch_size)])
    patches = np.log1p(patches) / np.log1p(patches).max(axis=(1, 2, 3), keepdims=True)
    masks = np.zeros(patches.shape, dtype=bool)
    masks[:, :, 13:19, :] = True
    start = time.perf_counter()
    x = gapmodel.model_inputs(np.where(masks, 0, patches), masks)
    prefill_s = time.perf_counter() - start
    y = np.stack([patches, masks], axis=-1).astype(np.float32)
    # the untrained correction is 0: perturb the weights so the loss of one batch tests the arithmetic
    head = net.get_layer("correction")
    head.set_weights([rng.normal(0, 0.05, w.shape).astype(np.float32) for w in head.get_weights()])
    first_loss = float(net.evaluate(x, y, verbose=0, batch_size=batch_size))

    start = time.perf_counter()
    net.train_on_batch(x, y)
    warmup = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(steps):
        net.train_on_batch(x, y)
    train_rate = steps * batch_size / (time.perf_counter() - start)

    net.predict_on_batch(x)
    start = time.perf_counter()
    for _ in range(steps):
        net.predict_on_batch(x)
    infer_rate = steps * batch_size / (time.perf_counter() - start)

    volume = fringe_volume(VOLUME_SHAPE)
    centre = (VOLUME_SHAPE[1] // 2, VOLUME_SHAPE[2] // 2)
    mask = gap_planes(VOLUME_SHAPE, "cross", centre, GAP_WIDTH_PX)
    windows = len(gap_windows(mask))
    # Stride 1 along each gap plane, one plane of windows per stripe (Masto et al.): (N1 - 31)(N2 - 31) each.
    dense = 2 * (VOLUME_SHAPE[0] - 31) * (VOLUME_SHAPE[2] - 31)
    start = time.perf_counter()
    filled = inpaint(volume, mask, net, batch_size=32, progress=False)
    inpaint_seconds = time.perf_counter() - start
    assert np.array_equal(filled[~mask], volume[~mask])
    return {"backend": keras.backend.backend(), "precision": precision, "first_loss": first_loss,
            "prefill_ms_per_patch": 1000 * prefill_s / batch_size,
            "parameters": net.count_params(), "warmup_s": warmup,
            "train_patches_per_s": train_rate, "infer_patches_per_s": infer_rate, "windows": windows,
            "dense_windows": dense, "inpaint_s": inpaint_seconds,
            "dense_inpaint_s_estimate": inpaint_seconds * dense / windows}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=list(BACKEND_MODULES), choices=list(BACKEND_MODULES))
    parser.add_argument("--precisions", nargs="+", default=["float32", "bfloat16"], choices=["float32", "bfloat16"])
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=4, help="timed steps (after one warm-up step)")
    parser.add_argument("--base-filters", type=int, default=None, help="model width (default: the model's)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure(args.batch_size, args.steps, args.base_filters, args.precisions[0])))
        return 0

    rows, skipped = [], []
    for backend in args.backends:
        if importlib.util.find_spec(BACKEND_MODULES[backend]) is None:
            skipped.append(f"{backend} (not installed)")
            continue
        for precision in args.precisions:
            command = [sys.executable, __file__, "--child", "--batch-size", str(args.batch_size),
                       "--steps", str(args.steps), "--precisions", precision]
            if args.base_filters is not None:
                command += ["--base-filters", str(args.base_filters)]
            env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
            result = subprocess.run(command, env=env, capture_output=True, text=True)
            if result.returncode != 0:
                last = result.stderr.strip().splitlines()[-1] if result.stderr else "?"
                skipped.append(f"{backend} {precision} (failed: {last})")
                continue
            rows.append(json.loads(result.stdout.strip().splitlines()[-1]))

    print(f"Gap-inpainting model on {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores; "
          f"batch {args.batch_size}, {args.steps} timed steps; inpainting a {'x'.join(map(str, VOLUME_SHAPE))} "
          f"(z, y, x) volume with a {GAP_WIDTH_PX} px cross gap.\n")
    print("| backend | precision | parameters | loss of one batch | prefill ms/patch | training patches/s "
          "| inference patches/s | windows (stride 16) | windows (stride 1) | ratio | inpaint s "
          "| stride-1 estimate s |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row['backend']} | {row['precision']} | {row['parameters']:,} | {row['first_loss']:.6f} | "
              f"{row['prefill_ms_per_patch']:.2f} | {row['train_patches_per_s']:.1f} | "
              f"{row['infer_patches_per_s']:.1f} | {row['windows']} | {row['dense_windows']} | "
              f"{row['dense_windows'] / row['windows']:.0f} | {row['inpaint_s']:.1f} | "
              f"{row['dense_inpaint_s_estimate']:.0f} |")
    if skipped:
        print(f"\nSkipped: {', '.join(skipped)}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
