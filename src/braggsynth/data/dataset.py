"""Assemble patch shards into one training set with train / validation / test splits.

A shard holds the patches of one *source* (a simulated pattern or a measured
file, see :func:`braggsynth.io.shards.write_patch_shard`).  Whole simulated sources go
to one split, chosen from a hash of (seed, source id): a source never appears
in two splits, and adding sources never moves the existing ones.  Measured
sources always go to ``train``: their patches come from the half of the file
that the evaluation never scores (:func:`braggsynth.data.measured.fit_region`).

The copy is scheduled by ``dask`` and never holds more than a few patches,
so memory does not grow with the size of the set.  Shards chunked and filtered
like the dataset (one patch per chunk, the same compression, as the workflow
writes them) have their compressed chunks moved as stored bytes (HDF5 direct
chunk I/O), never decoded; other shards stream decoded through dask arrays in
blocks of a few patches.  Output layout (HDF5)::

    /attrs: seed, split_fractions, patch_shape, compression, provenance (JSON)
    /<split>/input         float32 (n, s, s, s)  normalised gapped patches
    /<split>/target        float32 (n, s, s, s)  normalised truth (counts)
    /<split>/expected      float32 (n, s, s, s)  normalised expected counts (noise-free truth;
                                                 the counts again for measured patches)
    /<split>/mask          bool    (n, s, s, s)  gap
    /<split>/gap_width_px  int16   (n,)
    /<split>/bounds        float64 (n, 2)        (low, high) of each patch's normalisation, log(I + 1)
                                                 (:func:`braggsynth.data.patches.normalise`): counts = expm1(low +
                                                 x (high - low))
    /<split>/source_index  int32   (n,)          row of <split>/sources
    /<split>/sources       table: source_id, origin, shape_name, element,
                           count, first (index of its first patch), shard

with <split> in train, validation, test; the 4D arrays are stored in chunks
of ``chunk_patches`` patches (one by default), gzip-compressed.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from pathlib import Path

import dask
import dask.array as da
import h5py
import numpy as np

from braggsynth import io

SPLITS = ("train", "validation", "test")
DEFAULT_SPLIT_FRACTIONS = {"train": 0.8, "validation": 0.1, "test": 0.1}

_SOURCE_TABLE = np.dtype([
    ("source_id", h5py.string_dtype()), ("origin", h5py.string_dtype()), ("shape_name", h5py.string_dtype()),
    ("element", h5py.string_dtype()), ("count", np.int64), ("first", np.int64), ("shard", h5py.string_dtype()),
])


def _check_fractions(split_fractions) -> dict:
    fractions = {name: float(split_fractions.get(name, 0.0)) for name in SPLITS}
    unknown = set(split_fractions) - set(SPLITS)
    if unknown or any(f < 0 for f in fractions.values()) or not math.isclose(sum(fractions.values()), 1.0,
                                                                              rel_tol=1e-9, abs_tol=1e-8):
        raise ValueError(f"split_fractions must give {', '.join(SPLITS)} fractions >= 0 summing to 1, "
                         f"got {dict(split_fractions)}")
    return fractions


def source_id(shape: str, sample: str) -> str:
    """The source of a simulated particle's patches (all its patterns): never split across train/validation/test."""
    return f"{shape}/{sample}"


def empty_splits(simulated_sources, seed: int, split_fractions=DEFAULT_SPLIT_FRACTIONS,
                 experimental_sources: int = 0) -> list[str]:
    """The splits with a positive fraction that no source falls in (experimental sources all go to train).

    Known from the config alone, before any job runs: :func:`split_of` of each simulated source id.
    """
    fractions = _check_fractions(split_fractions)
    wanted = {name for name in SPLITS if fractions[name] > 0}
    used = {"train"} if experimental_sources else set()
    for source in simulated_sources:
        if used >= wanted:  # every split has a source: the rest cannot change the answer
            break
        used.add(split_of(source, seed, fractions))
    return [name for name in SPLITS if name in wanted and name not in used]


