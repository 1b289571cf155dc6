"""Where a training step of the inpainting model goes on this CPU (issue 17, item 5), each figure from its own
process:

- patches/s of ``train_on_batch`` and ``predict_on_batch`` on a fixed batch against batch size, precision
  and capacity (width and depth: what a faster step can buy), the network alone;
- the oneDNN primitives of a bfloat16 step by kind (``ONEDNN_VERBOSE=profile_exec``): forward, backward-data
  and backward-weights convolutions (their kernels: AMX or not), reorders, pooling; against the step's wall time;
- patches/s of ``fit`` on a dataset's training split with the batches loaded between steps or by
  :data:`braggsynth.learn.training.LOADER_THREADS` threads beside the network (the input pipeline's share).

Usage (after ``make``; about 5 minutes on 2 cores)::

    python benchmarks/bench_training_step.py --dataset results/dataset/patches.h5

The capacities of ``benchmarks/compare_designs.py``, network alone::

    python benchmarks/bench_training_step.py --base-filters 16 24 --depths 2 3 --precisions bfloat16 --no-profile
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys

NETWORK = """
import json, os, sys, time
import numpy as np, keras
from braggsynth.learn import model as m

from braggsynth.learn.training import GapMSE, PRECISIONS

precision, batch, base_filters, depth = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
keras.mixed_precision.set_global_policy(PRECISIONS[precision])
keras.utils.set_random_seed(0)
net = m.build_model(base_filters=base_filters, depth=depth)
net.compile(optimizer=keras.optimizers.Adam(1e-3), loss=GapMSE())
rng = np.random.default_rng(0)
x = rng.random((batch, 32, 32, 32, 2)).astype(np.float32)
x[..., 1] = rng.random(x.shape[:-1]) < 0.1
y = np.stack([rng.random((batch, 32, 32, 32)), x[..., 1]], -1).astype(np.float32)
for _ in range(3):
    net.train_on_batch(x, y)
print("MEASURED", flush=True)
start = time.perf_counter()
for _ in range(5):
    net.train_on_batch(x, y)
step = (time.perf_counter() - start) / 5
print("DONE", flush=True)
start = time.perf_counter()
for _ in range(5):
    net.predict_on_batch(x)
print(json.dumps({"step_s": step, "train": batch / step, "infer": 5 * batch / (time.perf_counter() - start)}))
"""

PIPELINE = """
import json, sys, time
import keras
from braggsynth.learn import model as m

from braggsynth.learn.training import GapMSE, PRECISIONS, PatchBatches

keras.mixed_precision.set_global_policy(PRECISIONS["bfloat16"])
keras.utils.set_random_seed(0)
net = m.build_model()
net.compile(optimizer=keras.optimizers.Adam(1e-3), loss=GapMSE())
data = PatchBatches(sys.argv[1], "train", 16, shuffle=True, augment=True, seed=0, patches_per_epoch=256,
                    workers=int(sys.argv[2]), use_multiprocessing=False)
net.fit(data, epochs=1, verbose=0)
start = time.perf_counter()
net.fit(data, epochs=3, verbose=0)
print(json.dumps({"fit": 3 * 256 / (time.perf_counter() - start)}))
"""


def run(code: str, *args, env=None) -> tuple[dict, str]:
    environment = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": "1", "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
    result = subprocess.run([sys.executable, "-c", code, *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=environment, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1]), result.stdout


def primitives(log: str, steps: int = 5) -> collections.Counter:
    """Milliseconds a step by (primitive, propagation, kernel) between the MEASURED and DONE marks."""
    times, inside = collections.Counter(), False
    for line in log.splitlines():
        inside = (inside or line == "MEASURED") and line != "DONE"
        if inside and line.startswith("onednn_verbose") and ",exec," in line:
            fields = line.split(",")
            at = fields.index("exec")
            try:
                times[(fields[at + 2], fields[at + 4], fields[at + 3])] += float(fields[-1]) / steps
            except ValueError:
                continue
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", help="patch dataset for the input-pipeline figures")
    parser.add_argument("--batches", type=int, nargs="+", default=[8, 16, 32])
    parser.add_argument("--base-filters", type=int, nargs="+", default=[16])
    parser.add_argument("--depths", type=int, nargs="+", default=[2])
    parser.add_argument("--precisions", nargs="+", default=["bfloat16", "float32"], choices=["bfloat16", "float32"])
    parser.add_argument("--no-profile", action="store_true", help="the network's patches/s only")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each input-pipeline setting")
    args = parser.parse_args()

    print("| filters | depth | precision | batch | training patches/s | inference patches/s |\n"
          "|---:|---:|---|---:|---:|---:|")
    for filters in args.base_filters:
        for depth in args.depths:
            for precision in args.precisions:
                for batch in args.batches:
                    figures, _ = run(NETWORK, precision, batch, filters, depth)
                    print(f"| {filters} | {depth} | {precision} | {batch} | {figures['train']:.1f} | "
                          f"{figures['infer']:.1f} |", flush=True)
    if args.no_profile:
        return
    figures, log = run(NETWORK, "bfloat16", 16, args.base_filters[0], args.depths[0],
                       env={"ONEDNN_VERBOSE": "profile_exec"})
    times = primitives(log)
    print(f"\nbfloat16, batch 16: {1000 * figures['step_s']:.0f} ms a step (with the verbose log), "
          f"{sum(times.values()):.0f} ms in oneDNN primitives (summed over threads)\n")
    print("| primitive | propagation | kernel | ms a step |\n|---|---|---|---:|")
    for (kind, propagation, kernel), ms in times.most_common(10):
        print(f"| {kind} | {propagation} | {kernel} | {ms:.1f} |")
    if args.dataset:
        from braggsynth.learn.training import LOADER_THREADS

        print("\n| batches loaded | fit patches/s, runs alternated |\n|---|---|")
        found = {workers: [] for workers in sorted({1, LOADER_THREADS})}
        for _ in range(args.repeats):
            for workers in found:
                found[workers].append(run(PIPELINE, args.dataset, workers)[0]["fit"])
        for workers, values in found.items():
            print(f"| {'between steps' if workers == 1 else f'by {workers} threads'} | "
                  f"{', '.join(f'{value:.1f}' for value in values)} |")


if __name__ == "__main__":
    main()
