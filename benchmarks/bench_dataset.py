"""Benchmark of dataset assembly: patches per second and peak memory against size.

Shards of 32^3 patches are generated first (timed apart): a few distinct
template shards are cut from simulated detector counts of a sinc^2 peak
(:func:`braggsynth.data.patches.make_patches`, gzip 1 as the workflow writes them),
then copied to size / ``--patches-per-shard`` shard files (default 100
patches each, so 1e4 patches are 100 shards and 1e5 are 1000) with their own source ids
(copying the file and rewriting its attributes; the patch values of copies
repeat, which does not change the work of assembly).  Each size is then
assembled by :func:`braggsynth.data.dataset.assemble` in a fresh process per mode,
which reports its own wall time and high-water RSS (VmHWM): ``bytes`` moves
the compressed chunks as stored (the default), ``decoded`` reads, decodes,
re-encodes and writes every patch through dask; the ratio of the two is
printed per size.

Everything lives in a temporary folder under ``--workdir`` (default /tmp),
deleted at the end; the free disk is checked first.

Usage::

    python benchmarks/bench_dataset.py                      # 1e4 and 1e5 patches, both modes
    python benchmarks/bench_dataset.py --sizes 1e3 1e4      # chosen sizes
    python benchmarks/bench_dataset.py --modes bytes        # the default mode only
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

PATCH = 32
TEMPLATES = 4
# Compressed bytes per patch (input + target + mask) measured on these
# shards: about 57 KiB (gzip 1, no shuffle); the estimate below doubles it.
DISK_PER_PATCH = 2 * 57 * 1024

# The child reads VmHWM (high-water RSS of its own address space): ru_maxrss
# would also count the parent's peak, which Linux carries across fork + exec.
CHILD = """
import json, sys, time
from pathlib import Path
from braggsynth.data import dataset


def status_mib(field):
    with open("/proc/self/status") as status:
        return next(float(line.split()[1]) / 1024 for line in status if line.startswith(field + ":"))

shards = sorted(Path(sys.argv[1]).glob("*.h5"))
imported = status_mib("VmRSS")
start = time.perf_counter()
counts = dataset.assemble(shards, sys.argv[2], seed=7, compression=sys.argv[3] or None,
                          compression_opts=None if sys.argv[4] == "none" else int(sys.argv[4]),
                          copy_chunks=sys.argv[5] == "bytes")
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "counts": counts, "rss_after_import_mib": imported,
                  "max_rss_mib": status_mib("VmHWM")}))
