"""A user's rocking scan and its gap mask, from whatever the user has.

The mask of the voxels to fill comes from the first of:

1. a mask file (``mask_path``: HDF5/CXI, .npy, .npz or TIFF; 2D (y, x) or 3D);
2. a detector's layout (``detector`` with a frame layout, e.g. ``maxipix``,
   ``eiger4m``, ``eiger2m``) and the region of interest's first pixel on the
   detector frame (``roi``);
3. the scan file's own mask (CXI ``entry_1/instrument_1/detector_1/mask`` or ``entry_1/data_1/mask``, an
   .npz ``mask``);
4. the gaps found in the data (:func:`braggsynth.simulate.gaps.find_gaps`: stripes
   of zeros, NaN or sentinel values through every frame).

Voxels holding NaN or a gap sentinel (:func:`braggsynth.simulate.gaps.sentinel_voxels`)
are never data and join the mask whatever its source.

A scan file's own mask is a preprocessing's: besides the detector gaps it
masks aliens, streaks and bad pixels.  Only its voxels in gap stripes
(:func:`braggsynth.simulate.gaps.gap_stripes`) are to be filled; the others are
``masked``: unmeasured, not filled (a model fills detector gaps, not an alien's
place), and left free in phasing, as PyNX leaves them, unless
``fill_masked`` asks to fill them too.  A mask file (``mask_path``) says
what to fill: all of it.  Every error is a :class:`braggsynth.io.files.DataFileError`
of one line naming the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from braggsynth import io
from braggsynth.simulate import detector as detectors
from braggsynth.simulate import gaps


@dataclass(frozen=True, eq=False)
class Scan:
    """A rocking scan ready to fill.

    Attributes
    ----------
    intensity
        float32 (z, y, x), photons; 0 in the mask and in ``masked``.
    mask
        bool (z, y, x), True on the voxels to fill.
    stripes
        gap stripes of the mask, (axis, start, stop) (:func:`braggsynth.simulate.gaps.gap_stripes`).
    mask_source
        where the mask came from, in words.
    where
        the file (and key) read.
    masked
        bool (z, y, x), True on the file's other masked voxels (aliens, bad pixels): unmeasured, not
        to fill, left free in phasing.
    """

    intensity: np.ndarray
    mask: np.ndarray
    stripes: list
    mask_source: str
    where: str
    masked: np.ndarray

    def describe(self) -> str:
        """One line: the gaps (``a 6 px vertical gap at x = 120-125``), the voxels to fill, and the masked
        voxels left unfilled."""
        line = (f"{gaps.describe(self.stripes)} ({self.mask_source}), {int(self.mask.sum()):,} voxels to fill "
                f"({100 * self.mask.mean():.2f} %)")
        if self.masked.any():
            line += (f"; {int(self.masked.sum()):,} other masked voxels ({100 * self.masked.mean():.2f} %: aliens, "
                     f"bad pixels) left unfilled and free in phasing (--fill-masked fills them)")
        return line


def read_scan(path, *, key: str | None = None, mask_path=None, mask_key: str | None = None,
              detector: str | None = None, roi=None, require_gap: bool = True, fill_masked: bool = False) -> Scan:
    """Read a scan and the mask of its voxels to fill (sources in the module docstring).

    Parameters
    ----------
    path
        the scan (:func:`braggsynth.io.measured.read_raw` formats); ``key`` its dataset.
    mask_path
        a mask file; ``mask_key`` its dataset (or, without
        ``mask_path``, the scan file's dataset holding the mask).
    detector
        a detector preset with a frame layout (:data:`braggsynth.simulate.detector.PRESETS`).
    roi
        (row, column) of the scan's first pixel on the detector frame (default (0, 0)).
    require_gap
        a scan without any gap is an error (to fill); False returns it with an empty mask
        (``mask_source`` says so), as phasing takes it.
    fill_masked
        the scan file's masked voxels outside the gap stripes are to be filled too (module docstring).
    """
    data, file_mask, where = io.read_raw(path, key, None if mask_path is not None else mask_key)
    data = np.asarray(data)
    if data.dtype.kind not in "biuf":
        raise io.DataFileError(f"{where}: data of type {data.dtype} is not a real intensity")
    if data.ndim != 3:
        raise io.DataFileError(f"{where}: data has shape {data.shape}, expected a 3D rocking scan (z, y, x)")
    sentinel = gaps.sentinel_voxels(data)
    if sentinel.all():
        raise io.DataFileError(f"{where}: no measured voxel (every voxel is NaN, -1 or the type's largest value)")
    if mask_path is not None:
        mask = io.volume_mask(io.read_mask(mask_path, mask_key), data.shape, f"{mask_path}")
        source = f"mask from {mask_path}"
    elif detector is not None:
        origin = (0, 0) if roi is None else tuple(int(v) for v in roi)
        try:
            mask = detectors.frame_gaps(detector, origin, data.shape)
        except ValueError as error:
            raise io.DataFileError(f"{where}: {error}") from None
        source = f"{detector} gaps, region of interest at row {origin[0]}, column {origin[1]}"
    elif file_mask is not None:
        mask = io.volume_mask(file_mask, data.shape, where)
        source = "the file's mask"
    else:
        found = gaps.find_gaps(data)
        if not found.stripes and not require_gap:
            mask, source = np.zeros(data.shape, bool), "no gap given or found"
        elif not found.stripes:
            doubt = (f"; {gaps.describe(found.doubtful)} may be low counts" if found.doubtful else "")
            raise io.DataFileError(f"{where}: has no mask and no gap stripe of zeros, NaN or sentinels was found"
                                   f"{doubt}; give the gaps with --mask FILE or --detector NAME --roi Y0 X0")
        else:
            mask = found.mask
            source = "found in the data"
    mask = mask | sentinel
    intensity = np.where(mask, 0, data).astype(np.float32)
    masked = np.zeros(mask.shape, bool)
    if mask_path is None and not fill_masked:  # a file's own mask also masks aliens and bad pixels: not gaps
        in_stripes = np.zeros(mask.shape, bool)
        for axis, start, stop in gaps.gap_stripes(mask):
            in_stripes[tuple(slice(start, stop) if a == axis else slice(None) for a in range(3))] = True
        masked = mask & ~in_stripes
        mask = mask & in_stripes
    negative = intensity < 0
    if negative.any():
        raise io.DataFileError(f"{where}: {int(negative.sum())} voxels outside the gaps are negative (down to "
                               f"{float(intensity.min()):g}); photon counts are >= 0: mask them with --mask FILE")
    if (mask | masked).all():
        raise io.DataFileError(f"{where}: every voxel is in the gap mask ({source}); nothing to fill from")
    if not mask.any() and require_gap:
        masked_too = f" ({int(masked.sum()):,} masked voxels outside gap stripes: --fill-masked fills them)" \
            if masked.any() else ""
        raise io.DataFileError(f"{where}: the gap mask ({source}) is empty; nothing to fill{masked_too}")
    return Scan(intensity, mask, gaps.gap_stripes(mask), source, where, masked)


def same_file(first, second) -> bool:
    """Whether two paths name one file (the second may not exist yet)."""
    first, second = Path(first), Path(second)
    if second.exists():
        return first.exists() and first.samefile(second)
    return first.resolve() == second.resolve()
