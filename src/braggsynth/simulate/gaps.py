"""Detector gaps in a recorded rocking scan: stripes of a mask, and gaps found in the data themselves.

In a rocking scan (z, y, x) = (rocking, detector rows, detector columns) every
frame has the same insensitive pixels, so a detector gap is a *stripe*: a band
of whole planes normal to y (a horizontal gap, rows) or to x (a vertical gap,
columns) through all z.

Files often come without a gap mask.  Their gap pixels then hold a value no
pixel measures, the same in every frame:

- NaN (float data);
- a *sentinel*: -1, or the largest value of the integer type (EIGER files
  store 2^32 - 1 in uint32 and 2^16 - 1 in uint16 gap pixels; in float data
  the same numbers);
- 0, which a dim pixel also records.

:func:`find_gaps` finds the stripes of such dead pixels and keeps a stripe of
zeros only when the rows (columns) on both sides of it hold enough photons
that a stripe of pure zeros between them cannot be low counts
(:data:`MIN_NEIGHBOUR_PHOTONS`); it never takes zeros at the frame's edge
for a gap.  Voxels holding NaN or a sentinel are never data, so they are
always in the mask, stripe or not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Fraction of gap voxels above which a plane counts as part of a gap stripe of a mask (:func:`gap_stripes`).
MIN_PLANE_FRACTION = 0.5
#: Fraction of dead pixels above which a detector row (column) counts as part of a gap stripe in data.
MIN_DEAD_FRACTION = 0.95
#: Photons that the planes beside a stripe of zeros must each hold for the zeros to be a gap; Poisson
#: counts of a plane expecting 20 photons are all 0 with probability e^-20 = 2e-9.
MIN_NEIGHBOUR_PHOTONS = 20.0
#: Sentinel values of gap pixels in float data (what the integer sentinels become when converted).
FLOAT_SENTINELS = (-1.0, 2.0**16 - 1, 2.0**31 - 1, 2.0**32 - 1)
AXIS_NAMES = {1: ("horizontal", "y"), 2: ("vertical", "x")}


def gap_stripes(gap_mask, min_plane_fraction: float = MIN_PLANE_FRACTION) -> list[tuple[int, int, int]]:
    """Gap stripes of a mask: (axis, first plane, end plane) for each run of mostly-gap planes.

    A plane normal to ``axis`` belongs to a stripe when at least
    ``min_plane_fraction`` of its voxels are gap, not counting the voxels that
    lie in complete gap planes of the other axes (the arm of a cross as wide
    as half the volume must not make every plane across it a stripe).  A
    detector gap in a rocking scan is a stripe normal to y or x through all z.
    """
    gap_mask = np.asarray(gap_mask, dtype=bool)
    ndim = gap_mask.ndim
    complete = []  # per axis, the planes that are wholly gap, broadcastable to the mask
    for axis in range(ndim):
        others = tuple(a for a in range(ndim) if a != axis)
        complete.append(np.expand_dims(gap_mask.all(axis=others), others))
    stripes = []
    for axis in range(ndim):
        others = tuple(a for a in range(ndim) if a != axis)
        elsewhere = np.zeros(gap_mask.shape, dtype=bool)
        for other in others:
            elsewhere = elsewhere | complete[other]
        counted = (~elsewhere).sum(axis=others)
        fraction = np.divide((gap_mask & ~elsewhere).sum(axis=others), counted, out=np.zeros(counted.shape),
                             where=counted > 0)
        planes = (fraction >= min_plane_fraction) | (counted == 0) & complete[axis].reshape(-1)
        stripes += [(axis, start, stop) for start, stop in _runs(planes)]
    return stripes


def gap_width_px(gap_mask) -> int:
    """Width (pixels) of the widest gap stripe of a mask (:func:`gap_stripes`), 0 when it has none."""
    return max((stop - start for _, start, stop in gap_stripes(gap_mask)), default=0)


def _runs(flags) -> list[tuple[int, int]]:
    """[start, stop) of each run of True in a 1D bool array."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], np.asarray(flags, dtype=np.int8), [0]])))
    return [(int(start), int(stop)) for start, stop in zip(edges[::2], edges[1::2])]


