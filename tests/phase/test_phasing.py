"""Phase retrieval with cohere-core: a reconstruction against the true object, gaps forced to zero or left
free, registration, and the real-space check of inpainting."""

import numpy as np
import pytest
import scipy.fft

from braggsynth.phase import phasing
from braggsynth.report import realspace
from braggsynth.simulate import frames, scattering, shapes

N = 64
SEQUENCE = "1*(20*ER+60*HIO)+1*(20*ER+60*HIO)+40*ER"  # 200 iterations keep the tests short


@pytest.fixture(scope="module")
def cube_peak():
    """A 5 nm Au cube's exact 111 amplitude on a 64^3 orthogonal grid at oversampling 3.5."""
    atoms = shapes.build_particle({"kind": "cube", "element": "Au"}, size_nm=5.0)
    g = scattering.reciprocal_vector((1, 1, 1), atoms.info["lattice_constant"])
    geometry = frames.draw_orthogonal(np.random.default_rng(0), atoms.positions,
                                      {"oversampling": [3.5, 3.5], "oversampling_per_axis": False,
                                       "max_rotation_deg": 20.0})
    return scattering.bragg_peak(atoms.positions, g, geometry.basis, (N, N, N))


def test_registration_undoes_a_shift_the_twin_and_a_global_phase(cube_peak):
    truth = phasing.true_object(cube_peak)
    moved = np.roll(phasing.twin(truth), (3, -2, 5), axis=(0, 1, 2)) * np.exp(1.3j)
    scores = phasing.compare(moved, truth)
    assert scores["modulus_pcc"] > 0.999 and scores["phase_rms_rad"] < 1e-6


