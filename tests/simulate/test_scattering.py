import importlib.util

import numpy as np
import pytest

from braggsynth.simulate import scattering, shapes

AU = {"element": "Au"}
CENTRE_TOLERANCE = 1e-6  # NUFFT error allowed, relative to the peak amplitude


@pytest.fixture(scope="module")
def strained_cube():
    """A 4 nm Au cube (about 1700 atoms) with random displacements of 0.1 Angstrom rms per axis."""
    atoms = shapes.build_particle({"kind": "cube", **AU}, size_nm=4.0)
    rng = np.random.default_rng(20240611)
    return atoms.positions + rng.normal(0.0, 0.1, size=atoms.positions.shape), atoms.info["lattice_constant"]


def sheared_rotated_basis(positions, oversampling=3.0, seed=0):
    """A deliberately general grid: random orientation, unequal steps, a shear between axes 0 and 1."""
    rotation = scattering.random_rotation(np.random.default_rng(seed), 40.0)
    basis = scattering.grid_basis(positions, (oversampling, 0.8 * oversampling, 1.3 * oversampling), rotation)
    basis[:, 0] += 0.35 * basis[:, 1]
    return basis


def centre(shape):
    return tuple(n // 2 for n in shape)


# --------------------------------------------------------------------------- the engine against exact sums


def test_direct_sum_matches_plain_numpy(strained_cube):
    positions, a = strained_cube
    rng = np.random.default_rng(1)
    q = scattering.reciprocal_vector((1, 1, 1), a) + rng.normal(0.0, 0.02, size=(40, 3))
    expected = np.exp(2j * np.pi * (q @ positions.T)).sum(axis=1)
    np.testing.assert_allclose(scattering.direct_sum(positions, q), expected, rtol=0, atol=1e-9 * len(positions))


def test_nufft_matches_direct_sum_at_peak_and_on_weak_fringes(strained_cube):
    positions, a = strained_cube
    g = scattering.reciprocal_vector((1, 1, 1), a)
    basis = sheared_rotated_basis(positions)
    shape = (48, 40, 32)  # unequal axes: a swapped axis order cannot pass
    amplitude = scattering.bragg_peak(positions, g, basis, shape, backend="finufft")
    peak = np.abs(amplitude).max()

    rng = np.random.default_rng(2)
    near = np.array(centre(shape)) + rng.integers(-2, 3, size=(60, 3))
    candidates = rng.integers(0, shape, size=(4000, 3))
    offset = np.abs(candidates - np.array(centre(shape))) / np.array(shape)
    far = candidates[offset.max(axis=1) >= 0.35][:200]
    assert len(far) == 200
    # The far points are really on the weak fringes, the near ones on the peak.
    assert np.abs(amplitude[tuple(far.T)]).max() < 0.1 * peak
    assert np.abs(amplitude[tuple(near.T)]).max() > 0.5 * peak

    for indices in (near, far):
        exact = scattering.direct_sum(positions, scattering.q_points(g, basis, indices, shape))
        error = np.abs(amplitude[tuple(indices.T)] - exact).max() / peak
        assert error < CENTRE_TOLERANCE


def test_direct_backend_equals_finufft_on_the_whole_grid(strained_cube):
    positions, a = strained_cube
    g = scattering.reciprocal_vector((2, 0, 0), a)
    basis = sheared_rotated_basis(positions, oversampling=2.0, seed=3)
    shape = (12, 10, 8)
    exact = scattering.bragg_peak(positions, g, basis, shape, backend="direct")
    fast = scattering.bragg_peak(positions, g, basis, shape, backend="finufft", tolerance=1e-12)
    assert fast.shape == exact.shape == shape and fast.dtype == np.complex128
    assert np.abs(fast - exact).max() < 1e-10 * len(positions)


def dirichlet(u, n):
    """sum_{m=0}^{n-1} exp(2 pi i u m) in closed form, reduced to u in [-1/2, 1/2) for accuracy."""
    u = np.asarray(u, dtype=float)
    u = u - np.round(u)
    small = np.abs(u) < 1e-12
    safe = np.where(small, 0.5, u)
    ratio = np.where(small, n, np.sin(np.pi * n * safe) / np.sin(np.pi * safe))
    return np.exp(1j * np.pi * u * (n - 1)) * ratio


def test_au111_peak_of_a_cube_of_cells_is_a_product_of_dirichlet_kernels():
    a = shapes.lattice_constant("Au")
    cells = 5
    fcc_basis = a * np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    lattice = a * np.stack(np.meshgrid(*[np.arange(cells)] * 3, indexing="ij"), axis=-1).reshape(-1, 3)
    positions = (lattice[:, None, :] + fcc_basis[None, :, :]).reshape(-1, 3)
    g = scattering.reciprocal_vector((1, 1, 1), a)
    basis = sheared_rotated_basis(positions, oversampling=2.5, seed=4)
    shape = (24, 20, 16)
    amplitude = scattering.bragg_peak(positions, g, basis, shape, backend="finufft", tolerance=1e-9)

    q = scattering.q_points(g, basis, np.indices(shape).reshape(3, -1).T, shape)
    structure_factor = np.exp(2j * np.pi * q @ fcc_basis.T).sum(axis=1)
    analytic = structure_factor * np.prod([dirichlet(a * q[:, i], cells) for i in range(3)], axis=0)
    assert abs(analytic.reshape(shape)[centre(shape)] - len(positions)) < 1e-9  # |F(G)| = N, phase 0
    assert np.abs(amplitude - analytic.reshape(shape)).max() < 1e-7 * len(positions)


def test_built_cube_peak_matches_the_fcc_parity_formula():
    """build_particle's cube is the even-parity sites of [-M, M]^3 (units a/2): F = (prod S + prod S(u + 1/2)) / 2."""
    atoms = shapes.build_particle({"kind": "cube", **AU}, size_nm=3.0)
    a = atoms.info["lattice_constant"]
    sites = atoms.positions / (a / 2)
    m = int(round(sites.max()))
    assert np.allclose(sites, np.round(sites)) and np.all(np.round(sites).sum(axis=1) % 2 == 0)
    assert len(atoms) == ((2 * m + 1) ** 3 + (-1) ** m) // 2

    def centred(u):  # sum_{n=-M}^{M} exp(2 pi i u n)
        return dirichlet(u, 2 * m + 1) * np.exp(-2j * np.pi * (u - np.round(u)) * m)

    g = scattering.reciprocal_vector((1, 1, 1), a)
    basis = sheared_rotated_basis(atoms.positions, seed=5)
    shape = (20, 18, 16)
    amplitude = scattering.bragg_peak(atoms.positions, g, basis, shape, backend="finufft")
    u = scattering.q_points(g, basis, np.indices(shape).reshape(3, -1).T, shape) * a / 2
    analytic = 0.5 * (np.prod([centred(u[:, i]) for i in range(3)], axis=0)
                      + np.prod([centred(u[:, i] + 0.5) for i in range(3)], axis=0))
    assert np.abs(amplitude - analytic.reshape(shape)).max() < 1e-7 * len(atoms)


# --------------------------------------------------------------------------- symmetries and sampling


def centro_asymmetry(intensity):
    """max |I(k) - I(-k)| over the grid, skipping the unpaired index 0 (k = -n/2) of even axes."""
    core = intensity[tuple(slice(1 - n % 2, None) for n in intensity.shape)]
    return np.abs(core - core[::-1, ::-1, ::-1]).max()


def test_ideal_crystal_peaks_at_the_centre_with_centrosymmetric_intensity():
    atoms = shapes.build_particle({"kind": "octahedron", **AU}, size_nm=4.0)
    a = atoms.info["lattice_constant"]
    g = scattering.reciprocal_vector((1, 1, 1), a)
    basis = sheared_rotated_basis(atoms.positions, seed=6)
    for shape in ((32, 30, 28), (31, 29, 27)):
        intensity = scattering.intensity(scattering.bragg_peak(atoms.positions, g, basis, shape, backend="finufft"))
        assert np.unravel_index(np.argmax(intensity), shape) == centre(shape)
        assert intensity[centre(shape)] == pytest.approx(len(atoms) ** 2, rel=1e-8)
        assert centro_asymmetry(intensity) < 1e-7 * intensity.max()

    # A displacement field even in r (bending) breaks the symmetry: the check can fail.
    r = atoms.positions
    bent = r + 1.0 * np.outer((r[:, 0] / np.abs(r[:, 0]).max()) ** 2, g / np.linalg.norm(g))
    shape = (32, 30, 28)
    intensity = scattering.intensity(scattering.bragg_peak(bent, g, basis, shape, backend="finufft"))
    assert centro_asymmetry(intensity) > 1e-3 * intensity.max()


def test_rotating_the_q_frame_equals_rotating_the_atoms_back(strained_cube):
    positions, a = strained_cube
    g = scattering.reciprocal_vector((1, 1, 1), a)
    basis = scattering.grid_basis(positions, 2.0)
    rotation = scattering.rotation_matrix((20.0, -35.0, 50.0))
    shape = (24, 24, 24)
    # F(R q; r) = sum exp(2 pi i (R q) . r) = sum exp(2 pi i q . (R^T r)) = F(q; R^T r); rows r @ R are R^T r.
    rotated_frame = scattering.bragg_peak(positions, rotation @ g, rotation @ basis, shape, backend="finufft")
    rotated_atoms = scattering.bragg_peak(positions @ rotation, g, basis, shape, backend="finufft")
    assert np.abs(rotated_frame - rotated_atoms).max() < 1e-7 * len(positions)
    unrotated = scattering.bragg_peak(positions, g, basis, shape, backend="finufft")
    assert np.abs(rotated_frame - unrotated).max() > 0.1 * len(positions)


def test_rotation_helpers_are_proper_rotations():
    rng = np.random.default_rng(7)
    for _ in range(20):
        r = scattering.random_rotation(rng, 25.0)
        np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
        assert np.linalg.det(r) == pytest.approx(1.0)
        angle = np.degrees(np.arccos(np.clip((np.trace(r) - 1) / 2, -1, 1)))
        assert angle <= 25.0 + 1e-9
    # Extrinsic x, then y, then z: a 90 degree turn about z alone maps x onto y.
    np.testing.assert_allclose(scattering.rotation_matrix((0, 0, 90)) @ [1, 0, 0], [0, 1, 0], atol=1e-12)
    np.testing.assert_allclose(
        scattering.rotation_matrix((90, 90, 0)) @ [0, 1, 0], [1, 0, 0], atol=1e-12  # y -> z (about x) -> x (about y)
    )


def test_grid_basis_steps_are_inverse_extent_over_oversampling(strained_cube):
    positions, _ = strained_cube
    rotation = scattering.rotation_matrix((10.0, 20.0, 30.0))
    basis = scattering.grid_basis(positions, (2.0, 3.0, 4.0), rotation)
    projected = positions @ rotation
    extent = projected.max(axis=0) - projected.min(axis=0)
    steps = 1 / ((2.0, 3.0, 4.0) * extent)
    np.testing.assert_allclose(basis.T @ basis, np.diag(steps**2), rtol=1e-12, atol=1e-12 * steps.max() ** 2)
    np.testing.assert_allclose(basis / np.linalg.norm(basis, axis=0), rotation, atol=1e-12)


def fringe_zeros(profile):
    """Sub-pixel positions where a real line profile changes sign (linear interpolation)."""
    i = np.nonzero(np.sign(profile[:-1]) * np.sign(profile[1:]) < 0)[0]
    return i + profile[i] / (profile[i] - profile[i + 1])


def test_oversampling_sets_the_fringe_period():
    atoms = shapes.build_particle({"kind": "cube", **AU}, size_nm=6.0)
    a = atoms.info["lattice_constant"]
    r = atoms.positions
    g = scattering.reciprocal_vector((1, 1, 1), a)
    extent = np.ptp(r[:, 0])
    # 2M + 1 atomic planes a/2 apart: fringe zeros every 1 / (L + a/2) in q (L = extent).
    expected_period_q = 1.0 / (extent + a / 2)
    periods = {}
    for s in (2.0, 4.0):
        basis = scattering.grid_basis(r, s)
        line = scattering.bragg_peak(r, g, basis, (256, 1, 1), backend="finufft")[:, 0, 0]
        assert np.abs(line.imag).max() < 1e-6 * np.abs(line).max()  # centro-symmetric: F is real
        zeros = fringe_zeros(line.real)
        spacing = np.median(np.diff(zeros))  # the central lobe is two periods wide, the median ignores it
        periods[s] = spacing
        dq = basis[0, 0]
        assert spacing * dq == pytest.approx(expected_period_q, rel=0.01)
        assert spacing == pytest.approx(s * extent / (extent + a / 2), rel=0.01)  # about s pixels
    assert periods[4.0] / periods[2.0] == pytest.approx(2.0, rel=0.005)


def test_detector_frame_basis_geometry():
    a = shapes.lattice_constant("Au")
    g = scattering.reciprocal_vector((1, 1, 1), a)
    energy, distance, pixel, step = 9.0, 1.0, 55e-6, 0.01
    basis = scattering.detector_frame_basis(g, energy, distance, pixel, step)
    wavelength = scattering.HC_KEV_ANGSTROM / energy
    theta = np.arcsin(wavelength * np.linalg.norm(g) / 2)
    norms = np.linalg.norm(basis, axis=0)
    np.testing.assert_allclose(norms[1:], pixel / (distance * wavelength), rtol=1e-12)
    assert norms[0] == pytest.approx(np.radians(step) * np.linalg.norm(g), rel=1e-12)
    unit_g = g / np.linalg.norm(g)
    cosines = unit_g @ basis / norms
    assert abs(cosines[0]) < 1e-12 and abs(cosines[2]) < 1e-12  # rocking and columns normal to G
    assert abs(cosines[1]) == pytest.approx(np.cos(theta), rel=1e-12)  # rows at theta from G
    with pytest.raises(ValueError, match="not \\|G\\|"):
        scattering.detector_frame_basis(g, energy, distance, pixel, step, detector_angles_deg=(10.0, 0.0))


# --------------------------------------------------------------------------- inputs and errors


def test_reciprocal_vector():
    np.testing.assert_allclose(scattering.reciprocal_vector((1, 1, 1), 4.0), [0.25, 0.25, 0.25])
    np.testing.assert_allclose(scattering.reciprocal_vector((2, 0, 0), 4.0), [0.5, 0.0, 0.0])
    for forbidden in ((1, 0, 0), (1, 1, 0), (2, 1, 0), (0, 0, 0)):
        with pytest.raises(ValueError) as error:
            scattering.reciprocal_vector(forbidden, 4.0)
        assert "\n" not in str(error.value)


def test_unknown_backend_is_a_one_line_value_error(strained_cube):
    positions, a = strained_cube
    with pytest.raises(ValueError, match="'gpu-magic'") as error:
        scattering.bragg_peak(positions, scattering.reciprocal_vector((1, 1, 1), a), np.eye(3) * 1e-3, (4, 4, 4),
                              backend="gpu-magic")
    assert "\n" not in str(error.value) and "finufft" in str(error.value)
    assert "'gpu-magic'" in scattering.backend_problem("gpu-magic")
    assert scattering.backend_problem("finufft") is None and scattering.backend_problem("direct") is None


@pytest.mark.parametrize("backend, package", [("pynx", "PyNX"), ("cufinufft", "cufinufft")])
def test_missing_optional_backend_names_its_package(strained_cube, backend, package):
    module = {"pynx": "pynx.scattering", "cufinufft": "cufinufft"}[backend]
    try:
        present = importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        present = False
    if present:
        pytest.skip(f"{module} is installed here")
    positions, a = strained_cube
    with pytest.raises(ImportError, match=package) as error:
        scattering.bragg_peak(positions, scattering.reciprocal_vector((1, 1, 1), a), np.eye(3) * 1e-3, (4, 4, 4),
                              backend=backend)
    assert "\n" not in str(error.value)
    assert backend not in scattering.available_backends()
    assert package in scattering.backend_problem(backend)


def test_auto_backend_runs_here(strained_cube):
    positions, a = strained_cube
    g = scattering.reciprocal_vector((1, 1, 1), a)
    basis = scattering.grid_basis(positions, 3.0)
    assert "finufft" in scattering.available_backends()
    assert scattering.resolve_backend("auto") in ("finufft", "cufinufft")
    auto = scattering.bragg_peak(positions, g, basis, (8, 8, 8))
    explicit = scattering.bragg_peak(positions, g, basis, (8, 8, 8), backend="finufft")
    assert np.abs(auto - explicit).max() < 1e-6 * len(positions)


def test_oversampling_draws_uniform_or_log_uniform_in_the_range():
    uniform = scattering.draw_oversampling(np.random.default_rng(0), [2.0, 8.0], 20000)
    logged = scattering.draw_oversampling(np.random.default_rng(0), [2.0, 8.0], 20000, "log-uniform")
    assert 2.0 <= uniform.min() and uniform.max() <= 8.0 and 2.0 <= logged.min() and logged.max() <= 8.0
    assert np.median(uniform) == pytest.approx(5.0, abs=0.1)
    assert np.median(logged) == pytest.approx(4.0, abs=0.1)  # the geometric mean: half the draws below 4
    assert np.mean(logged < 4.0) == pytest.approx(0.5, abs=0.02)
    with pytest.raises(ValueError, match="not one of"):
        scattering.draw_oversampling(np.random.default_rng(0), [2.0, 8.0], 3, "normal")