def shapes_missing_from_splits(particles, seed: int, split_fractions=DEFAULT_SPLIT_FRACTIONS) -> dict:
    """{split: the shapes none of whose particles falls in it}, for the splits (of positive fraction) that miss
    a shape; ``particles`` are (shape, sample) pairs.  Known from the config alone (:func:`split_of`): a
    model scored on a test split without one of its training shapes is never scored on that shape."""
    fractions = _check_fractions(split_fractions)
    wanted = {name for name in SPLITS if fractions[name] > 0}
    found = {}
    for shape, sample in particles:
        splits = found.setdefault(shape, set())
        if splits != wanted:  # a shape in every split needs no more hashing
            splits.add(split_of(source_id(shape, sample), seed, fractions))
    missing = {name: [shape for shape, splits in found.items() if name not in splits] for name in SPLITS
               if name in wanted}
    return {name: shapes for name, shapes in missing.items() if shapes}


def split_of(source_id: str, seed: int, split_fractions=DEFAULT_SPLIT_FRACTIONS) -> str:
    """The split of a source: a uniform number hashed from (seed, source id) cut at the cumulative fractions."""
    fractions = _check_fractions(split_fractions)
    digest = hashlib.sha256(f"{int(seed)}/{source_id}".encode()).digest()
    u = int.from_bytes(digest[:8], "little") / 2.0**64
    edge = 0.0
    for name in SPLITS:
        edge += fractions[name]
        if u < edge and fractions[name] > 0:
            return name
    return next(name for name in reversed(SPLITS) if fractions[name] > 0)


def assemble(shard_paths, output_path, *, split_fractions=DEFAULT_SPLIT_FRACTIONS, seed: int,
             chunk_patches: int = 1, block_patches: int = 64, compression: str | None = "gzip",
             compression_opts=1, shuffle: bool = False, max_open_shards: int = 8,
             record: dict | None = None, copy_chunks: bool = True) -> dict:
    """Assemble patch shards into a split dataset at ``output_path`` (written atomically).

    Parameters
    ----------
    shard_paths
        paths of the shards, one per source (unique ``source_id``).
    output_path
        HDF5 file to write (layout in the module docstring).
    split_fractions
        mapping split -> fraction of the sources (not patches).
    seed
        the global seed, for the split hash.
    chunk_patches
        patches per HDF5 chunk of the 4D arrays (1: a reader
        fetches one patch by decompressing exactly one chunk).
    block_patches
        patches per dask block; memory is a few blocks, whatever
        the number of patches.
    compression, compression_opts, shuffle
        HDF5 filters of the 4D arrays
        ("gzip" with a level, "lzf" with None, or None; byte shuffle).  gzip 1
        without shuffle compressed patches of Poisson counts 5x at 70 MB/s,
        with shuffle only 3x at 40 MB/s.  The filters do not change values.
    max_open_shards
        shards open (and concatenated) at once.  Each open
        shard costs its HDF5 metadata (about 2 MiB for 1000 patches), so
        memory is bounded by this and ``block_patches``, not by the number of
        shards or patches.
    record
        provenance to store.
    copy_chunks
        move the compressed chunks of shards chunked and filtered
        like the dataset as stored bytes (HDF5 direct chunk I/O), never
        decoding them; False decodes and re-encodes every patch (dask), as
        shards of other filters always are.  The values are the same.

    Returns
    -------
    dict split -> number of patches.
    """
    fractions = _check_fractions(split_fractions)
    if compression is None or compression == "lzf":
        compression_opts = None
    infos = []
    for path in shard_paths:
        info = io.read_shard_info(path)
        info["shard"] = str(path)
        infos.append(info)
    if not infos:
        raise ValueError("no shards to assemble")
    # several shards may share a source (the patterns of one particle): the split follows the source
    shards = [info["shard"] for info in infos]
    if len(set(shards)) != len(shards):
        raise ValueError(f"a shard is listed twice: {sorted({s for s in shards if shards.count(s) > 1})}")
    patch_shape = infos[0]["patch_shape"]
    for info in infos:
        if info["patch_shape"] != patch_shape:
            raise io.DataFileError(f"{info['shard']}: patches of shape {info['patch_shape']}, expected {patch_shape}")
    members = {name: [] for name in SPLITS}
    for info in sorted(infos, key=lambda i: (i["source_id"], i["shard"])):
        split = "train" if info["origin"] == "experimental" else split_of(info["source_id"], seed, fractions)
        members[split].append(info)

    counts = {}
    with io.atomic_path(output_path) as tmp, h5py.File(tmp, "w") as out:
        out.attrs["seed"] = int(seed)
        out.attrs["patch_shape"] = patch_shape
        out.attrs["compression"] = f"{compression}:{compression_opts}:shuffle={shuffle}" if compression else "none"
        io.write_json_attr(out, "split_fractions", fractions)
        if record is not None:
            io.write_json_attr(out, "provenance", record)
        for name in SPLITS:
            counts[name] = _write_split(out.create_group(name), members[name], patch_shape, chunk_patches,
                                        block_patches, compression, compression_opts, shuffle, max_open_shards,
                                        copy_chunks)
    return counts


