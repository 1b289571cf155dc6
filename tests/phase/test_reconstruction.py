"""Phase retrieval of a scan with its gap in each mode, on a small simulated scan with a known object, and the
decision of the default mode from the gap's unconstrained modes."""

import warnings

import numpy as np
import pytest
import scipy.fft

from braggsynth.phase import phasing, reconstruction
from braggsynth.phase.reconstruction import Fill
from braggsynth.report import realspace
from braggsynth.score import baselines
from braggsynth.simulate import frames, scattering, shapes

N = 48
SEQUENCE = "2*(20*ER+80*HIO)+20*ER"
SHORT = "10*ER+20*HIO+10*ER"


@pytest.fixture(scope="module")
def scan():
    """A 4 nm Au cube's 111 peak on a 48^3 grid at oversampling 3.5, 1e6 photons at the maximum, Poisson noise;
    its true object; and a 4 px gap plane through the maximum."""
    atoms = shapes.build_particle({"kind": "cube", "element": "Au"}, size_nm=4.0)
    g = scattering.reciprocal_vector((1, 1, 1), atoms.info["lattice_constant"])
    geometry = frames.draw_orthogonal(np.random.default_rng(0), atoms.positions,
                                      {"oversampling": [3.5, 3.5], "oversampling_per_axis": False,
                                       "max_rotation_deg": 20.0})
    amplitude = scattering.bragg_peak(atoms.positions, g, geometry.basis, (N, N, N))
    intensity = np.abs(amplitude) ** 2
    counts = np.random.default_rng(1).poisson(intensity / intensity.max() * 1e6).astype(np.float64)
    gap = realspace.gap_at(counts.shape, realspace.peak_position(counts)[2], 4, "through")
    return counts, phasing.true_object(amplitude), gap


def linear_fill(volume, gap):
    """A classic fill with an interval of a factor 2 either way (a stand-in for a model's)."""
    filled = np.expm1(baselines.baseline_fill("smoothed_linear", np.log1p(volume), gap))
    return Fill(filled, filled / 2, filled * 2)


def test_each_mode_against_the_true_object(scan):
    """Zeros in the gap wreck the reconstruction; free pixels and a forced fill do better; none beats the data
    without a gap."""
    counts, truth, gap = scan
    fill = linear_fill(np.where(gap, 0, counts), gap)
    pcc = {}
    with scipy.fft.set_workers(2):
        for mode in ("zero", "free", "forced", "interval"):
            best, _ = reconstruction.phase_scan(counts, gap, mode=mode, fill=fill, starts=2, seed=3, sequence=SEQUENCE)
            pcc[mode] = phasing.compare(best.obj, truth)["modulus_pcc"]
        best, _ = reconstruction.phase_scan(counts, np.zeros_like(gap), mode="free", starts=2, seed=3,
                                            sequence=SEQUENCE)
        pcc["gap-free"] = phasing.compare(best.obj, truth)["modulus_pcc"]
    assert pcc["zero"] < pcc["free"] - 0.05 and pcc["zero"] < pcc["forced"] - 0.05, pcc
    assert max(pcc["free"], pcc["forced"], pcc["interval"]) <= pcc["gap-free"] + 0.01, pcc
    assert pcc["gap-free"] > 0.9, pcc


def test_an_interval_of_zero_width_is_forced_and_an_infinite_one_is_free(scan):
    counts, _, gap = scan
    filled = linear_fill(np.where(gap, 0, counts), gap).filled
    run = {name: reconstruction.phase_scan(counts, gap, mode=mode, fill=fill, seed=5, sequence=SHORT)[0]
           for name, mode, fill in (("forced", "forced", Fill(filled)),
                                    ("zero width", "interval", Fill(filled, filled, filled)),
                                    ("free", "free", None),
                                    ("infinite", "interval", Fill(filled, np.zeros_like(filled),
                                                                  np.full_like(filled, np.inf))))}
    assert np.array_equal(run["zero width"].obj, run["forced"].obj)
    assert np.array_equal(run["infinite"].obj, run["free"].obj)
    assert not np.allclose(run["forced"].obj, run["free"].obj)


