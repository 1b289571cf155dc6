"""How a Bragg peak looks, in numbers that tell simulated from measured data.

Each statistic is measured on a cube of :data:`CROP_PX` voxels centred on the
brightest voxel (moved inside the array where the peak is near an edge), with
the voxels of the mask (gaps, bad pixels, aliens) left out:

- ``visibility_z``, ``_y``, ``_x``: first-fringe visibility
  (I_max - I_min) / (I_max + I_min) along each axis through the maximum, from
  the central maximum's first minimum to the next maximum, averaged over the
  two sides (profiles summed over the 3 x 3 lines around the axis, to tame the
  Poisson noise of one line). Perfect fringes give 1, washed-out ones 0;
- ``decay_exponent``: the slope of log shell-mean I(r) against log r over
  r = 4-24 voxels from the maximum (Porod's law gives -4 for sharp facets);
- ``max_counts``, ``total_counts``: the brightest voxel and the crop's photons;
- ``peak_volume``: total over maximum counts, voxels: how many voxels the crop's photons would fill at the
  maximum's level, about the oversampling's product over the three axes times the spread of the partial
  coherence: how concentrated the peak is, which sets how many voxels of a patch stay empty at a given flux;
- ``background``: median counts of the crop's corners (r > 28 voxels);
- ``oversampling_z``, ``_y``, ``_x``: 2 N / the extent of the crop's
  autocorrelation (the Patterson function, twice the crystal's extent) above
  3 % of its maximum along each axis, N = :data:`CROP_PX`: an estimate, 10-25 %
  above the nominal oversampling of a simulated pattern (which is measured on
  the atom centres), the same estimate for every file; ``size_z``, ``_y``, ``_x``: the crystal's
  extent in voxels of the whole file's real-space grid, n_axis / oversampling;
- ``plane_share``: the share of the crop's photons in a 6 px plane through the
  maximum (normal to y and normal to x, averaged): what a MAXIPIX gap there hides;
- ``gap_roughness``: mean ``|second difference of log(I + 1)|`` across a 6 px
  central plane, on the 5 voxels beside it on either side, within the central
  32^3 (normal to y and to x, averaged): how smooth what a fill starts from is.

Arrays are (z, y, x) = (rocking, detector rows, detector columns); counts in photons.
"""

from __future__ import annotations

import heapq

import numpy as np
from scipy.ndimage import gaussian_filter

#: Side of the cube around the maximum that every statistic looks at, voxels.
CROP_PX = 64
#: Width of the central plane of ``plane_share`` and ``gap_roughness``, pixels (MAXIPIX's gap).
PLANE_PX = 6
#: Names of the statistics of :func:`pattern_statistics`, in table order.
STATISTICS = ("visibility_z", "visibility_y", "visibility_x", "decay_exponent", "max_counts", "total_counts",
              "peak_volume", "background", "oversampling_z", "oversampling_y", "oversampling_x", "size_z", "size_y",
              "size_x", "plane_share", "gap_roughness")
#: Side of the discriminator's patches, voxels (the training patches').
PATCH_PX = 32
#: The band of the simulated distribution a measured value should fall in, percent.
BAND = (10.0, 90.0)


def crop_around_maximum(intensity, mask=None, size: int = CROP_PX):
    """The cube of side ``size`` around the brightest measured voxel: (crop, crop mask).

    The cube is :func:`braggsynth.report.evaluate.peak_window` around that voxel: moved inside the array where the
    maximum is within ``size // 2`` of an edge, an axis shorter than ``size`` taken whole.  ``mask`` (bool,
    True where not measured) is all False when None.
    """
    from braggsynth.report.evaluate import peak_window

    intensity = np.asarray(intensity, dtype=np.float64)
    mask = np.zeros(intensity.shape, bool) if mask is None else np.asarray(mask, dtype=bool)
    if intensity.ndim != 3 or mask.shape != intensity.shape:
        raise ValueError(f"intensity must be 3D (z, y, x) with a mask of its shape, got {intensity.shape} "
                         f"and {mask.shape}")
    if mask.all():
        raise ValueError("every voxel is masked: no statistic to measure")
    centre = np.unravel_index(int(np.argmax(np.where(mask, -np.inf, intensity))), intensity.shape)
    where = peak_window(intensity, size, centre)
    return intensity[where], mask[where]