def _write_split(group, sources, patch_shape, chunk_patches, block_patches, compression, compression_opts, shuffle,
                 max_open_shards, copy_chunks=True) -> int:
    total = sum(s["count"] for s in sources)
    table = np.zeros(len(sources), dtype=_SOURCE_TABLE)
    first = 0
    for row, source in enumerate(sources):
        table[row] = (source["source_id"], source["origin"], source["shape_name"], source["element"],
                      source["count"], first, source["shard"])
        first += source["count"]
    group.create_dataset("sources", data=table)
    targets = {}
    for name, dtype in (("input", np.float32), ("target", np.float32), ("expected", np.float32), ("mask", bool)):
        targets[name] = group.create_dataset(
            name, shape=(total,) + patch_shape, maxshape=(None,) + patch_shape, dtype=dtype,
            chunks=(chunk_patches,) + patch_shape, compression=compression, compression_opts=compression_opts,
            shuffle=bool(shuffle and compression),
        )
    for name, dtype in (("gap_width_px", np.int16), ("source_index", np.int32)):
        targets[name] = group.create_dataset(name, shape=(total,), maxshape=(None,), dtype=dtype,
                                             chunks=(min(max(total, 1), 65536),))
    targets["bounds"] = group.create_dataset("bounds", shape=(total, 2), maxshape=(None, 2), dtype=np.float64,
                                             chunks=(min(max(total, 1), 65536), 2))
    raw = [row for row, source in enumerate(sources)
           if copy_chunks and source["count"] and _chunks_match(source["shard"], targets, patch_shape, chunk_patches)]
    if raw:
        # Chunks that are laid out and filtered alike are moved as compressed bytes, never decoded: one dask task
        # per shard, run one after another (HDF5 serialises its I/O anyway).
        tasks = [dask.delayed(_copy_chunks)(sources[row]["shard"], targets, int(table["first"][row]), row)
                 for row in raw]
        dask.compute(*tasks, scheduler="synchronous")
    copied = set(raw)
    decoded = [row for row in range(len(sources)) if row not in copied]
    for batch_start in range(0, len(decoded), max_open_shards):
        batch = decoded[batch_start:batch_start + max_open_shards]
        # No chunk cache: every chunk is read once, and open files x 3 arrays x 1 MiB would add up.
        handles = [h5py.File(sources[row]["shard"], "r", rdcc_nbytes=0) for row in batch]
        try:
            arrays = {name: [] for name in targets}
            for row, handle in zip(batch, handles):
                if sources[row]["count"] == 0:
                    continue
                for name in ("input", "target", "expected", "mask"):
                    arrays[name].append(da.from_array(handle[name], chunks=(block_patches,) + patch_shape))
                arrays["gap_width_px"].append(da.from_array(handle["gap_width_px"]).astype(np.int16))
                arrays["bounds"].append(da.from_array(handle["bounds"]).astype(np.float64))
                arrays["source_index"].append(da.full(sources[row]["count"], row, dtype=np.int32))
            names = list(targets)
            if not arrays["input"]:
                continue
            # The rows of a batch need not be contiguous in the split: store each shard in its own region.
            # HDF5 runs its filters under one lock: threads would only add memory.
            stored = [(row, n) for row in batch if sources[row]["count"] for n in names]
            regions = []
            for row, n in stored:
                start = int(table["first"][row])
                rows_of_shard = slice(start, start + int(table["count"][row]))
                regions.append((rows_of_shard,) + (slice(None),) * (targets[n].ndim - 1))
            sources_arrays = {n: iter(arrays[n]) for n in names}
            with dask.config.set(scheduler="synchronous"):
                da.store([next(sources_arrays[n]) for _, n in stored], [targets[n] for _, n in stored],
                         regions=regions)
        finally:
            for handle in handles:
                handle.close()
    return total


