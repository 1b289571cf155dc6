"""Patch shards: the HDF5 files of 3D patches (input, target, mask...) that datasets are made of."""

from __future__ import annotations

import numpy as np

from braggsynth.io.files import DataFileError, atomic_h5, open_h5, write_json_attr

SHARD_ARRAYS = ("input", "target", "expected", "mask", "gap_width_px", "bounds")
SHARD_ATTRIBUTES = ("source_id", "origin", "shape_name", "element")
ORIGINS = ("simulated", "experimental")


def write_patch_shard(path, patches: dict, *, source_id: str, origin: str, shape_name: str, element: str,
                      record: dict | None = None, compression: str | None = "gzip", compression_opts=1,
                      shuffle: bool = False) -> None:
    """Write the patches of one source (a simulated pattern or a measured file).

    Layout: ``input``, ``target``, ``expected`` float32 (n, s, s, s), ``mask`` bool
    (n, s, s, s), ``gap_width_px`` int16 (n,), ``bounds`` float64 (n, 2), and any other array of
    ``patches`` (``orientation``, ``corner``, see
    :func:`braggsynth.data.patches.make_patches`); 4D arrays are stored one chunk
    per patch.  Attributes ``source_id``, ``origin`` ("simulated" or
    "experimental"), ``shape_name``, ``element`` and ``provenance`` (JSON).
    """
    if origin not in ORIGINS:
        raise ValueError(f"origin {origin!r} is not one of {', '.join(ORIGINS)}")
    missing = [name for name in SHARD_ARRAYS if name not in patches]
    if missing:
        raise ValueError(f"patches lack {', '.join(missing)}")
    with atomic_h5(path) as h5:
        for name, array in patches.items():
            array = np.asarray(array)
            if array.ndim == 4:
                h5.create_dataset(name, data=array, chunks=(1,) + array.shape[1:], compression=compression,
                                  compression_opts=compression_opts, shuffle=bool(shuffle and compression))
            else:
                h5.create_dataset(name, data=array)
        for name, value in zip(SHARD_ATTRIBUTES, (source_id, origin, shape_name, element)):
            h5.attrs[name] = str(value)
        if record is not None:
            write_json_attr(h5, "provenance", record)


def read_shard_info(path) -> dict:
    """Source attributes and sizes of a patch shard: ``source_id``, ``origin``,
    ``shape_name``, ``element`` (str), ``count`` (patches) and ``patch_shape``
    (s, s, s); DataFileError naming the file when it is not a consistent shard."""
    with open_h5(path) as h5:
        info = {}
        for name in SHARD_ATTRIBUTES:
            if name not in h5.attrs:
                raise DataFileError(f"{path}: shard lacks attribute {name!r}")
            value = h5.attrs[name]
            info[name] = value.decode() if isinstance(value, bytes) else str(value)
        for name in SHARD_ARRAYS:
            if name not in h5:
                raise DataFileError(f"{path}: shard lacks dataset {name!r}")
        count = h5["input"].shape[0]
        patch_shape = h5["input"].shape[1:]
        for name in SHARD_ARRAYS:
            expected = (count,) + (patch_shape if h5[name].ndim == 4 else (2,) if name == "bounds" else ())
            if h5[name].shape != expected:
                raise DataFileError(f"{path}: shard dataset {name!r} has shape {h5[name].shape}, expected {expected}")
    info["count"], info["patch_shape"] = int(count), tuple(int(n) for n in patch_shape)
    return info