def _first_fringe(profile: np.ndarray) -> float:
    """(I_max - I_min) / (I_max + I_min) of a profile that starts at the central maximum; NaN if none."""
    i = 0
    while i + 1 < len(profile) and profile[i + 1] <= profile[i]:
        i += 1
    j = i
    while j + 1 < len(profile) and profile[j + 1] >= profile[j]:
        j += 1
    if i == 0 or j == i or j + 1 >= len(profile) or not np.all(np.isfinite(profile[:j + 1])):
        return float("nan")  # no minimum, no maximum after it inside the crop, or a masked voxel on the way
    low, high = profile[i], profile[j]
    return float((high - low) / (high + low)) if high + low > 0 else float("nan")


def fringe_visibility(crop, crop_mask) -> np.ndarray:
    """First-fringe visibility along (z, y, x) through the crop's maximum (module docstring); NaN where none."""
    values = np.where(crop_mask, np.nan, crop)
    centre = np.unravel_index(int(np.nanargmax(values)), values.shape)
    visibility = np.full(3, np.nan)
    for axis in range(3):
        # the 3 x 3 bundle of lines along `axis` around the maximum, summed (NaN where any is masked)
        bundle = values
        for other in range(3):
            if other != axis:
                c = centre[other]
                bundle = np.take(bundle, range(max(c - 1, 0), min(c + 2, values.shape[other])), axis=other)
        line = np.moveaxis(bundle, axis, 0).reshape(values.shape[axis], -1).sum(axis=1)
        sides = [_first_fringe(line[centre[axis]:]), _first_fringe(line[centre[axis]::-1])]
        if np.any(np.isfinite(sides)):
            visibility[axis] = float(np.nanmean(sides))
    return visibility


def _radii(shape, centre) -> np.ndarray:
    grids = np.meshgrid(*[np.arange(n) - c for n, c in zip(shape, centre)], indexing="ij")
    return np.sqrt(sum(g.astype(np.float64) ** 2 for g in grids))


def decay_exponent(crop, crop_mask, radii=(4, 24)) -> float:
    """Slope of log(shell mean I) against log r over ``radii`` (voxels from the maximum); NaN if too few shells."""
    values = np.where(crop_mask, np.nan, crop)
    r = _radii(crop.shape, np.unravel_index(int(np.nanargmax(values)), crop.shape))
    shells = np.arange(radii[0], radii[1] + 1)
    index = np.rint(r).astype(int)
    keep = ~crop_mask & (index >= shells[0]) & (index <= shells[-1])
    sums = np.bincount(index[keep] - shells[0], crop[keep], minlength=len(shells))
    counts = np.bincount(index[keep] - shells[0], minlength=len(shells))
    good = (counts > 0) & (sums > 0)
    if good.sum() < 5:
        return float("nan")
    return float(np.polyfit(np.log(shells[good]), np.log(sums[good] / counts[good]), 1)[0])


