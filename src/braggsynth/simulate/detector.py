"""From a Bragg-peak intensity to what a pixel detector records: photon counts with gaps.

A detector is modelled by what matters for gap inpainting: the width of the
insensitive stripes between its chips (or modules) in each direction.  In a
rocking scan every frame has the same stripes, so in the 3D stack
(z, y, x) = (rocking, detector rows, detector columns) a gap is a plane
through all z:

- a *horizontal* gap is a band of detector rows, a plane normal to y;
- a *vertical* gap is a band of detector columns, a plane normal to x;
- a *cross* is both.

Recording follows what a measured scan goes through (:func:`simulate_detector`):
the beam's partial coherence spreads the intensity in 3D
(:mod:`braggsynth.simulate.coherence`); each pixel counts what falls on its area, and
a frame of a continuous scan what its share of the rocking step sweeps
(:mod:`braggsynth.simulate.sampling`); it is scaled to a chosen maximum number of
photons; the detector's own point spread blurs it in the detector plane; a
flat and a smooth background and the odd alien (the Bragg peak of another
grain, a bright blob) add photons; Poisson counts are drawn; then the
preprocessing masks, as bcdi and a user's hand do, the bad pixels (dead or
hot: lines through every frame) and the aliens' cores, and the gaps.
Units: photons and pixels.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.ndimage import gaussian_filter

from braggsynth.simulate import coherence as coherence_
from braggsynth.simulate import sampling

#: Orientations of a recording's gap (a band of columns, a band of rows, or both).
ORIENTATIONS = ("vertical", "horizontal", "cross")


@dataclass(frozen=True)
class Detector:
    """Gap geometry of a pixel detector.

    Attributes
    ----------
    name : str
    horizontal_gap_px
        int, width in pixels of a horizontal gap (a band of
        detector rows, normal to y).
    vertical_gap_px
        int, width in pixels of a vertical gap (a band of
        detector columns, normal to x).
    chip_px
        (rows, columns), pixels of the sensitive tile (chip or module)
        between two gaps, along y and along x.
    frame_px
        (rows, columns) of the whole detector frame, or None for a
        detector known by its gap widths only.
    row_gaps, column_gaps
        [start, stop) pixel ranges of the gaps in the
        frame: bands of rows (horizontal gaps) and bands of columns (vertical
        gaps); empty without ``frame_px``.
    """

    name: str
    horizontal_gap_px: int
    vertical_gap_px: int
    chip_px: tuple[int, int]
    frame_px: tuple[int, int] | None = None
    row_gaps: tuple[tuple[int, int], ...] = ()
    column_gaps: tuple[tuple[int, int], ...] = ()

    def gap_width_px(self, orientation: str) -> int:
        """Width of a gap of ``orientation`` ("horizontal" or "vertical")."""
        if orientation == "horizontal":
            return self.horizontal_gap_px
        if orientation == "vertical":
            return self.vertical_gap_px
        raise ValueError(f"orientation {orientation!r} has no single width; expected 'horizontal' or 'vertical'")


#: Detector presets.
#:
#: - ``maxipix`` (ESRF): 2 x 2 chips of 256 x 256 px, 6 px between chips in both
#:   directions: a 516 x 516 frame whose rows and columns 255:261 are gap (the
#:   mask of bcdi).
#: - ``eiger`` (Dectris EIGER, for simulation): 38 px between module rows, 12 px
#:   between module columns, the widths bcdi and cdiutils mask; no frame layout.
#: - ``eiger4m``: 4 x 2 modules of 514 rows x 1030 columns in a 2167 x 2070
#:   frame; gaps as bcdi masks them: rows 513:552, 1064:1103, 1615:1654
#:   (39 px), columns 1029:1041 (12 px).
#: - ``eiger2m``: the 2164 x 1030 EIGER of bcdi's ``Eiger2M`` (PETRA III P10):
#:   module gaps of 41 px (rows 511:552, 1061:1102, 1611:1652), chip gaps of
#:   4-5 px (rows 255:259, 804:809, 1355:1359, 1905:1909; columns 255:259,
#:   513:517, 771:775).
#:
#: The wide gaps are bands of rows (horizontal, normal to y), the narrow ones
#: bands of columns.  Frame borders and single defective pixels, which bcdi
#: also masks, are left to the user's own mask.
PRESETS = {
    "maxipix": Detector("maxipix", horizontal_gap_px=6, vertical_gap_px=6, chip_px=(256, 256), frame_px=(516, 516),
                        row_gaps=((255, 261),), column_gaps=((255, 261),)),
    "eiger": Detector("eiger", horizontal_gap_px=38, vertical_gap_px=12, chip_px=(514, 1030)),
    "eiger4m": Detector("eiger4m", horizontal_gap_px=39, vertical_gap_px=12, chip_px=(514, 1030),
                        frame_px=(2167, 2070), row_gaps=((513, 552), (1064, 1103), (1615, 1654)),
                        column_gaps=((1029, 1041),)),
    "eiger2m": Detector("eiger2m", horizontal_gap_px=41, vertical_gap_px=4, chip_px=(256, 256),
                        frame_px=(2164, 1030),
                        row_gaps=((255, 259), (511, 552), (804, 809), (1061, 1102), (1355, 1359), (1611, 1652),
                                  (1905, 1909)),
                        column_gaps=((255, 259), (513, 517), (771, 775))),
}


def detector_model(name_or_dict) -> Detector:
    """A detector preset by name, or a custom detector from a mapping.

    Parameters
    ----------
    name_or_dict : str or dict or Detector
        A preset name (see :data:`PRESETS`), or a mapping with
        ``horizontal_gap_px`` and ``vertical_gap_px`` (pixels), optional
        ``chip_px`` (int or (rows, columns); default 256) and ``name``
        (default "custom").
    """
    if isinstance(name_or_dict, Detector):
        return name_or_dict
    if isinstance(name_or_dict, str):
        try:
            return PRESETS[name_or_dict.lower()]
        except KeyError:
            raise ValueError(
                f"unknown detector {name_or_dict!r}; expected one of {', '.join(PRESETS)} or a mapping of gap widths"
            ) from None
    if not isinstance(name_or_dict, dict):
        raise ValueError(f"detector must be a preset name or a mapping, got {type(name_or_dict).__name__}")
    unknown = set(name_or_dict) - {"name", "horizontal_gap_px", "vertical_gap_px", "chip_px"}
    if unknown:
        raise ValueError(f"detector mapping has unknown keys {sorted(unknown)}")
    widths = {}
    for key in ("horizontal_gap_px", "vertical_gap_px"):
        if key not in name_or_dict:
            raise ValueError(f"detector mapping lacks {key!r}")
        value = name_or_dict[key]
        if int(value) != value or value < 0:
            raise ValueError(f"detector {key} must be a non-negative integer, got {value!r}")
        widths[key] = int(value)
    chip = np.broadcast_to(np.asarray(name_or_dict.get("chip_px", 256)), (2,))
    if np.any(chip <= 0) or np.any(chip != np.round(chip)):
        raise ValueError(f"detector chip_px must be positive integers, got {name_or_dict.get('chip_px')!r}")
    return Detector(str(name_or_dict.get("name", "custom")), chip_px=(int(chip[0]), int(chip[1])), **widths)


def detector_models(spec) -> tuple[Detector, ...]:
    """The detectors of a config's ``detector.model``: one preset name or mapping, or a list of them.

    A list makes every recording draw one of its detectors (:func:`draw_detector`), so that one
    training set holds the gap layouts of several beamlines (MAXIPIX's 6 px and EIGER's 12 and 38 px).
    """
    specs = spec if isinstance(spec, (list, tuple)) else [spec]
    if not specs:
        raise ValueError("a list of detectors needs at least one")
    return tuple(detector_model(one) for one in specs)


def draw_detector(detectors, rng: np.random.Generator) -> Detector:
    """One of ``detectors`` (from :func:`detector_models`), each equally likely; a single one draws nothing."""
    if len(detectors) == 1:
        return detectors[0]
    return detectors[int(rng.integers(len(detectors)))]


def frame_gaps(detector, roi_origin, shape) -> np.ndarray:
    """Boolean (z, y, x) mask of the detector's gaps seen by a region of interest of its frame.

    Parameters
    ----------
    detector
        a preset name or Detector with a frame layout (``frame_px``).
    roi_origin
        (row, column) of the region's first pixel on the detector frame.
    shape
        (n_z, n_y, n_x) of the recorded stack (y, x: the region's rows and columns).

    Raises
    ------
    ValueError
        When the detector has no frame layout or the region
        does not lie inside the frame.
    """
    detector = detector_model(detector)
    if detector.frame_px is None:
        with_layout = ", ".join(name for name, preset in PRESETS.items() if preset.frame_px is not None)
        raise ValueError(f"detector {detector.name!r} has no frame layout; use one of {with_layout}")
    n_z, n_y, n_x = (int(n) for n in shape)
    row, column = (int(p) for p in roi_origin)
    rows, columns = detector.frame_px
    if row < 0 or column < 0 or row + n_y > rows or column + n_x > columns:
        raise ValueError(f"a region of {n_y} x {n_x} px at row {row}, column {column} does not fit in the "
                         f"{rows} x {columns} px frame of {detector.name}")
    frame = np.zeros((rows, columns), dtype=bool)
    for start, stop in detector.row_gaps:
        frame[start:stop, :] = True
    for start, stop in detector.column_gaps:
        frame[:, start:stop] = True
    return np.broadcast_to(frame[row:row + n_y, column:column + n_x], (n_z, n_y, n_x)).copy()


def gap_planes(shape, orientation: str, position, width_px) -> np.ndarray:
    """Boolean (z, y, x) mask of gap planes through the whole stack.

    Parameters
    ----------
    shape
        (n_z, n_y, n_x)
    orientation
        "vertical", "horizontal" or "cross".
    position
        (row, column) pixel the band is centred on: the horizontal
        band is centred on ``row``, the vertical band on ``column``.  A band of
        width w centred on p covers [p - w // 2, p - w // 2 + w), clipped to
        the array.
    width_px
        (horizontal, vertical) band widths in pixels, or one int for
        both.
    """
    if orientation not in ORIENTATIONS:
        raise ValueError(f"gap orientation {orientation!r} is not one of {', '.join(ORIENTATIONS)}")
    shape = tuple(int(n) for n in shape)
    if len(shape) != 3:
        raise ValueError(f"shape must be (n_z, n_y, n_x), got {shape}")
    row, column = (int(p) for p in position)
    horizontal_px, vertical_px = (int(w) for w in np.broadcast_to(np.asarray(width_px), (2,)))
    mask = np.zeros(shape, dtype=bool)
    if orientation in ("horizontal", "cross"):
        start = row - horizontal_px // 2
        mask[:, max(start, 0):max(start + horizontal_px, 0), :] = True
    if orientation in ("vertical", "cross"):
        start = column - vertical_px // 2
        mask[:, :, max(start, 0):max(start + vertical_px, 0)] = True
    return mask


def gap_mask(shape, detector, orientation: str, centre=None, offset_px=(0, 0)) -> np.ndarray:
    """Boolean (z, y, x) mask, True in the detector gap(s).

    Parameters
    ----------
    shape
        (n_z, n_y, n_x)
    detector
        Detector, preset name or mapping (see :func:`detector_model`);
        gives the band widths.
    orientation
        "vertical" (band of columns, normal to x), "horizontal"
        (band of rows, normal to y) or "cross" (both).
    centre
        (row, column) pixel of reference, default the frame centre
        (n_y // 2, n_x // 2), where a simulated Bragg peak sits.
    offset_px
        (rows, columns) shift of the gap from ``centre``.
    """
    detector = detector_model(detector)
    if centre is None:
        centre = (int(shape[1]) // 2, int(shape[2]) // 2)
    position = np.asarray(centre, dtype=int) + np.asarray(offset_px, dtype=int)
    return gap_planes(shape, orientation, position, (detector.horizontal_gap_px, detector.vertical_gap_px))


def expected_counts(intensity, max_counts: float, background=0.0, blur_sigma_px: float = 0.0, *,
                    coherence_sigma_px=0.0, lorentzian_fraction: float = 0.0, integration_px=0.0,
                    workers: int | None = None) -> np.ndarray:
    """Expected photon counts per voxel, float64 (z, y, x).

    The intensity is spread by the beam's partial coherence (:func:`braggsynth.simulate.coherence.partial_coherence`
    with ``coherence_sigma_px`` per axis and ``lorentzian_fraction``; none by default), averaged over the box
    each voxel integrates (:func:`braggsynth.simulate.sampling.box_average`, ``integration_px`` voxels along
    (z, y, x); none by default), scaled so that its maximum is ``max_counts`` photons, blurred by the detector's
    Gaussian point spread of ``blur_sigma_px`` pixels in the detector plane (y, x; never along the rocking axis
    z), then ``background`` (photons per voxel: a number, or a (z, y, x) array such as
    :func:`smooth_background_field`) is added.
    """
    intensity = np.asarray(intensity, dtype=np.float64)
    if intensity.ndim != 3:
        raise ValueError(f"intensity must be 3D (z, y, x), got shape {intensity.shape}")
    peak = float(intensity.max())
    if not np.isfinite(peak) or peak <= 0 or intensity.min() < 0:
        raise ValueError(f"intensity must be finite, non-negative and not all zero (max {peak}, min {intensity.min()})")
    background = np.asarray(background, dtype=np.float64)
    if max_counts <= 0 or np.any(background < 0) or blur_sigma_px < 0:
        raise ValueError(f"max_counts must be > 0, background and blur_sigma_px >= 0 (got {max_counts}, "
                         f"{background.min() if background.size else background}, {blur_sigma_px})")
    spread = coherence_.partial_coherence(intensity, coherence_sigma_px, lorentzian_fraction, workers=workers)
    spread = sampling.box_average(spread, integration_px, workers=workers)
    expected = spread * (float(max_counts) / float(spread.max()))
    if blur_sigma_px > 0:
        expected = gaussian_filter(expected, sigma=(0.0, blur_sigma_px, blur_sigma_px), mode="constant")
    return expected + background


def poisson_counts(expected, rng: np.random.Generator) -> np.ndarray:
    """Poisson photon counts (int32) of the expected counts ``expected`` (any shape)."""
    expected = np.asarray(expected, dtype=np.float64)
    if expected.size and expected.max() > 2.0e9:
        raise ValueError(f"expected counts up to {expected.max():.3g} overflow int32 counts; lower max_counts")
    return rng.poisson(expected).astype(np.int32)


#: Correlation length of :func:`smooth_background_field`, in units of the array's smallest side.
SMOOTH_BACKGROUND_LENGTH = 1 / 8


def smooth_background_field(shape, rng: np.random.Generator, mean_photons: float) -> np.ndarray:
    """A smooth random background, float64 (z, y, x), of mean ``mean_photons`` photons per voxel.

    It is exp of a Gaussian random field (white noise smoothed by a Gaussian of
    :data:`SMOOTH_BACKGROUND_LENGTH` times the smallest side, scaled to a standard deviation of 0.5):
    positive, varying by a factor of about 3 over the box, as diffuse scattering and air scattering do.
    """
    shape = tuple(int(n) for n in shape)
    if mean_photons < 0:
        raise ValueError(f"mean_photons must be >= 0, got {mean_photons}")
    if mean_photons == 0:
        return np.zeros(shape)  # draws nothing
    field = gaussian_filter(rng.standard_normal(shape), SMOOTH_BACKGROUND_LENGTH * min(shape), mode="wrap")
    field = np.exp(0.5 * field / (field.std() or 1.0))
    return field * (float(mean_photons) / field.mean())


@dataclass(frozen=True)
class Alien:
    """A bright blob of another grain's Bragg peak (or a streak's core) in a scan.

    Attributes
    ----------
    centre
        (z, y, x) voxel.
    sigma_px
        Gaussian width, pixels.
    peak_counts
        photons at its centre.
    """

    centre: tuple[int, int, int]
    sigma_px: float
    peak_counts: float


#: The hand-drawn mask of an alien covers where it adds at least this many photons a voxel.
ALIEN_MASK_PHOTONS = 1.0


def draw_aliens(shape, rng: np.random.Generator, count_range=(0, 0), max_counts: float = 1.0,
                min_distance_px: float = 16.0) -> tuple[Alien, ...]:
    """Draw a recording's aliens: their number uniform in ``count_range`` (inclusive); each centred at
    least ``min_distance_px`` from the array's centre (where the peak is; at most 0.8 of the distance to a
    corner, for small arrays), sigma 1-3 px, peak photons log-uniform between 0.01 and 1 times ``max_counts``."""
    first, last = (int(v) for v in count_range)
    if not 0 <= first <= last:
        raise ValueError(f"aliens must be a range 0 <= low <= high, got {tuple(count_range)}")
    shape = np.asarray(shape, dtype=int)
    min_distance_px = min(float(min_distance_px), 0.8 * float(np.linalg.norm(shape // 2)))
    aliens = []
    for _ in range(int(rng.integers(first, last, endpoint=True))):
        while True:
            centre = rng.integers(0, shape)
            if np.linalg.norm(centre - shape // 2) >= min_distance_px:
                break
        aliens.append(Alien(tuple(int(c) for c in centre), float(rng.uniform(1.0, 3.0)),
                            float(max_counts * np.exp(rng.uniform(np.log(0.01), 0.0)))))
    return tuple(aliens)


def alien_counts(shape, aliens) -> np.ndarray:
    """Expected photons (z, y, x) of ``aliens`` (:class:`Alien`), Gaussian blobs, float64."""
    counts = np.zeros(tuple(int(n) for n in shape))
    for alien in aliens:
        axes = [np.exp(-0.5 * ((np.arange(n) - c) / alien.sigma_px) ** 2) for n, c in zip(counts.shape, alien.centre)]
        counts += alien.peak_counts * axes[0][:, None, None] * axes[1][None, :, None] * axes[2][None, None, :]
    return counts


def draw_bad_pixels(frame_shape, rng: np.random.Generator, fraction: float) -> np.ndarray:
    """Bool (y, x) map of a detector's bad (dead or hot) pixels: each pixel bad with probability ``fraction``."""
    if not 0 <= fraction < 1:
        raise ValueError(f"bad_pixel_fraction must be in [0, 1), got {fraction}")
    return rng.random(tuple(int(n) for n in frame_shape)) < fraction