def _chunks_match(shard_path, targets, patch_shape, chunk_patches) -> bool:
    """Whether a shard's 4D arrays are chunked and filtered as the dataset's (their chunks can be copied as bytes)."""
    if chunk_patches != 1:
        return False
    with h5py.File(shard_path, "r") as shard:
        for name in ("input", "target", "expected", "mask"):
            source, target = shard[name], targets[name]
            if (source.chunks != (1,) + tuple(patch_shape) or source.dtype != target.dtype
                    or source.compression != target.compression or source.shuffle != target.shuffle
                    or source.compression_opts != target.compression_opts or source.fletcher32 != target.fletcher32
                    or source.scaleoffset is not None or target.scaleoffset is not None):
                return False
    return True


def _copy_chunks(shard_path, targets, first: int, source_index: int) -> int:
    """Copy a shard's patches to rows ``first``... of the split: 4D arrays chunk by chunk as stored bytes."""
    with h5py.File(shard_path, "r", rdcc_nbytes=0) as shard:
        count = shard["input"].shape[0]
        zeros = (0,) * (shard["input"].ndim - 1)
        for name in ("input", "target", "expected", "mask"):
            source, target = shard[name].id, targets[name].id
            for i in range(count):
                filter_mask, chunk = source.read_direct_chunk((i,) + zeros)
                target.write_direct_chunk((first + i,) + zeros, chunk, filter_mask)
        targets["gap_width_px"][first:first + count] = shard["gap_width_px"][()].astype(np.int16)
        targets["bounds"][first:first + count] = shard["bounds"][()]
        targets["source_index"][first:first + count] = source_index
    return count


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def dataset_card(dataset_path) -> dict:
    """Counts of an assembled dataset: patches and sources per split, and patches per
    origin, shape, element and gap width (overall and per split)."""
    card = {"dataset": str(dataset_path), "patches": 0, "sources": 0, "by_split": {}, "sources_by_split": {},
            "by_origin": {}, "by_shape": {}, "by_element": {}, "by_gap_width_px": {}, "per_split": {}}
    totals = {key: Counter() for key in ("by_origin", "by_shape", "by_element", "by_gap_width_px")}
    with io.open_h5(dataset_path) as h5:
        card["seed"] = int(h5.attrs["seed"])
        card["patch_shape"] = [int(n) for n in h5.attrs["patch_shape"]]
        card["split_fractions"] = io.read_json_attr(h5, "split_fractions")
        for name in SPLITS:
            group = h5[name]
            table = group["sources"][()]
            patches_per_source = table["count"]
            widths, width_counts = np.unique(group["gap_width_px"][()], return_counts=True)
            split = {
                "by_origin": Counter(), "by_shape": Counter(), "by_element": Counter(),
                "by_gap_width_px": Counter({str(int(w)): int(c) for w, c in zip(widths, width_counts)}),
            }
            for row, count in zip(table, patches_per_source):
                split["by_origin"][_text(row["origin"])] += int(count)
                split["by_shape"][_text(row["shape_name"])] += int(count)
                split["by_element"][_text(row["element"])] += int(count)
            for key, counter in split.items():
                totals[key].update(counter)
            card["by_split"][name] = int(group["input"].shape[0])
            card["sources_by_split"][name] = len({_text(source) for source in table["source_id"]})
            card["per_split"][name] = {key: dict(sorted(c.items())) for key, c in split.items()}
    card["patches"] = sum(card["by_split"].values())
    card["sources"] = sum(card["sources_by_split"].values())
    for key, counter in totals.items():
        card[key] = dict(sorted(counter.items(), key=lambda kv: (len(kv[0]), kv[0])))
    return card