def oversampling(crop, crop_mask, background: float = 0.0, threshold: float = 0.03) -> np.ndarray:
    """Oversampling per axis (z, y, x): 2 N / extent of the autocorrelation above ``threshold`` of its maximum.

    The autocorrelation is ``|inverse FFT|`` of the crop's intensity less ``background`` (masked voxels 0),
    smoothed by a Gaussian of 1 voxel; its extent is counted on the line through its centre along each axis.
    """
    signal = np.where(crop_mask, 0.0, np.maximum(crop - background, 0.0))
    patterson = np.abs(np.fft.fftshift(np.fft.ifftn(np.fft.ifftshift(signal))))
    patterson = gaussian_filter(patterson, 1.0)
    centre = tuple(n // 2 for n in patterson.shape)
    above = patterson >= threshold * patterson[centre]
    result = np.empty(3)
    for axis in range(3):
        line = above[tuple(slice(None) if a == axis else centre[a] for a in range(3))]
        result[axis] = 2 * len(line) / max(int(line.sum()), 1)
    return result


def _plane_slabs(shape, centre, axis: int, width: int = PLANE_PX, beside: int = 5, half: int = 16):
    """Index of the central plane normal to ``axis`` and of the ``beside`` voxels either side of it, within
    ``half`` voxels of the centre along the other axes: (plane slices, [left, right] slices)."""
    start = centre[axis] - width // 2

    def box(first, last):
        return tuple(slice(max(first, 0), max(last, 0)) if a == axis
                     else slice(max(centre[a] - half, 0), centre[a] + half) for a in range(3))

    return box(start, start + width), [box(start - beside, start), box(start + width, start + width + beside)]


def pattern_statistics(intensity, mask=None) -> dict:
    """Every statistic of :data:`STATISTICS` (module docstring) of one pattern: {name: float}.

    Parameters
    ----------
    intensity
        (z, y, x) counts, photons (a recording or a measured scan).
    mask
        bool (z, y, x), True where a voxel is not measured (left out), or None.
    """
    full_shape = np.shape(intensity)
    crop, crop_mask = crop_around_maximum(intensity, mask)
    measured = np.where(crop_mask, 0.0, crop)
    centre = np.unravel_index(int(np.argmax(np.where(crop_mask, -np.inf, crop))), crop.shape)
    r = _radii(crop.shape, centre)
    corners = ~crop_mask & (r > 28)
    background = float(np.median(crop[corners])) if corners.any() else float("nan")
    stats = dict(zip(("visibility_z", "visibility_y", "visibility_x"), fringe_visibility(crop, crop_mask)))
    stats["decay_exponent"] = decay_exponent(crop, crop_mask)
    stats["max_counts"] = float(measured.max())
    stats["total_counts"] = float(measured.sum())
    stats["peak_volume"] = stats["total_counts"] / stats["max_counts"] if stats["max_counts"] > 0 else float("nan")
    stats["background"] = background
    sampling = oversampling(crop, crop_mask, background if np.isfinite(background) else 0.0)
    stats.update(zip(("oversampling_z", "oversampling_y", "oversampling_x"), sampling))
    stats.update(zip(("size_z", "size_y", "size_x"), np.asarray(full_shape, float) / sampling))
    total = measured.sum()
    shares, roughness = [], []
    logged = np.log1p(measured)
    for axis in (1, 2):
        plane, sides = _plane_slabs(crop.shape, centre, axis)
        shares.append(measured[plane].sum() / total if total > 0 else np.nan)
        second = np.full(crop.shape, np.nan)  # centred second difference along `axis`, NaN beside a masked voxel
        inner = tuple(slice(1, -1) if a == axis else slice(None) for a in range(3))
        second[inner] = np.abs(np.diff(logged, n=2, axis=axis))
        second[crop_mask | np.roll(crop_mask, 1, axis) | np.roll(crop_mask, -1, axis)] = np.nan
        for side in sides:
            values = second[side]
            values = values[np.isfinite(values)]
            if values.size:
                roughness.append(values.mean())
    stats["plane_share"] = float(np.nanmean(shares))
    stats["gap_roughness"] = float(np.mean(roughness)) if roughness else float("nan")
    return {name: float(stats[name]) for name in STATISTICS}


def percentile_of(value: float, sample) -> float:
    """The percentile (0-100) of ``value`` in ``sample``, ties counted half (NaN entries left out)."""
    sample = np.asarray(sample, dtype=np.float64)
    sample = sample[np.isfinite(sample)]
    if not np.isfinite(value) or sample.size == 0:
        return float("nan")
    below, ties = float((sample < value).sum()), float((sample == value).sum())
    return 100.0 * (below + 0.5 * ties) / sample.size


def compare(simulated, measured: dict) -> list[dict]:
    """Each statistic of the simulated set beside each measured file's value and its percentile in the set.

    Parameters
    ----------
    simulated
        list of :func:`pattern_statistics` dicts, one per simulated recording.
    measured
        {name: :func:`pattern_statistics` dict} of the measured files.

    Returns
    -------
    list of dict
        One dict per statistic: ``statistic``, the simulated ``p10``, ``p50``, ``p90`` (NaNs left out),
        ``nan_share`` (the share of simulated patterns without a value), and for each measured ``name``:
        ``name`` (its value), ``name_percentile`` and ``name_inside`` (within :data:`BAND`).
    """
    rows = []
    for statistic in STATISTICS:
        values = np.array([one[statistic] for one in simulated], dtype=np.float64)
        finite = values[np.isfinite(values)]
        row = {"statistic": statistic, "nan_share": float(1 - finite.size / max(values.size, 1))}
        row.update(zip(("p10", "p50", "p90"), np.percentile(finite, (BAND[0], 50, BAND[1])) if finite.size
                       else (np.nan,) * 3))
        for name, stats in measured.items():
            percentile = percentile_of(stats[statistic], finite)
            row[name] = stats[statistic]
            row[f"{name}_percentile"] = percentile
            row[f"{name}_inside"] = bool(BAND[0] <= percentile <= BAND[1])
        rows.append(row)
    return rows


def assess(simulated, measured, *, seed: int, patches_per_recording: int = 16, patches_per_file: int = 200,
           held_back_share: float = 0.3, stand_ins: int = 8, progress=None) -> dict:
    """The realism of a simulated set against measured files: statistics and the discriminator.

    Parameters
    ----------
    simulated
        iterable of (name, counts, masked) per recording: counts (z, y, x) and the voxels a
        preprocessing masked, bool (bad pixels, aliens).  The gaps are not masked: a measured file's
        statistics come from a crop around its maximum, which its gaps seldom cross, and a gap plane
        through the crop would distort the autocorrelation (the oversampling) of the simulated ones.
    measured
        iterable of (name, intensity, mask or None) per measured file.
    seed
        the draws (which recordings are held back, the patches) come from
        :func:`braggsynth.seeds.rng` of (seed, "realism", ...).
    patches_per_recording, patches_per_file
        patches a simulated recording and a measured file's half give
        the discriminator (:mod:`braggsynth.report.discriminator`); a recording's come from one half of
        its rocking axis, drawn at random, as a measured file's come from one of its halves (from the whole
        recording where a half is thinner than a patch).
    held_back_share
        the share of the recordings whose patches are held back (one every 1/share recordings, from a
        random start, so that they stream through one at a time); a measured file's patches are fitted on its
        fit half and held back on its scoring half (:mod:`braggsynth.data.measured`).
    stand_ins
        recordings at a measured file's flux, drawn at random, that each stand in for the file in turn: their
        patches cut from their own halves, as many as the file's, against the other recordings at that flux.
        One particle's patches share its shape, size and fringes, so a classifier tells any one recording
        from the rest better than chance; the stand-ins' accuracies say how much better (the null), and the
        file's accuracy is judged against them, not against 0.5.
    progress
        optional callable wrapping an iterable (a progress bar).

    Returns
    -------
    dict
        ``rows`` (:func:`compare`), ``measured`` ({name: statistics}), ``simulated`` (list of
        statistics), ``discriminator`` (:func:`braggsynth.report.discriminator.held_back_accuracy` on every
        recording and measured file, or None without a measured file or a patch), ``at_flux`` ({name: {``recordings``:
        how many are within :data:`braggsynth.report.discriminator.FLUX_FACTOR` of that file's maximum,
        ``accuracy``: the same classifier fitted and scored on those recordings and that file only,
        ``at_offsets``: the same again with the recordings' patches cut where the file's were drawn
        (:func:`braggsynth.report.discriminator.features_at_offsets`: a fit recording at the offsets of the
        file's fit half, a held-back one at its scoring half's); None where a side has no patch;
        ``stand_ins``: the balanced accuracies, ascending, of the same classifier with each stand-in recording
        in the file's place (empty where none has patches in both halves)}), ``separation``
        (:func:`braggsynth.report.discriminator.feature_separation` of every patch, pooled, or None) and
        ``recordings`` (their number).
    """
    from braggsynth import seeds
    from braggsynth.data import measured as measured_regions
    from braggsynth.report import discriminator

    wrap = progress or (lambda items: items)
    empty = np.empty((0, len(discriminator.FEATURES)))
    measured_statistics, measured_patches = {}, {}

    def halves(intensity, masked, counts, key):
        """(features, offsets from the maximum) of the fit half's ``counts[0]`` patches, then the scoring
        half's ``counts[1]``, as a measured file's patches are drawn."""
        masked = np.zeros(np.shape(intensity), bool) if masked is None else np.asarray(masked, bool)
        fit_half = measured_regions.fit_region(np.shape(intensity))
        return [discriminator.sample_patches(intensity, seeds.rng(seed, "realism", *key, held), count,
                                             excluded=masked | outside, size=PATCH_PX)
                for held, (outside, count) in enumerate(zip((~fit_half, fit_half), counts))]

    for name, intensity, mask in measured:
        measured_statistics[name] = pattern_statistics(intensity, mask)
        measured_patches[name] = halves(intensity, mask, (patches_per_file, patches_per_file), ("measured", name))
    # every 1/held_back_share-th recording, from a random phase, is held back: they stream through, one in memory
    held_back, phase = [], seeds.rng(seed, "realism", "held back").random()
    simulated_statistics, features = [], []
    at_offsets = {name: ([], []) for name in measured_patches}  # per file: patches of fit, held-back recordings
    # per file, a max-heap of the stand-ins drawn so far: the recordings at its flux with the `stand_ins` smallest
    # uniform draws (-draw, index, halves' features); a recording's patches are cut only while it is among them
    drawn = {name: [] for name in measured_patches}
    for index, (name, counts, masked) in enumerate(wrap(simulated)):
        statistics = pattern_statistics(counts, masked)
        simulated_statistics.append(statistics)
        # from one half of the rocking axis, as a measured file's patches are (its halves split at its peak),
        # where a half holds a patch
        half = measured_regions.fit_region(np.shape(counts))
        rng = seeds.rng(seed, "realism", "simulated", name)
        outside = half if rng.random() < 0.5 else ~half
        if np.shape(counts)[0] // 2 < PATCH_PX:
            outside = np.zeros(np.shape(counts), bool)
        features.append(discriminator.sample_features(counts, rng, patches_per_recording, excluded=masked | outside,
                                                      size=PATCH_PX))
        held = int(np.floor((index + 1) * held_back_share + phase) - np.floor(index * held_back_share + phase))
        held_back.append(bool(held))
        for file, file_halves in measured_patches.items():
            if not discriminator.flux_band([statistics["max_counts"]], measured_statistics[file]["max_counts"])[0]:
                continue
            at_offsets[file][held].append(discriminator.features_at_offsets(
                counts, file_halves[held][1], seeds.rng(seed, "realism", "at offsets", name, file),
                patches_per_recording, excluded=masked, size=PATCH_PX))
            draw, heap = seeds.rng(seed, "realism", "stand-in", name, file).random(), drawn[file]
            if stand_ins and (len(heap) < stand_ins or draw < -heap[0][0]):
                entry = (-draw, index, [patches for patches, _ in halves(
                    counts, masked, [len(patches) for patches, _ in file_halves], ("stand-in", name, file))])
                (heapq.heappush if len(heap) < stand_ins else heapq.heapreplace)(heap, entry)

    def pooled(chosen):
        return [np.concatenate([f for f, keep in zip(features, chosen & wanted) if keep] or [empty])
                for wanted in (~held_back, held_back)]

    def accuracy(simulated_fit, measured_fit, simulated_held, measured_held):
        if min(len(simulated_fit), len(measured_fit), len(simulated_held), len(measured_held)) == 0:
            return None
        return discriminator.held_back_accuracy(simulated_fit, measured_fit, simulated_held, measured_held,
                                                seed=seed)

    held_back = np.array(held_back, bool)
    found, per_file, separation = None, {}, None
    if measured_statistics:
        simulated_fit, simulated_held = pooled(np.ones(len(held_back), bool))
        found = accuracy(simulated_fit, np.concatenate([halves[0][0] for halves in measured_patches.values()]),
                         simulated_held, np.concatenate([halves[1][0] for halves in measured_patches.values()]))
        separation = discriminator.feature_separation(
            np.concatenate([simulated_fit, simulated_held]),
            np.concatenate([halves[k][0] for halves in measured_patches.values() for k in (0, 1)]))
        maxima = np.array([stats["max_counts"] for stats in simulated_statistics])
        for name, ((fit_half, _), (held_half, _)) in measured_patches.items():
            band = discriminator.flux_band(maxima, measured_statistics[name]["max_counts"])
            band_fit, band_held = pooled(band)
            matched_fit, matched_held = (np.concatenate(patches or [empty]) for patches in at_offsets[name])
            null = []
            for _, index, (stand_in_fit, stand_in_held) in drawn[name]:
                others = band.copy()
                others[index] = False
                others_fit, others_held = pooled(others)
                guess = accuracy(others_fit, stand_in_fit, others_held, stand_in_held)
                if guess is not None:
                    null.append(guess["balanced_accuracy"])
            per_file[name] = {"recordings": int(band.sum()),
                              "accuracy": accuracy(band_fit, fit_half, band_held, held_half),
                              "at_offsets": accuracy(matched_fit, fit_half, matched_held, held_half),
                              "stand_ins": sorted(null)}
    return {"rows": compare(simulated_statistics, measured_statistics), "measured": measured_statistics,
            "simulated": simulated_statistics, "discriminator": found, "at_flux": per_file,
            "separation": separation, "recordings": len(held_back)}


def _number(value: float) -> str:
    if not np.isfinite(value):
        return "-"
    return f"{value:.3g}" if abs(value) < 1e4 else f"{value:.2e}"


def report_markdown(found: dict) -> str:
    """The table of :func:`assess` (statistic, simulated 10/50/90 %, each measured value and its percentile,
    marked * outside the band) and the discriminator's accuracy, as Markdown."""
    names = list(found["measured"])
    lines = [f"# Realism: {found['recordings']} simulated recordings against {len(names)} measured file(s)", "",
             f"Each measured value with its percentile in the simulated distribution; * outside the "
             f"{BAND[0]:.0f}-{BAND[1]:.0f} % band. Statistics of the {CROP_PX}^3 cube around each maximum "
             f"(braggsynth.report.realism).", "",
             "| statistic | simulated 10 % | 50 % | 90 % | " + " | ".join(names) + " |",
             "|---|---:|---:|---:|" + "---:|" * len(names)]
    for row in found["rows"]:
        cells = [f"{_number(row[name])} ({row[f'{name}_percentile']:.0f} %){'' if row[f'{name}_inside'] else ' *'}"
                 if np.isfinite(row[f"{name}_percentile"]) else "-" for name in names]
        lines.append(f"| {row['statistic']} | {_number(row['p10'])} | {_number(row['p50'])} | {_number(row['p90'])} | "
                     + " | ".join(cells) + " |")
    inside = {name: sum(row[f"{name}_inside"] for row in found["rows"]) for name in names}
    lines += ["", "Inside the band: " + ", ".join(f"{name} {count} of {len(found['rows'])}"
                                                  for name, count in inside.items()) + "."]
    guess = found["discriminator"]
    if guess is not None:
        lines += ["", f"**Discriminator** (braggsynth.report.discriminator, fitted on "
                  f"{guess['fit']['simulated']} simulated and {guess['fit']['measured']} measured patches): "
                  f"balanced accuracy **{guess['balanced_accuracy']:.3f}** on {guess['held']['simulated']} "
                  f"simulated patches of held-back "
                  f"recordings and {guess['held']['measured']} measured patches of the measured files' scoring "
                  f"halves (simulated named right {guess['simulated_recall']:.3f}, measured "
                  f"{guess['measured_recall']:.3f}); 0.5 is indistinguishable."]
    lines += _at_flux_markdown(found.get("at_flux") or {}, found["measured"])
    lines += _separation_markdown(found.get("separation"))
    return "\n".join(lines) + "\n"


def _at_flux_markdown(at_flux: dict, measured: dict) -> list[str]:
    """The table of the discriminator per measured file at its own flux (:func:`assess`'s ``at_flux``)."""
    from braggsynth.report.discriminator import FLUX_FACTOR

    if not at_flux:
        return []
    lines = ["", f"The same classifier per measured file, against only the recordings whose maximum is within "
             f"{FLUX_FACTOR:g}x of the file's (a pooled classifier can tell a file by its flux alone):", "",
             "| measured file | maximum (photons) | recordings at its flux | balanced accuracy (simulated, "
             "measured named right) | the same, patches where the file's lie | a recording in the file's place: "
             "median (range, stand-ins); the file's percentile |", "|---|---:|---:|---:|---:|---:|"]

    def cell(guess):
        return (f"**{guess['balanced_accuracy']:.3f}** ({guess['simulated_recall']:.2f}, "
                f"{guess['measured_recall']:.2f})" if guess else "- (too few patches)")

    def null(entry):
        accuracies = entry.get("stand_ins") or []
        if not accuracies:
            return "-"
        cell = f"{np.median(accuracies):.3f} ({min(accuracies):.3f}-{max(accuracies):.3f}, {len(accuracies)})"
        if entry["accuracy"]:
            cell += f"; the file at {percentile_of(entry['accuracy']['balanced_accuracy'], accuracies):.0f} %"
        return cell

    for name, entry in at_flux.items():
        lines.append(f"| {name} | {_number(measured[name]['max_counts'])} | {entry['recordings']} | "
                     f"{cell(entry['accuracy'])} | {cell(entry.get('at_offsets'))} | "
                     f"{null(entry)} |")
    lines += ["", "The fifth column cuts each recording's patches at the offsets from its maximum where the "
              "file's patches were drawn (its masks and halves decide where those can lie): it judges what a "
              "patch holds, not where it lies. The last puts simulated recordings at the file's flux in its place, "
              "one at a time, patches cut from their own halves: one particle's patches share its shape and "
              "fringes, so even a recording of the recipe is told from the others this well. A file whose "
              "accuracy lies inside that range is as alike to the recipe as one of its own recordings; one above "
              "it (100 %) is not."]
    return lines


def _separation_markdown(separation) -> list[str]:
    """The table of :func:`braggsynth.report.discriminator.feature_separation`: what tells the kinds apart."""
    if not separation:
        return []
    lines = ["", "What tells them apart: each patch feature alone (braggsynth.report.discriminator), area under "
             "its ROC curve (0.5: nothing, 1: always), every patch pooled:", "",
             "| feature | AUC | simulated median | measured median |", "|---|---:|---:|---:|"]
    lines += [f"| {row['feature']} | {row['auc']:.2f} | {_number(row['simulated_median'])} | "
              f"{_number(row['measured_median'])} |" for row in separation]
    return lines