@dataclass(frozen=True)
class DetectorGeometry:
    """Random draws of one detector simulation (kept for provenance).

    Attributes
    ----------
    max_counts
        float, photons in the brightest voxel before noise.
    orientation
        "vertical", "horizontal" or "cross".
    offset_px
        (rows, columns) shift of the gap from the frame centre.
    """

    max_counts: float
    orientation: str
    offset_px: tuple[int, int]


def draw_detector_geometry(
    rng: np.random.Generator,
    *,
    max_counts_range=(1.0e4, 1.0e7),
    orientation_probabilities=None,
    offset_range_px=(-8, 8),
) -> DetectorGeometry:
    """Draw the flux and gap placement of one simulated measurement.

    Parameters
    ----------
    rng
        numpy Generator.
    max_counts_range
        (low, high) photons; ``max_counts`` is log-uniform in it.
    orientation_probabilities
        mapping orientation -> probability, default
        {"vertical": 0.4, "horizontal": 0.4, "cross": 0.2}; normalised to sum 1.
    offset_range_px
        (low, high) pixels, inclusive; the row and column
        offsets of the gap from the frame centre are drawn uniformly and
        independently in it.
    """
    low, high = (float(v) for v in max_counts_range)
    if not 0 < low <= high:
        raise ValueError(f"max_counts_range must satisfy 0 < low <= high, got {tuple(max_counts_range)}")
    probabilities = dict(orientation_probabilities or {"vertical": 0.4, "horizontal": 0.4, "cross": 0.2})
    unknown = set(probabilities) - set(ORIENTATIONS)
    weights = np.array([float(probabilities.get(o, 0.0)) for o in ORIENTATIONS])
    if unknown or np.any(weights < 0) or weights.sum() <= 0:
        raise ValueError(f"orientation_probabilities must map {', '.join(ORIENTATIONS)} to weights >= 0, "
                         f"got {probabilities}")
    first, last = (int(v) for v in offset_range_px)
    if first > last:
        raise ValueError(f"offset_range_px must satisfy low <= high, got {tuple(offset_range_px)}")
    max_counts = float(np.exp(rng.uniform(np.log(low), np.log(high))))
    orientation = ORIENTATIONS[rng.choice(len(ORIENTATIONS), p=weights / weights.sum())]
    offset = rng.integers(first, last, size=2, endpoint=True)
    return DetectorGeometry(max_counts, orientation, (int(offset[0]), int(offset[1])))