"""


def make_templates(folder: Path, per_shard: list[int], seed: int = 0) -> dict:
    """TEMPLATES shards per shard size, each cut from its own simulated pattern."""
    from braggsynth import io
    from braggsynth.data import patches
    from braggsynth.simulate import detector

    z, y, x = np.mgrid[-64:64, -64:64, -64:64]
    intensity = (np.sinc(z / 8.0) * np.sinc(y / 9.0) * np.sinc(x / 7.0)) ** 2
    templates = {n: [] for n in set(per_shard)}
    for t in range(TEMPLATES):
        rng = np.random.default_rng([seed, t])
        sim = detector.simulate_detector(intensity, rng, max_counts_range=(1e4, 1e6), background=0.2)
        cut = patches.make_patches(sim.counts, rng, count=max(per_shard))
        for n in set(per_shard):
            path = folder / f"template_{n}_{t}.h5"
            io.write_patch_shard(path, {k: v[:n] for k, v in cut.items()}, source_id=f"template/{t}",
                                 origin="simulated", shape_name=("cube", "octahedron", "wulff", "winterbottom")[t],
                                 element="Au")
            templates[n].append(path)
    return templates


def copy_shards(templates: list[Path], folder: Path, shards: int) -> None:
    folder.mkdir(parents=True)
    for i in range(shards):
        target = folder / f"shard_{i:05d}.h5"
        shutil.copyfile(templates[i % len(templates)], target)
        with h5py.File(target, "r+") as h5:
            h5.attrs["source_id"] = f"pattern/{i:05d}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[1e4, 1e5], help="total patches per dataset")
    parser.add_argument("--patches-per-shard", type=int, default=100,
                        help="patches per shard (source); a size has size / this many shards")
    parser.add_argument("--workdir", default="/tmp")
    parser.add_argument("--compression", default="gzip", help="gzip, lzf or '' for none")
    parser.add_argument("--level", default="1", help="gzip level, or 'none'")
    parser.add_argument("--modes", nargs="+", default=["bytes", "decoded"], choices=["bytes", "decoded"],
                        help="bytes: compressed chunks moved as stored (the default of assemble); decoded: every "
                             "patch decoded and re-encoded through dask")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes]
    per_shard = [args.patches_per_shard] * len(sizes)
    shard_counts = [s // args.patches_per_shard for s in sizes]
    need = DISK_PER_PATCH * 2 * max(sizes)  # shards + dataset of the largest size
    free = shutil.disk_usage(args.workdir).free
    print(f"free disk in {args.workdir}: {free / 1e9:.1f} GB; largest size needs about {need / 1e9:.1f} GB")
    if need > 0.8 * free:
        sys.exit(f"not enough disk in {args.workdir} for {max(sizes)} patches; choose smaller --sizes")

    root = Path(tempfile.mkdtemp(prefix="bench_dataset.", dir=args.workdir))
    rows = []
    try:
        start = time.perf_counter()
        templates = make_templates(root, per_shard)
        template_seconds = time.perf_counter() - start
        template_patches = TEMPLATES * max(per_shard)
        print(f"templates: {template_patches} patches simulated and written in {template_seconds:.1f} s "
              f"({template_patches / template_seconds:.0f} patches/s)")
        for size, n, shards in zip(sizes, per_shard, shard_counts):
            shard_folder = root / f"shards_{size}"
            start = time.perf_counter()
            copy_shards(templates[n], shard_folder, shards)
            copy_seconds = time.perf_counter() - start
            shard_bytes = sum(p.stat().st_size for p in shard_folder.iterdir())
            for mode in args.modes:
                output = root / f"dataset_{size}_{mode}.h5"
                run = subprocess.run([sys.executable, "-c", CHILD, str(shard_folder), str(output),
                                      args.compression, args.level, mode], capture_output=True, text=True, check=True)
                result = json.loads(run.stdout.strip().splitlines()[-1])
                with h5py.File(output) as h5:
                    chunks = h5["train/input"].chunks
                rows.append({
                    "patches": size, "mode": mode, "shards": shards, "copy_s": copy_seconds,
                    "shard_gb": shard_bytes / 1e9, "assemble_s": result["seconds"], "rate": size / result["seconds"],
                    "mb_s": size * PATCH**3 * 9 / result["seconds"] / 1e6, "rss": result["max_rss_mib"],
                    "rss0": result["rss_after_import_mib"], "out_gb": output.stat().st_size / 1e9, "chunks": chunks,
                    "splits": result["counts"],
                })
                output.unlink()
                print(f"done {size} {mode}: {rows[-1]}", flush=True)
            shutil.rmtree(shard_folder)
    finally:
        shutil.rmtree(root, ignore_errors=True)

    print()
    print(f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"compression {args.compression or 'none'} level {args.level}, no shuffle; one HDF5 chunk per patch")
    print()
    print("| patches | chunks | shards | shard files (GB) | copy shards (s) | assemble (s) | patches/s "
          "| MB/s (uncompressed) | RSS after imports (MiB) | peak RSS (MiB) | dataset (GB) | chunk "
          "| train/validation/test |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
    for r in rows:
        s = r["splits"]
        print(f"| {r['patches']:.0e} | {r['mode']} | {r['shards']} | {r['shard_gb']:.2f} | {r['copy_s']:.1f} "
              f"| {r['assemble_s']:.1f} | {r['rate']:.0f} | {r['mb_s']:.0f} | {r['rss0']:.0f} | {r['rss']:.0f} "
              f"| {r['out_gb']:.2f} | {r['chunks']} | {s['train']}/{s['validation']}/{s['test']} |")
    for size in sorted({r["patches"] for r in rows}):
        seconds = {r["mode"]: r["assemble_s"] for r in rows if r["patches"] == size}
        if {"bytes", "decoded"} <= set(seconds):
            print(f"{size:.0e} patches: chunks moved as bytes {seconds['decoded'] / seconds['bytes']:.1f}x faster "
                  "than decoded, in this run")


if __name__ == "__main__":
    main()