def card_markdown(card: dict) -> str:
    """The dataset card as Markdown tables."""
    lines = [f"# Dataset card: {Path(card['dataset']).name}", "",
             f"{card['patches']} patches of {'x'.join(map(str, card['patch_shape']))} voxels from "
             f"{card['sources']} sources; seed {card['seed']}; split fractions (of sources) "
             + ", ".join(f"{k} {card['split_fractions'][k]:g}" for k in SPLITS) + ".", "",
             "| split | sources | patches |", "|---|---:|---:|"]
    for name in SPLITS:
        lines.append(f"| {name} | {card['sources_by_split'][name]} | {card['by_split'][name]} |")
    lines.append(f"| **all** | {card['sources']} | {card['patches']} |")
    titles = {"by_origin": "origin", "by_shape": "shape", "by_element": "element", "by_gap_width_px": "gap width (px)"}
    for key, title in titles.items():
        lines += ["", f"## Patches by {title}", "", f"| {title} | " + " | ".join(SPLITS) + " | all |",
                  "|---|" + "---:|" * (len(SPLITS) + 1)]
        for value, total in card[key].items():
            cells = [str(card["per_split"][s][key].get(value, 0)) for s in SPLITS]
            lines.append(f"| {value} | " + " | ".join(cells) + f" | {total} |")
    return "\n".join(lines) + "\n"


def write_card(card: dict, json_path, markdown_path) -> None:
    """Write the card as JSON and as Markdown (both atomically)."""
    for path, text in ((json_path, json.dumps(card, indent=2, sort_keys=False) + "\n"),
                       (markdown_path, card_markdown(card))):
        with io.atomic_path(path) as tmp:
            Path(tmp).write_text(text)


def patch_montage(dataset_path, png_path, per_split: int = 6, rng: np.random.Generator | None = None) -> None:
    """PNG of random patches of each split: central z slice of input, target and mask.

    ``rng`` picks the patches (default: a generator seeded 0, so the montage
    of a given file is reproducible).
    """
    from braggsynth.figures import patch_slices

    rng = rng if rng is not None else np.random.default_rng(0)
    panels = []
    with io.open_h5(dataset_path) as h5:
        for name in SPLITS:
            group = h5[name]
            n = group["input"].shape[0]
            chosen = np.sort(rng.choice(n, size=min(per_split, n), replace=False)) if n else np.array([], int)
            centre = group["input"].shape[1] // 2
            cuts = {key: [group[key][int(i), centre] for i in chosen] for key in ("input", "target", "mask")}
            labels = [f"#{int(i)} gap {int(group['gap_width_px'][int(i)])} px" for i in chosen]
            panels.append((name, cuts, labels))
    patch_slices(panels, png_path, per_split=per_split,
                 title=f"{Path(dataset_path).name}: central z slice (y down, x across), normalised log intensity")
