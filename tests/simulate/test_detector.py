import numpy as np
import pytest

from braggsynth.simulate import detector


def test_poisson_counts_have_the_mean_and_variance_of_the_flux():
    flux = 37.0
    expected = detector.expected_counts(np.full((32, 64, 64), 3.0), max_counts=flux)
    assert np.allclose(expected, flux)
    counts = detector.poisson_counts(expected, np.random.default_rng(0))
    n = counts.size
    assert counts.dtype == np.int32
    # Standard errors: flux / n for the mean, 2 flux^2 / n (+ small) for the variance.
    assert abs(counts.mean() - flux) < 5 * np.sqrt(flux / n)
    assert abs(counts.var() - flux) < 5 * flux * np.sqrt(2.0 / n)


def test_expected_counts_scale_background_and_blur_only_in_the_detector_plane():
    intensity = np.zeros((9, 31, 31))
    intensity[4, 15, 15] = 2.0
    plain = detector.expected_counts(intensity, max_counts=1000.0)
    assert plain.max() == pytest.approx(1000.0)
    blurred = detector.expected_counts(intensity, max_counts=1000.0, background=0.5, blur_sigma_px=1.5)
    signal = blurred - 0.5
    assert signal.sum() == pytest.approx(1000.0, rel=1e-6)  # the point spread keeps photons
    assert np.allclose(signal[[0, 1, 2, 3, 5, 6, 7, 8]], 0.0)  # nothing leaks along the rocking axis
    assert signal[4, 15, 17] > 0.1 * signal[4, 15, 15]  # spread along x ...
    assert signal[4, 17, 15] == pytest.approx(signal[4, 15, 17])  # ... and equally along y


def band(mask_1d):
    """(start, width) of the single run of True in a 1D boolean array."""
    where = np.flatnonzero(mask_1d)
    assert np.all(np.diff(where) == 1), "the gap is one contiguous band"
    return int(where[0]), len(where)