def sentinel_voxels(data) -> np.ndarray:
    """Boolean mask of voxels holding NaN, infinity or a gap sentinel (module docstring), any shape."""
    data = np.asarray(data)
    if data.dtype.kind == "f":
        sentinel = ~np.isfinite(data)
        for value in FLOAT_SENTINELS:
            sentinel |= np.isclose(data, value, rtol=1e-7, atol=0.0)
        return sentinel
    if data.dtype.kind in "iu":
        sentinel = data == np.iinfo(data.dtype).max
        if data.dtype.kind == "i":
            sentinel |= data == -1
        return sentinel
    return np.zeros(data.shape, dtype=bool)


def describe(stripes) -> str:
    """``a 6 px vertical gap at x = 120-125 and ...`` for stripes (axis, start, stop) normal to y or x."""
    parts = []
    for axis, start, stop in stripes:
        orientation, letter = AXIS_NAMES.get(axis, ("rocking-axis", "z"))
        parts.append(f"a {stop - start} px {orientation} gap at {letter} = {start}-{stop - 1}")
    if not parts:
        return "no gap"
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


@dataclass(frozen=True)
class FoundGaps:
    """What :func:`find_gaps` found.

    Attributes
    ----------
    mask
        bool (z, y, x), True in the gap stripes and on every NaN or sentinel voxel.
    stripes
        list of (axis, start, stop), axis 1 (rows, horizontal) or 2 (columns, vertical).
    doubtful
        stripes of zeros left out because their neighbours hold too few
        photons (or the frame ends) to tell a gap from low counts.
    """

    mask: np.ndarray
    stripes: list
    doubtful: list


def find_gaps(data, *, min_dead_fraction: float = MIN_DEAD_FRACTION,
              min_neighbour_photons: float = MIN_NEIGHBOUR_PHOTONS) -> FoundGaps:
    """Find the detector gaps of a rocking scan from its values (no mask needed).

    Parameters
    ----------
    data
        (z, y, x) array as read from the file, in its own dtype (the
        sentinels depend on it); intensities in photons.
    min_dead_fraction
        fraction of a row's (column's) pixels that must be
        dead (0, NaN or a sentinel in every frame) for the row to be gap.
    min_neighbour_photons
        photons that the plane on each side of a stripe
        of zeros must hold for the stripe to be a gap (a stripe of sentinels
        needs no such evidence).

    Returns
    -------
    :class:`FoundGaps`.
    """
    data = np.asarray(data)
    if data.ndim != 3:
        raise ValueError(f"data must be 3D (z, y, x), got shape {data.shape}")
    sentinel = sentinel_voxels(data)
    values = np.where(sentinel, 0, data).astype(np.float64)
    first = values[0]
    constant = np.all(values == first, axis=0)
    sentinel_pixel = sentinel.all(axis=0)
    dead = (constant & (first == 0)) | sentinel_pixel  # (y, x)
    frame_totals = values.sum(axis=0)  # photons per detector pixel over the scan
    stripes, doubtful = [], []
    for axis in (1, 2):
        along = 1 if axis == 1 else 0  # axis of `dead` (y, x) that runs along the stripe
        planes = dead.mean(axis=along) >= min_dead_fraction
        plane_photons = frame_totals.sum(axis=along)
        sentinel_planes = sentinel_pixel.mean(axis=along) >= min_dead_fraction
        for start, stop in _runs(planes):
            stripe = (axis, start, stop)
            if sentinel_planes[start:stop].all():
                stripes.append(stripe)
                continue
            inside = 0 < start and stop < planes.size
            if inside and min(plane_photons[start - 1], plane_photons[stop]) >= min_neighbour_photons:
                stripes.append(stripe)
            else:
                doubtful.append(stripe)
    mask = sentinel.copy()
    for axis, start, stop in stripes:
        index = [slice(None)] * 3
        index[axis] = slice(start, stop)
        mask[tuple(index)] = True
    return FoundGaps(mask, stripes, doubtful)