@dataclass(frozen=True)
class Response:
    """What a recording drew of the beam and the detector besides its geometry (kept for provenance).

    Attributes
    ----------
    coherence
        :class:`braggsynth.simulate.coherence.Coherence`, the PSF of partial coherence.
    integration
        :class:`braggsynth.simulate.sampling.Integration`, the box each voxel integrates.
    background
        flat background, photons per voxel.
    smooth_background
        mean of the smooth background, photons per voxel.
    aliens
        tuple of :class:`Alien`.
    bad_pixels
        number of bad detector pixels (each a line through every frame).
    """

    coherence: coherence_.Coherence
    integration: sampling.Integration
    background: float
    smooth_background: float
    aliens: tuple[Alien, ...]
    bad_pixels: int


@dataclass(frozen=True, eq=False)
class DetectorSimulation:
    """A simulated measurement.

    Attributes
    ----------
    counts
        int32 (z, y, x), Poisson counts everywhere (ground truth).
    expected
        float64 (z, y, x), the expected counts the Poisson draw was
        made from (the noise-free intensity in photons).
    gapped
        int32 (z, y, x), ``counts`` with the gap and bad voxels set to 0, as the user's file holds it.
    mask
        bool (z, y, x), True in the gap.
    bad
        bool (z, y, x), True on the voxels the preprocessing masked besides the gap: bad pixels
        (every frame) and the aliens' cores.
    detector : Detector
    geometry
        DetectorGeometry, the random draws of flux and gap.
    response
        Response, the random draws of coherence, background, aliens and bad pixels.
    blur_sigma_px
        float, the detector's point spread, pixels.
    """

    counts: np.ndarray
    expected: np.ndarray
    gapped: np.ndarray
    mask: np.ndarray
    bad: np.ndarray
    detector: Detector
    geometry: DetectorGeometry
    response: Response
    blur_sigma_px: float

    def provenance(self) -> dict:
        """The drawn and fixed parameters as a JSON-ready dict."""
        return {
            "detector": asdict(self.detector),
            **asdict(self.geometry),
            **asdict(self.response),
            "blur_sigma_px": self.blur_sigma_px,
        }