def test_a_gap_free_pattern_is_reconstructed_and_a_zeroed_gap_wrecks_it(cube_peak):
    intensity = np.abs(cube_peak) ** 2
    truth = phasing.true_object(cube_peak)
    gap = realspace.gap_plane(intensity.shape, N // 2, 6)
    with scipy.fft.set_workers(2):
        scores = {name: phasing.compare(phasing.phase(values, unknown=unknown, seed=1, sequence=SEQUENCE).obj, truth)
                  for name, (values, unknown) in (("gap-free", (intensity, None)),
                                                  ("gap at zero", (np.where(gap, 0.0, intensity), None)),
                                                  ("gap free", (intensity, gap)))}
    assert scores["gap-free"]["modulus_pcc"] > 0.9 and scores["gap-free"]["phase_rms_rad"] < 0.35
    assert scores["gap at zero"]["modulus_pcc"] < scores["gap-free"]["modulus_pcc"] - 0.2
    # left free, the gap's pixels are no longer forced to zero: the particle comes back closer
    assert scores["gap free"]["modulus_pcc"] > scores["gap at zero"]["modulus_pcc"]
    assert scores["gap free"]["phase_rms_rad"] < scores["gap at zero"]["phase_rms_rad"]


def test_the_same_seed_gives_the_same_reconstruction(cube_peak):
    intensity = np.abs(cube_peak) ** 2
    sequence = "10*ER+20*HIO+10*ER"
    first, second, other = (phasing.phase(intensity, seed=seed, sequence=sequence).obj for seed in (4, 4, 5))
    assert np.array_equal(first, second) and not np.allclose(first, other)


def test_free_pixels_keep_the_estimate_and_measured_ones_follow_the_data(cube_peak):
    """After the run, the modulus error is computed over measured pixels only: a huge value in the gap is ignored."""
    intensity = np.abs(cube_peak) ** 2
    gap = realspace.gap_plane(intensity.shape, N // 2, 4)
    corrupted = np.where(gap, 1e12, intensity)
    sequence = "20*ER"
    free = phasing.phase(corrupted, unknown=gap, seed=2, sequence=sequence)
    clean = phasing.phase(intensity, unknown=gap, seed=2, sequence=sequence)
    assert np.array_equal(free.obj, clean.obj) and np.array_equal(free.errors, clean.errors)


def test_the_evaluation_scores_the_free_gap_fill_beside_the_baselines(cube_peak):
    from braggsynth.report import evaluate

    counts = np.random.default_rng(0).poisson(np.abs(cube_peak) ** 2 * 1e5 / (np.abs(cube_peak) ** 2).max())
    gap = realspace.gap_plane(counts.shape, N // 2, 4)
    volume = {"scope": "held-out patterns vs counts", "name": "cube", "gap_width_px": 4,
              "intensity": counts.astype(np.float32), "gap_mask": gap}
    with scipy.fft.set_workers(2):
        rows, _ = evaluate.evaluate_volumes([volume], {}, baselines=("linear",), progress=False, phasing_fill=True)
    scores = {row["method"]: row["pcc_mean"] for row in rows if row["gap_width_px"] == 4}
    assert set(scores) == {"linear", phasing.GAP_FILL}
    assert 0.3 < scores[phasing.GAP_FILL] <= 1


def test_a_model_below_the_phasing_fill_is_not_called_above_the_baselines():
    from braggsynth.report import evaluate

    def row(method, pcc):
        return {"scope": "held-out patterns vs counts", "gap_width_px": 6, "method": method, "pcc_mean": pcc}

    lines = evaluate.verdicts([row("shipped", 0.93), row("biharmonic", 0.90), row(phasing.GAP_FILL, 0.95)],
                              ["shipped"])
    assert len(lines) == 1 and "NOT above" in lines[0] and phasing.GAP_FILL in lines[0]


def test_partial_coherence_is_fitted_and_recovers_the_object_better_than_coherent_phasing():
    """Data spread by a known point spread (sigma 0.8 px): phasing with ``psf`` fits a spread of about that
    width and finds the object better than phasing that takes the data as coherent, from the same starts."""
    from braggsynth.simulate import coherence

    n = 48
    z, y, x = np.mgrid[:n, :n, :n] - n // 2
    inside = (np.abs(z) + np.abs(y) + np.abs(x) < 14) & (np.abs(x) < 9)
    obj = np.where(inside, np.exp(0.3j * np.sin(2 * np.pi * y / 20)), 0)
    amplitude = np.fft.fftshift(np.fft.fftn(np.fft.ifftshift(obj)))
    intensity = coherence.partial_coherence(1e5 * np.abs(amplitude) ** 2 / np.abs(amplitude).max() ** 2, 0.8, 0.1)
    counts = np.random.default_rng(0).poisson(intensity).astype(float)
    truth = phasing.true_object(amplitude)
    found = {psf: [phasing.phase(counts, seed=seed, psf=psf, sequence="2*(20*ER+180*HIO)+20*ER")
                   for seed in (0, 1)] for psf in (False, True)}
    score = {psf: np.mean([phasing.compare(r.obj, truth)["modulus_pcc"] for r in runs]) for psf, runs in found.items()}
    assert score[True] > score[False] + 0.03
    assert all(r.psf is None for r in found[False])
    for r in found[True]:
        assert r.psf.sum() == pytest.approx(1.0) and np.all(r.psf >= 0)
        assert np.all((0.4 < coherence.spread_widths(r.psf)) & (coherence.spread_widths(r.psf) < 1.3))


def test_the_algorithm_sequence_is_expanded_and_pynx_zero_mask_frees_after_60_percent_of_hio():
    steps = phasing.algorithm_steps(phasing.DEFAULT_SEQUENCE)
    assert len(steps) == phasing.iterations(phasing.DEFAULT_SEQUENCE) == 620 and steps[:21] == 20 * ["ER"] + ["HIO"]
    release = phasing.release_iteration(phasing.DEFAULT_SEQUENCE, 0.6)
    assert sum(step == "HIO" for step in steps[:release]) == 324 == int(0.6 * 540) and steps[release - 1] == "HIO"
    assert phasing.release_iteration("20*ER", 0.6) == 20
    with pytest.raises(ValueError, match="3\\*"):
        phasing.algorithm_steps("20*ER+")


def test_zero_mask_auto_holds_the_gap_at_zero_then_frees_it(cube_peak):
    """PyNX's zero_mask=auto: the gap at zero for the first 60 % of HIO, then free: its final |F|^2 there is
    held near zero throughout, and no longer once freed."""
    intensity = np.abs(cube_peak) ** 2
    gap = realspace.gap_plane(intensity.shape, N // 2, 6)
    values = np.where(gap, 0.0, intensity)

    def gap_share(reconstruction):
        pattern = phasing.diffraction(reconstruction.obj)
        return pattern[gap].sum() / pattern.sum()

    with scipy.fft.set_workers(2):
        held, released = (phasing.phase(values, unknown=gap, bounds=(0.0, 0.0), seed=1, sequence=SEQUENCE,
                                        free_after=after) for after in (None, 0.6))
    assert gap_share(held) < 1e-3 and gap_share(released) > 10 * gap_share(held)
    with pytest.raises(ValueError, match="free_after 1.5"):
        phasing.phase(values, unknown=gap, seed=1, sequence="10*ER", free_after=1.5)