def test_the_gap_stays_inside_its_interval():
    """The modulus step clips a bounded pixel's amplitude to its bounds: a reconstruction's |F|^2 there ends
    inside them (an ER step ends the run, so only the support projection moves it after the last clip)."""
    rng = np.random.default_rng(0)
    obj = np.zeros((32, 32, 32), complex)
    obj[12:20, 11:21, 13:19] = np.exp(1j * rng.normal(0, 0.3, (8, 10, 6)))
    intensity = np.abs(np.fft.fftshift(np.fft.fftn(np.fft.ifftshift(obj)))) ** 2
    gap = realspace.gap_plane(intensity.shape, 16, 4)
    lower, upper = intensity * 0.5, intensity * 0.6  # the truth lies outside: the bounds must win
    result = phasing.phase(intensity, unknown=gap, bounds=(lower, upper), seed=0, sequence="30*ER")
    model = phasing.diffraction(result.obj)
    model *= phasing.fit_scale(model, intensity, ~gap)
    bright = gap & (intensity > 1e-3 * intensity.max())
    ratio = model[bright] / intensity[bright]
    assert np.median(ratio) < 0.75 and result.errors.size == 30


def test_a_scan_without_a_gap_is_phased_as_it_is(scan):
    counts, truth, _ = scan
    best, found, choice, fill = reconstruction.reconstruct(counts, np.zeros(counts.shape, bool), mode="auto",
                                                           sequence=SHORT)
    assert choice.mode == "free" and choice.hidden is None and fill is None and len(found) == 1


def test_modes_that_need_a_fill_say_so(scan):
    counts, _, gap = scan
    with pytest.raises(ValueError, match="needs a fill"):
        reconstruction.reconstruct(counts, gap, mode="forced", sequence=SHORT)
    with pytest.raises(ValueError, match="calibrated bounds"):
        reconstruction.gap_bounds("interval", gap, Fill(counts))
    with pytest.raises(ValueError, match="gap mode 'sideways'"):
        reconstruction.reconstruct(counts, gap, mode="sideways")


def test_parallel_runs_give_the_numbers_of_runs_in_turn(scan):
    counts, _, gap = scan
    values, unknown, bounds = reconstruction.phase_inputs(counts, gap, mode="free")
    jobs = [{"intensity": values, "unknown": unknown, "bounds": bounds, "seed": s, "sequence": SHORT} for s in (1, 2)]
    with realspace.ParallelRunner(2) as runner:
        parallel = runner(jobs)
    in_turn = reconstruction.run_in_turn(jobs)
    for a, b in zip(parallel, in_turn):
        np.testing.assert_allclose(a.obj, b.obj, rtol=0, atol=1e-5 * np.abs(b.obj).max())


def test_a_sequence_that_is_not_one_is_refused():
    assert phasing.iterations("3*(20*ER+180*HIO)+20*ER") == 620
    with pytest.raises(ValueError, match="not of the form"):
        phasing.iterations("3*(20*ER+")


def test_every_mode_phases_a_scan_without_a_gap_as_it_is(scan):
    counts, _, _ = scan
    for mode in ("forced", "interval", "zero"):
        _, _, choice, fill = reconstruction.reconstruct(counts, np.zeros(counts.shape, bool), mode=mode,
                                                        sequence=SHORT)
        assert choice.mode == "free" and choice.reason() == "free: no gap" and fill is None


def test_the_start_kept_is_the_one_the_others_reproduce_not_a_looser_one_with_a_lower_error():
    rng = np.random.default_rng(4)
    z, y, x = np.indices((24, 24, 24)) - 12
    compact = ((abs(z) < 4) & (abs(y) < 3) & (abs(x) < 5)) * np.exp(0.3j * z)
    loose = ((abs(z) < 9) & (abs(y) < 8) & (abs(x) < 9)) * np.exp(0.3j * z)  # a support that grew: fits better
    objects = [compact + 0.05 * rng.standard_normal(compact.shape) for _ in range(3)] + [loose]
    errors = [0.08, 0.09, 0.085, 0.06]
    kept, floor = reconstruction.most_reproducible(objects, errors)
    assert kept in (0, 1, 2) and len(floor) == 3
    assert sorted(floor)[1] > 0.9 and min(floor) < 0.8  # two starts reproduce it, the loose one does not
    # of two starts, which agree with each other equally, the lower error is kept
    assert reconstruction.most_reproducible(objects[2:], errors[2:])[0] == 1
    assert reconstruction.most_reproducible(objects[:1], errors[:1]) == (0, [])
    # a start that failed (an empty object) is never the one kept, whatever its error
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # its correlations are undefined
        assert reconstruction.most_reproducible([np.zeros_like(compact), *objects[:2]], [0.01, 0.08, 0.09])[0] != 0


def test_a_gap_that_does_not_fit_the_volume_is_refused():
    with pytest.raises(ValueError, match="a 38 px gap plane at columns 36-73 does not fit a volume 64 columns wide"):
        realspace.gap_at((64, 64, 64), 32, 38, "off")
    assert realspace.gap_at((64, 64, 64), 32, 6, "off")[0, 0].nonzero()[0].tolist() == [36, 37, 38, 39, 40, 41]


