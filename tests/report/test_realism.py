import numpy as np
import pytest

from braggsynth.report import discriminator, realism
from braggsynth.simulate import coherence, detector


def sinc_peak(period=4.0, n=64, background=0.0):
    """A separable sinc^2 peak (fringe period ``period`` px, first minima exactly zero) plus a background."""
    k = np.arange(n) - n // 2
    line = np.sinc(k / period) ** 2
    return 1e4 * line[:, None, None] * line[None, :, None] * line[None, None, :] + background


def test_perfect_fringes_have_visibility_one_and_a_background_lowers_it():
    crop, mask = realism.crop_around_maximum(sinc_peak())
    assert np.allclose(realism.fringe_visibility(crop, mask), 1.0)
    crop, mask = realism.crop_around_maximum(sinc_peak(background=5.0))
    visibility = realism.fringe_visibility(crop, mask)
    # bundle sums: (f_max - f_min) S / ((f_max + f_min) S + 18 b), with f_min = 0 and S the 3 x 3 sum of the others
    line = np.sinc((np.arange(64) - 32) / 4.0) ** 2
    second = line[32 + 6]  # the next maximum of a period-4 sinc^2 sampled at integers: k = 6 (1.5 periods)
    s = 1e4 * line[31:34].sum() ** 2
    assert visibility == pytest.approx(np.full(3, second * s / (second * s + 18 * 5.0)), rel=1e-6)


def test_partial_coherence_lowers_visibility_and_roughness():
    sharp = realism.pattern_statistics(sinc_peak())
    spread = realism.pattern_statistics(coherence.partial_coherence(sinc_peak(), 0.8))
    for axis in "zyx":
        assert spread[f"visibility_{axis}"] < 0.5 * sharp[f"visibility_{axis}"]
    assert spread["gap_roughness"] < sharp["gap_roughness"]


def test_peak_volume_of_sinc_fringes_is_the_cube_of_their_period():
    # sum over k of sinc^2(k / p) is p for an integer period p: p^3 voxels, less the tails beyond the crop
    for period in (3.0, 5.0):
        assert realism.pattern_statistics(sinc_peak(period=period))["peak_volume"] == pytest.approx(period ** 3,
                                                                                                     rel=0.05)


def test_porod_decay_is_found():
    r = np.sqrt(sum(g.astype(float) ** 2 for g in np.mgrid[-32:32, -32:32, -32:32]))
    crop, mask = realism.crop_around_maximum(1e8 * np.maximum(r, 0.5) ** -4.0)
    assert realism.decay_exponent(crop, mask) == pytest.approx(-4.0, abs=0.1)


def test_oversampling_of_a_box_crystal():
    obj = np.zeros((64, 64, 64))
    obj[24:40, 28:36, 20:44] = 1.0  # 16 x 8 x 24 voxels: oversampling 4, 8, 2.67
    intensity = np.abs(np.fft.fftshift(np.fft.fftn(obj))) ** 2
    found = realism.oversampling(*realism.crop_around_maximum(intensity))
    assert found == pytest.approx([4.0, 8.0, 64 / 24], rel=0.1)


def test_statistics_leave_masked_voxels_out():
    intensity = sinc_peak()
    mask = np.zeros(intensity.shape, bool)
    mask[:, :, 40:] = True
    intensity[mask] = 1e9  # an alien the mask hides
    stats = realism.pattern_statistics(intensity, mask)
    assert stats["max_counts"] == pytest.approx(1e4)
    assert set(stats) == set(realism.STATISTICS)


def test_percentiles_count_ties_half_and_mark_the_band():
    assert realism.percentile_of(0.0, [0, 0, 0, 1]) == pytest.approx(37.5)
    assert realism.percentile_of(5.0, [0, 1, 2, 3]) == 100.0
    simulated = [dict.fromkeys(realism.STATISTICS, float(v)) for v in range(100)]
    rows = realism.compare(simulated, {"inside": dict.fromkeys(realism.STATISTICS, 50.0),
                                       "outside": dict.fromkeys(realism.STATISTICS, 95.5)})
    assert all(row["inside_inside"] and not row["outside_inside"] for row in rows)
    assert rows[0]["p10"] == pytest.approx(9.9) and rows[0]["p90"] == pytest.approx(89.1)


def recordings(count, sigma, seed):
    rng = np.random.default_rng(seed)
    for index in range(count):
        peak = coherence.partial_coherence(sinc_peak(period=rng.uniform(3, 6)), sigma)
        counts = detector.poisson_counts(detector.expected_counts(peak, 1e4), rng)
        yield f"r{index}", counts, np.zeros(counts.shape, bool)


def test_the_discriminator_tells_apart_what_differs_and_not_what_does_not():
    features = {sigma: [discriminator.sample_features(counts, np.random.default_rng(i), 40, excluded=mask)
                        for i, (_, counts, mask) in enumerate(recordings(6, sigma, seed=int(10 * sigma)))]
                for sigma in (0.0, 1.5)}
    split = {sigma: (np.concatenate(found[:4]), np.concatenate(found[4:])) for sigma, found in features.items()}
    apart = discriminator.held_back_accuracy(split[0.0][0], split[1.5][0], split[0.0][1], split[1.5][1])
    assert apart["balanced_accuracy"] > 0.9
    same = [discriminator.sample_features(counts, np.random.default_rng(50 + i), 40, excluded=mask)
            for i, (_, counts, mask) in enumerate(recordings(6, 0.0, seed=99))]
    alike = discriminator.held_back_accuracy(split[0.0][0], np.concatenate(same[:4]), split[0.0][1],
                                             np.concatenate(same[4:]))
    assert alike["balanced_accuracy"] < 0.7