def _range(value, name: str) -> tuple[float, float]:
    """(low, high) of a number (both the same) or a pair, checked 0 <= low <= high."""
    low, high = np.broadcast_to(np.asarray(value, dtype=np.float64), (2,))
    if not 0 <= low <= high:
        raise ValueError(f"{name} must be a number >= 0 or a range 0 <= low <= high, got {value!r}")
    return float(low), float(high)


def simulate_detector(
    intensity,
    rng: np.random.Generator,
    *,
    detector="maxipix",
    max_counts_range=(1.0e4, 1.0e7),
    background=0.0,
    smooth_background=0.0,
    blur_sigma_px: float = 0.0,
    coherence_sigma_px=0.0,
    lorentzian_fraction=0.0,
    pixel_area: bool = False,
    rocking_integration=0.0,
    bad_pixel_fraction: float = 0.0,
    aliens=(0, 0),
    orientation_probabilities=None,
    offset_range_px=(-8, 8),
    workers: int | None = None,
) -> DetectorSimulation:
    """Record a Bragg-peak intensity with a detector: counts, gaps, masks and the draws made.

    Parameters
    ----------
    intensity
        (z, y, x) array, non-negative (any unit; only its shape matters).
    rng
        numpy Generator; draws, in order, the geometry (:func:`draw_detector_geometry`), the coherence
        (:func:`braggsynth.simulate.coherence.draw_coherence`), the flat and smooth backgrounds, the smooth field, the
        aliens, the bad pixels, the share of the rocking step a frame integrates, then the Poisson noise.
    detector
        preset name, mapping or Detector (see :func:`detector_model`).
    background, smooth_background
        photons per voxel, a number or a (low, high) range drawn uniformly.
    blur_sigma_px
        the detector's point spread, pixels (detector plane).
    coherence_sigma_px, lorentzian_fraction
        a number or a (low, high) range of the partial coherence's PSF
        (each axis's sigma drawn independently), pixels.
    pixel_area, rocking_integration
        whether each pixel integrates over its area (1 px along y and x), and the share of the rocking step
        a frame integrates, a number or a (low, high) range in [0, 1] (:mod:`braggsynth.simulate.sampling`);
        none by default.
    bad_pixel_fraction
        probability of a detector pixel being bad (masked through every frame).
    aliens
        (low, high) number of aliens (inclusive), masked where they add >= :data:`ALIEN_MASK_PHOTONS`.
    workers
        FFT threads of the coherence's convolution.
    orientation_probabilities, offset_range_px
        see :func:`draw_detector_geometry`.
    """
    detector = detector_model(detector)
    geometry = draw_detector_geometry(
        rng, max_counts_range=max_counts_range, orientation_probabilities=orientation_probabilities,
        offset_range_px=offset_range_px,
    )
    spread = coherence_.draw_coherence(rng, sigma_px=_range(coherence_sigma_px, "coherence_sigma_px"),
                                       lorentzian_fraction=_range(lorentzian_fraction, "lorentzian_fraction"))
    flat = float(rng.uniform(*_range(background, "background")))
    smooth_mean = float(rng.uniform(*_range(smooth_background, "smooth_background")))
    shape = np.shape(intensity)
    photons = flat + smooth_background_field(shape, rng, smooth_mean)
    drawn_aliens = draw_aliens(shape, rng, aliens, geometry.max_counts)
    blobs = alien_counts(shape, drawn_aliens)
    bad_frame = draw_bad_pixels(shape[1:], rng, bad_pixel_fraction)
    box = sampling.draw_integration(rng, pixel_area=pixel_area,
                                    rocking=_range(rocking_integration, "rocking_integration"))
    expected = expected_counts(intensity, geometry.max_counts, photons + blobs, blur_sigma_px,
                               coherence_sigma_px=spread.sigma_px, lorentzian_fraction=spread.lorentzian_fraction,
                               integration_px=box.widths_px, workers=workers)
    counts = poisson_counts(expected, rng)
    mask = gap_mask(counts.shape, detector, geometry.orientation, offset_px=geometry.offset_px)
    bad = np.broadcast_to(bad_frame, counts.shape) | (blobs >= ALIEN_MASK_PHOTONS)
    gapped = np.where(mask | bad, 0, counts).astype(np.int32)
    response = Response(spread, box, flat, smooth_mean, drawn_aliens, int(bad_frame.sum()))
    return DetectorSimulation(counts, expected, gapped, mask, bad, detector, geometry, response,
                              float(blur_sigma_px))
