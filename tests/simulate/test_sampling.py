import numpy as np
import pytest

from braggsynth.simulate import detector, sampling


def crystal_intensity(n: int = 16, size: int = 6, seed: int = 0):
    """A random crystal density of ``size``^3 voxels in an ``n``^3 box (oversampled n / size > 2 times per axis),
    and |F(k + u)|^2 of it at a fractional offset u (voxels) from every grid point k: a dense evaluation."""
    density = np.zeros((n, n, n))
    density[:size, :size, :size] = np.random.default_rng(seed).random((size, size, size))
    grid = np.arange(n)

    def intensity_at(offset):
        phase = offset[0] * grid[:, None, None] + offset[1] * grid[None, :, None] + offset[2] * grid[None, None, :]
        return np.abs(np.fft.fftn(density * np.exp(-2j * np.pi * phase / n))) ** 2

    return intensity_at


@pytest.mark.parametrize("widths", [(1.0, 1.0, 1.0), (0.0, 1.0, 1.0), (0.37, 0.0, 1.0)])
def test_box_average_equals_the_intensity_integrated_over_the_box(widths):
    intensity_at = crystal_intensity()
    nodes, weights = np.polynomial.legendre.leggauss(6)  # exact for the trigonometric polynomial over a box
    integrated = 0.0
    for i, wi in enumerate(weights):
        for j, wj in enumerate(weights):
            for k, wk in enumerate(weights):
                offset = [nodes[i] * widths[0] / 2, nodes[j] * widths[1] / 2, nodes[k] * widths[2] / 2]
                integrated = integrated + wi * wj * wk / 8 * intensity_at(offset)
    averaged = sampling.box_average(intensity_at([0, 0, 0]), widths)
    assert np.allclose(averaged, integrated, rtol=1e-9, atol=1e-9 * integrated.max())


def test_box_average_keeps_the_photons_and_lowers_the_fringes():
    intensity = crystal_intensity()([0, 0, 0])
    averaged = sampling.box_average(intensity, 1.0)
    assert averaged.sum() == pytest.approx(intensity.sum(), rel=1e-12)
    assert averaged.min() >= 0 and averaged.max() < intensity.max()
    assert np.array_equal(sampling.box_average(intensity, 0.0), intensity)
    with pytest.raises(ValueError, match=r"box widths must be in \[0, 1\]"):
        sampling.box_average(intensity, (0.0, 1.5, 1.0))


def test_integration_draws_a_share_of_the_rocking_step_and_nothing_for_one_value():
    rng = np.random.default_rng(4)
    shares = [sampling.draw_integration(rng, pixel_area=True, rocking=(0.0, 1.0)).widths_px for _ in range(500)]
    assert all(s[1:] == (1.0, 1.0) for s in shares)
    rocking = np.array([s[0] for s in shares])
    assert 0 <= rocking.min() and rocking.max() <= 1 and abs(rocking.mean() - 0.5) < 0.05
    rng = np.random.default_rng(0)
    assert sampling.draw_integration(rng, rocking=(0.5, 0.5)).widths_px == (0.5, 0.0, 0.0)
    assert rng.random() == np.random.default_rng(0).random()  # one value draws nothing
    with pytest.raises(ValueError, match="rocking_integration"):
        sampling.draw_integration(rng, rocking=(0.2, 1.2))


def test_a_recording_integrates_its_pixels_and_says_so():
    z, y, x = np.mgrid[-16:16, -16:16, -16:16]
    intensity = (np.sinc(z / 4) * np.sinc(y / 4) * np.sinc(x / 4)) ** 2
    kwargs = dict(max_counts_range=(1e6, 1e6), orientation_probabilities={"vertical": 1})
    sampled = detector.simulate_detector(intensity, np.random.default_rng(2), **kwargs)
    counted = detector.simulate_detector(intensity, np.random.default_rng(2), pixel_area=True,
                                         rocking_integration=(0.0, 1.0), **kwargs)
    assert sampled.response.integration.widths_px == (0.0, 0.0, 0.0)
    share, rows, columns = counted.response.integration.widths_px
    assert (rows, columns) == (1.0, 1.0) and 0 < share < 1
    assert counted.provenance()["integration"]["widths_px"] == (share, 1.0, 1.0)
    first_minimum = (16, 16, 20)  # sinc^2 of period 4: zero 4 px from the centre, filled by the pixel's area
    assert sampled.expected[first_minimum] < 1e-6 * sampled.expected.max()
    assert counted.expected[first_minimum] > 1e-3 * counted.expected.max()
    assert counted.expected.max() == pytest.approx(1e6)