def test_assess_puts_recordings_beside_measured_files():
    measured = [("scan", next(recordings(1, 1.0, seed=7))[1], None)]
    found = realism.assess(recordings(4, 0.5, seed=3), measured, seed=0, patches_per_recording=8, patches_per_file=20)
    assert found["recordings"] == 4 and len(found["simulated"]) == 4
    assert [row["statistic"] for row in found["rows"]] == list(realism.STATISTICS)
    assert 0.0 <= found["discriminator"]["balanced_accuracy"] <= 1.0
    markdown = realism.report_markdown(found)
    assert "| visibility_z |" in markdown and "balanced accuracy" in markdown


def test_flux_band_and_feature_separation():
    assert discriminator.flux_band([1e2, 1e3, 2.9e3, 3.1e3, 4e4], 1e3).tolist() == [False, True, True, False, False]
    rng = np.random.default_rng(0)
    simulated = rng.normal(size=(200, len(discriminator.FEATURES)))
    measured = rng.normal(size=(150, len(discriminator.FEATURES)))
    measured[:, discriminator.FEATURES.index("zero_share")] += 3.0  # measured patches: far more empty voxels
    measured[:, discriminator.FEATURES.index("roughness")] -= 3.0
    rows = discriminator.feature_separation(simulated, measured)
    assert [row["feature"] for row in rows[:2]] == ["zero_share", "roughness"] or \
        [row["feature"] for row in rows[:2]] == ["roughness", "zero_share"]
    by_name = {row["feature"]: row for row in rows}
    assert by_name["zero_share"]["auc"] > 0.95 and by_name["zero_share"]["measured_higher"]
    assert by_name["roughness"]["auc"] > 0.95 and not by_name["roughness"]["measured_higher"]
    assert all(0.5 <= row["auc"] < 0.65 for row in rows[2:])


def test_assess_scores_each_measured_file_at_its_own_flux():
    rng = np.random.default_rng(4)

    def recording(index, max_counts, sigma):
        peak = coherence.partial_coherence(sinc_peak(period=rng.uniform(4, 5)), sigma)
        counts = detector.poisson_counts(detector.expected_counts(peak, max_counts), rng)
        return f"r{index}", counts, np.zeros(counts.shape, bool)

    fluxes = [1e3, 1.1e3, 1.2e3, 1.5e3, 1.8e3, 2e3, 1e5, 1.1e5, 1.2e5, 1.5e5, 1.8e5, 2e5, 1e6, 3e6]
    simulated = [recording(i, flux, 0.0) for i, flux in enumerate(fluxes)]
    measured = [("dim", recording(90, 1.2e3, 1.5)[1], None), ("bright", recording(91, 1.2e5, 0.0)[1], None)]
    found = realism.assess(simulated, measured, seed=0, patches_per_recording=16, patches_per_file=40,
                           held_back_share=0.5)
    assert found["at_flux"]["dim"]["recordings"] == 6 and found["at_flux"]["bright"]["recordings"] == 6
    # the blurred file is told apart from the sharp recordings at its flux, the sharp file far less
    dim, bright = found["at_flux"]["dim"], found["at_flux"]["bright"]
    assert dim["at_offsets"]["balanced_accuracy"] > 0.8
    assert bright["at_offsets"]["balanced_accuracy"] < dim["at_offsets"]["balanced_accuracy"]
    # each recording at a file's flux in its place in turn (the null): fewer when a draw holds no patch
    for entry in (dim, bright):
        assert 4 <= len(entry["stand_ins"]) <= 6 and entry["stand_ins"] == sorted(entry["stand_ins"])
        assert all(0.0 <= accuracy <= 1.0 for accuracy in entry["stand_ins"])
    # the blurred file is told apart better than a typical sharp recording in its place
    assert dim["accuracy"]["balanced_accuracy"] > np.median(dim["stand_ins"])
    assert [row["feature"] for row in found["separation"]] and found["separation"][0]["auc"] >= 0.5
    markdown = realism.report_markdown(found)
    assert "| dim |" in markdown and "| bright |" in markdown
    assert "recordings at its flux" in markdown and "What tells them apart" in markdown
    assert "in the file's place" in markdown


def test_patches_at_another_files_offsets_are_cut_where_its_were():
    intensity = detector.poisson_counts(detector.expected_counts(sinc_peak(period=4.0), 1e4),
                                        np.random.default_rng(0))
    features, offsets = discriminator.sample_patches(intensity, np.random.default_rng(1), 12)
    top = discriminator.brightest_voxel(intensity)
    assert offsets.shape == (12, 3) and np.all(offsets + top >= 0) and np.all(offsets + top + 32 <= 64)
    # the same intensity with 5 empty columns before it: the same patches, found from its own maximum
    moved = np.pad(intensity, ((0, 0), (0, 0), (5, 0)))
    again = discriminator.features_at_offsets(moved, offsets, np.random.default_rng(2), 12)
    assert np.allclose(sorted(map(tuple, again)), sorted(map(tuple, features)))
    far = discriminator.features_at_offsets(intensity, [[40, 0, 0], [-40, 0, 0]], np.random.default_rng(3), 5)
    assert far.shape == (0, len(discriminator.FEATURES))  # both stick out of the 64^3 array
    excluded = np.zeros(intensity.shape, bool)
    excluded[tuple(top - 10)] = True  # inside the patch whose corner is 16 voxels before the maximum
    assert len(discriminator.features_at_offsets(intensity, [[-16, -16, -16]], np.random.default_rng(4), 1,
                                                 excluded=excluded)) == 0
    assert len(discriminator.features_at_offsets(intensity, [[-16, -16, -16]], np.random.default_rng(4), 1)) == 1