@pytest.mark.parametrize("name, rows, columns", [("maxipix", 6, 6), ("eiger", 38, 12)])
def test_preset_gap_geometry(name, rows, columns):
    shape = (7, 100, 90)
    model = detector.detector_model(name)
    assert (model.horizontal_gap_px, model.vertical_gap_px) == (rows, columns)
    horizontal = detector.gap_mask(shape, model, "horizontal", offset_px=(3, -5))
    vertical = detector.gap_mask(shape, name, "vertical", offset_px=(3, -5))
    cross = detector.gap_mask(shape, name, "cross", offset_px=(3, -5))
    # horizontal: a band of detector rows (plane normal to y) through every frame and column
    assert np.array_equal(horizontal, np.broadcast_to(horizontal[:1, :, :1], shape))
    assert band(horizontal[0, :, 0]) == (50 + 3 - rows // 2, rows)
    # vertical: a band of detector columns (plane normal to x) through every frame and row
    assert np.array_equal(vertical, np.broadcast_to(vertical[:1, :1, :], shape))
    assert band(vertical[0, 0, :]) == (45 - 5 - columns // 2, columns)
    assert np.array_equal(cross, horizontal | vertical)


def test_gap_is_clipped_at_the_edge_of_the_frame():
    mask = detector.gap_mask((2, 20, 20), "eiger", "horizontal", centre=(0, 10))
    assert band(mask[0, :, 0]) == (0, 38 // 2)


def test_custom_detector_from_a_mapping():
    model = detector.detector_model({"name": "pilatus-like", "horizontal_gap_px": 17, "vertical_gap_px": 7,
                                     "chip_px": [195, 487]})
    assert model == detector.Detector("pilatus-like", 17, 7, (195, 487))
    assert detector.detector_model({"horizontal_gap_px": 4, "vertical_gap_px": 4}).chip_px == (256, 256)
    mask = detector.gap_mask((3, 64, 64), {"horizontal_gap_px": 5, "vertical_gap_px": 9}, "cross")
    assert band(mask[1, :, 0]) == (32 - 2, 5) and band(mask[1, 0, :]) == (32 - 4, 9)


def test_bad_detector_specifications_are_named():
    with pytest.raises(ValueError, match=r"^unknown detector 'pilatus'; expected one of maxipix, eiger") as error:
        detector.detector_model("pilatus")
    assert "\n" not in str(error.value)
    with pytest.raises(ValueError, match="lacks 'vertical_gap_px'"):
        detector.detector_model({"horizontal_gap_px": 3})
    with pytest.raises(ValueError, match="gap orientation 'diagonal'"):
        detector.gap_mask((2, 8, 8), "maxipix", "diagonal")


def test_simulated_detector_is_reproducible_and_zeroes_the_gap_only():
    z, y, x = np.mgrid[-16:16, -24:24, -24:24]
    intensity = (np.sinc(z / 4) * np.sinc(y / 5) * np.sinc(x / 5)) ** 2
    kwargs = dict(detector="maxipix", max_counts_range=(1e3, 1e5), background=0.1, blur_sigma_px=0.5,
                  offset_range_px=(-4, 4))
    first = detector.simulate_detector(intensity, np.random.default_rng(11), **kwargs)
    again = detector.simulate_detector(intensity, np.random.default_rng(11), **kwargs)
    assert np.array_equal(first.counts, again.counts) and first.geometry == again.geometry
    assert first.counts.dtype == first.gapped.dtype == np.int32
    assert np.all(first.gapped[first.mask] == 0)
    assert np.array_equal(first.gapped[~first.mask], first.counts[~first.mask])
    assert first.counts[first.mask].sum() > 0  # the truth in the gap is kept
    assert 1e3 <= first.geometry.max_counts <= 1e5
    assert all(-4 <= o <= 4 for o in first.geometry.offset_px)
    expected_mask = detector.gap_mask(intensity.shape, "maxipix", first.geometry.orientation,
                                      offset_px=first.geometry.offset_px)
    assert np.array_equal(first.mask, expected_mask)
    record = first.provenance()
    assert record["detector"]["name"] == "maxipix" and record["orientation"] == first.geometry.orientation


def test_geometry_draws_follow_their_distributions():
    rng = np.random.default_rng(5)
    draws = [detector.draw_detector_geometry(rng, max_counts_range=(1e2, 1e6),
                                             orientation_probabilities={"vertical": 1, "cross": 3})
             for _ in range(2000)]
    logs = np.log10([d.max_counts for d in draws])
    assert abs(logs.mean() - 4.0) < 0.1 and logs.min() >= 2 and logs.max() <= 6  # log-uniform on [1e2, 1e6]
    orientations = [d.orientation for d in draws]
    assert "horizontal" not in orientations
    assert abs(orientations.count("cross") / len(draws) - 0.75) < 0.04


def test_a_list_of_detectors_gives_each_recording_one_of_them():
    models = detector.detector_models(["maxipix", "eiger", {"horizontal_gap_px": 4, "vertical_gap_px": 2}])
    assert [m.name for m in models] == ["maxipix", "eiger", "custom"]
    drawn = [detector.draw_detector(models, np.random.default_rng(i)).name for i in range(300)]
    counts = {name: drawn.count(name) for name in ("maxipix", "eiger", "custom")}
    assert all(70 < n < 130 for n in counts.values()), counts
    single = detector.detector_models("eiger")
    rng = np.random.default_rng(0)
    assert detector.draw_detector(single, rng) is detector.PRESETS["eiger"]
    assert rng.random() == np.random.default_rng(0).random()  # one detector draws nothing
    with pytest.raises(ValueError, match="unknown detector 'pilatus'"):
        detector.detector_models(["maxipix", "pilatus"])


def test_a_measured_scans_physics_washes_out_fringes_and_masks_bad_pixels_and_aliens():
    z, y, x = np.mgrid[-32:32, -32:32, -32:32]
    intensity = (np.sinc(z / 4) * np.sinc(y / 4) * np.sinc(x / 4)) ** 2
    kwargs = dict(max_counts_range=(1e6, 1e6), offset_range_px=(10, 10), orientation_probabilities={"vertical": 1})
    sharp = detector.simulate_detector(intensity, np.random.default_rng(5), **kwargs)
    washed = detector.simulate_detector(intensity, np.random.default_rng(5), coherence_sigma_px=(0.8, 0.8),
                                        lorentzian_fraction=0.2, background=(0.5, 0.5), smooth_background=0.5,
                                        bad_pixel_fraction=0.01, aliens=(2, 2), **kwargs)
    first_minimum = (32, 32, 36)  # sinc^2 of period 4: zero 4 px from the centre
    assert sharp.expected[first_minimum] < 1e-6 * sharp.expected.max()
    assert washed.expected[first_minimum] > 1e-3 * washed.expected.max()
    assert washed.expected[32, 32, 32] == pytest.approx(1e6, rel=1e-3)  # the flux is the spread peak's maximum
    response = washed.response
    assert response.background == 0.5 and response.smooth_background == 0.5 and len(response.aliens) == 2
    # bad pixels are lines through every frame; aliens' cores are masked; the file zeroes both, not the truth
    lines = washed.bad.all(axis=0)
    assert lines.sum() == response.bad_pixels > 0
    for alien in response.aliens:
        assert washed.bad[alien.centre] and np.linalg.norm(np.subtract(alien.centre, 32)) >= 16
    assert np.all(washed.gapped[washed.bad | washed.mask] == 0)
    assert np.array_equal(washed.gapped[~(washed.bad | washed.mask)], washed.counts[~(washed.bad | washed.mask)])
    record = washed.provenance()
    assert record["coherence"]["sigma_px"] == (0.8, 0.8, 0.8) and record["bad_pixels"] == response.bad_pixels
    assert not sharp.bad.any()


def test_smooth_background_has_its_mean_and_varies_slowly():
    field = detector.smooth_background_field((32, 64, 64), np.random.default_rng(2), 0.3)
    assert field.mean() == pytest.approx(0.3) and field.min() > 0
    assert 1.5 < np.percentile(field, 90) / np.percentile(field, 10) < 5  # "varying by about 3"
    assert np.abs(np.diff(field, axis=2)).mean() < 0.1 * field.mean()  # neighbours within 10 %: smooth
