"""Reading measured data: intensities and masks from HDF5/CXI, NumPy and TIFF files, and objects."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from braggsynth.io.cxi import DETECTOR
from braggsynth.io.files import HDF5_SUFFIXES, DataFileError, open_h5

# --- Measured intensities and patch shards ---------------------------------

#: Where a CXI file's intensity and mask are looked for, in order (PyNX's paths first).
CXI_DATA_KEYS = (f"{DETECTOR}/data", "entry_1/data_1/data")
#: Where a CXI file's mask is looked for, in order.
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
    intensity
        float32 (z, y, x) = (rocking, detector rows, detector columns).
    mask
        bool (z, y, x), True where a voxel has no valid measurement
        (nonzero in the file's mask; a 2D (y, x) detector mask applies to every
        frame), or None when the file has no mask.  Non-finite voxels are
        added to the mask and set to 0 in ``intensity``.

    Raises
    ------
    DataFileError
        One line naming the file (and key), when the file is
        missing or unreadable, a key is absent, the data is not a real 3D array,
        or the mask does not match the data.
    """
    return _check_measured(*read_raw(path, key, mask_key))


def read_raw(path, key: str | None = None, mask_key: str | None = None):
    """The array and mask of a measured file as stored, unchecked: (data, mask or None, where).

    Formats and keys as :func:`read_measured`; ``data`` keeps the file's dtype
    (gap sentinels depend on it, :mod:`braggsynth.simulate.gaps`); ``where`` names the
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


#: Where a mask file's mask is looked for, in order (a mask's keys, then the data's, then ``data``).
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
