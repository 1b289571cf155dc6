"""CXI files (CXI 1.6, as PyNX and cdiutils read them): peaks, recordings, measured-style intensities,
inpainted scans and reconstructions."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from braggsynth.io.files import HDF5_SUFFIXES, atomic_h5, check_volume, open_h5, write_json_attr

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
    """The geometry record of a pattern (a :class:`braggsynth.simulate.frames.PatternGeometry`):
    {path under entry_1: value} as :func:`read_geometry` returns it."""
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
      intensity ``|F|^2``, float32, in units of one atom's scattering (unit form factor), before any detector.
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

    ``geometry`` is a :class:`braggsynth.simulate.frames.PatternGeometry`.
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


def write_cxi_intensity(path, intensity, mask=None, *, record: dict | None = None,
                        geometry: dict | None = None) -> None:
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
    ``entry_1/result_1/mask``); for the ``interval``, ``narrowed`` and ``mask-interp`` modes
    ``entry_1/result_1/lower_bound`` and ``upper_bound``, the gap's intensity bounds (counts; infinity:
    free); ``entry_1/image_1/process_1``: ``errors`` float64, the modulus error after every iteration of
    the kept start, ``start_errors`` the final
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
