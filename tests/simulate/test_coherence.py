import numpy as np
import pytest

from braggsynth.simulate import coherence


def test_point_spread_sums_to_one_and_is_a_delta_along_an_axis_of_sigma_zero():
    psf = coherence.point_spread((16, 20, 24), (1.0, 0.0, 2.0), 0.3)
    assert psf.sum() == pytest.approx(1.0)
    assert np.count_nonzero(psf.sum(axis=(0, 2))) == 1  # all of it in the central row (y)
    assert np.unravel_index(psf.argmax(), psf.shape) == (8, 10, 12)


@pytest.mark.parametrize("eta", [0.0, 1.0])
def test_gaussian_and_lorentzian_share_their_half_maximum(eta):
    sigma = 3.0
    psf = coherence.point_spread((1, 1, 201), sigma, eta)[0, 0]
    centre = psf[100]
    half = 100 + np.sqrt(2 * np.log(2)) * sigma  # the Gaussian's half width at half maximum
    assert np.interp(half, np.arange(201), psf) == pytest.approx(centre / 2, rel=0.02)


def test_partial_coherence_keeps_photons_and_damps_fringes_as_the_gaussian_transform_says():
    # I(k) = 1 + cos(2 pi k / P) convolved with a Gaussian of sigma s: 1 + exp(-2 pi^2 s^2 / P^2) cos(...)
    period, sigma, n = 8, 1.2, 64
    k = np.arange(n)
    intensity = np.broadcast_to(1 + np.cos(2 * np.pi * k / period), (4, 4, n)).copy()
    spread = coherence.partial_coherence(intensity, (0.0, 0.0, sigma))
    assert spread.sum() == pytest.approx(intensity.sum())
    visibility = (spread.max() - spread.min()) / (spread.max() + spread.min())
    assert visibility == pytest.approx(np.exp(-2 * np.pi**2 * sigma**2 / period**2), rel=1e-3)


def test_no_spread_returns_the_intensity():
    intensity = np.random.default_rng(0).random((8, 8, 8))
    assert np.array_equal(coherence.partial_coherence(intensity, 0.0), intensity)


def test_draws_stay_in_their_ranges_and_repeat_with_the_seed():
    first = coherence.draw_coherence(np.random.default_rng(3), sigma_px=(0.2, 0.8), lorentzian_fraction=(0, 0.3))
    again = coherence.draw_coherence(np.random.default_rng(3), sigma_px=(0.2, 0.8), lorentzian_fraction=(0, 0.3))
    assert first == again
    assert all(0.2 <= s <= 0.8 for s in first.sigma_px) and len(set(first.sigma_px)) == 3
    assert 0 <= first.lorentzian_fraction <= 0.3


def test_bad_ranges_are_refused_naming_them():
    with pytest.raises(ValueError, match="sigma_px"):
        coherence.draw_coherence(np.random.default_rng(0), sigma_px=(0.8, 0.2))
    with pytest.raises(ValueError, match="lorentzian_fraction"):
        coherence.point_spread((4, 4, 4), 1.0, 1.5)