def test_simulated_validation_predicts_a_measured_file_when_it_ranks_the_versions_alike():
    from braggsynth.report.realspace import simulated_predicts_measured

    def row(pattern, kind, version, pcc, width=6):
        return {"pattern": pattern, "kind": kind, "gap_width_px": width, "position": "through", "version": version,
                "modulus_pcc_mean": pcc}

    versions = {"free": 0.5, "forced: model": 0.8, "interval: model": 0.7, "zero": 0.2, "gap-free": 0.99}
    table = [row(f"sim{i}", "simulated", v, pcc + 0.01 * i) for i in range(2) for v, pcc in versions.items()]
    table += [row("measured a", "measured", v, pcc) for v, pcc in versions.items()]  # the same order
    table += [row("measured b", "measured", v, 1 - pcc) for v, pcc in versions.items()]  # reversed
    table += [row("measured c", "measured", "free", 0.4, width=12)]  # a gap no simulated case has
    found = simulated_predicts_measured(table)
    assert found["measured a"] == pytest.approx(1.0) and found["measured b"] == pytest.approx(-1.0)
    assert np.isnan(found["measured c"])


def test_the_default_leaves_a_thin_gap_free_and_narrows_the_fill_in_a_wide_one_never_reading_the_gap(scan):
    """A 1 px gap (under half the fringe period of 3.5 px) hides no mode even half: free. A 12 px gap through the
    maximum puts most of its power in half-hidden modes (0.80 here: under the default's 0.9, chosen on 64^3 crops
    of larger particles, so the test sets its own threshold): the narrowed interval, the same whatever the gap's
    pixels hold."""
    counts, _, _ = scan
    peak_x = realspace.peak_position(counts)[2]
    thin, wide = (realspace.gap_at(counts.shape, peak_x, width, "through") for width in (1, 12))
    with scipy.fft.set_workers(2):
        choice = reconstruction.decide_mode(counts, thin, linear_fill(np.where(thin, 0, counts), thin), seed=1)
        assert choice.mode == "free" and choice.hidden.half_hidden_share == 0.0
        assert "the data pin the gap down" in choice.reason() and choice.fill is None
        garbage = np.where(wide, np.random.default_rng(9).random(counts.shape) * 1e9, counts)
        first, second = (reconstruction.decide_mode(values, wide, linear_fill(np.where(wide, 0, counts), wide),
                                                    free_below=0.7, seed=1) for values in (counts, garbage))
    assert first.mode == second.mode == "narrowed" and first.hidden.half_hidden_share > 0.7
    np.testing.assert_array_equal(first.fill.lower, second.fill.lower)
    inside = first.fill.upper[wide] > first.fill.lower[wide]
    assert inside.all() and "narrowed voxel by voxel" in first.reason()


def test_the_narrowed_interval_is_the_fill_where_hidden_and_the_calibrated_interval_where_half_hidden():
    filled = np.array([10.0, 10.0, 10.0, 0.0])
    fill = Fill(filled, filled / 2, filled * 2)
    hidden = np.array([1.0, 0.5, 0.0, 0.5])
    found = reconstruction.narrowed_interval(fill, hidden)
    np.testing.assert_allclose(found.lower[:2], [10.0, 5.0]) and np.testing.assert_allclose(found.upper[:2], [10, 20])
    wider = np.expm1(np.log1p(10) + 2 * (np.log1p(20) - np.log1p(10)))  # twice the log(I + 1) width
    assert found.upper[2] == pytest.approx(wider) and found.lower[2] < 5.0 and found.upper[3] == found.lower[3] == 0
    forced = reconstruction.narrowed_interval(Fill(filled), hidden)
    assert np.array_equal(forced.lower, filled) and np.array_equal(forced.upper, filled)


def test_pynx_recipes_are_modes_that_need_no_model(scan):
    """mask-interp: within 0.5-1.2 of the inverse-distance interpolation; zero-mask: zeros, then free."""
    counts, _, gap = scan
    fill = reconstruction.mask_interp_fill(counts, gap)
    assert np.all(fill.filled[gap] > 0) and np.allclose(fill.lower[gap], 0.5 * fill.filled[gap])
    assert np.allclose(fill.upper[gap], 1.2 * fill.filled[gap])
    for mode in ("mask-interp", "zero-mask"):
        best, found, choice, used = reconstruction.reconstruct(counts, gap, mode=mode, sequence=SHORT)
        assert choice.mode == mode and len(found) == 1 and (used is None) == (mode == "zero-mask")
    assert reconstruction.mode_options("zero-mask") == {"free_after": 0.6} and not reconstruction.mode_options("free")
