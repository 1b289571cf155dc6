"""Bragg peaks of atomistic particles: the kinematic sum on a 3D reciprocal-space grid.

The scattered amplitude of N identical atoms at positions r_j is::

    F(q) = sum_j exp(2 pi i q . r_j)

in the crystallographic convention: q in 1/Angstrom (no 2 pi), r in Angstrom.
The atoms are of one element and the atomic form factor ``f(|q|)``, the
Debye-Waller factor and polarisation are left out: across a Bragg peak they
vary by well under a percent and only scale the peak as a whole.

The peak is sampled on a grid q(k) = G + B k, where G is the reciprocal-lattice
vector of the reflection, k = (k0, k1, k2) are integers with
-n_i/2 <= k_i < n_i/2 and B is a 3x3 matrix whose columns are the q steps
along the array axes 0, 1, 2 (any rotation or shear).  Arrays are
(z, y, x) = (rocking, detector rows, detector columns); array index i along
an axis of length n is k = i - n//2, so the centre index n//2 is exactly G.

On such a grid the sum is one type-1 non-uniform FFT (FINUFFT)::

    F(G + B k) = sum_j c_j exp(i k . x_j),
    c_j = exp(2 pi i G . r_j),   x_j = 2 pi B^T r_j   (wrapped into [-pi, pi)),

with the + sign and centred mode ordering.  Both the strengths and the points
are reduced modulo one cycle in float64 before the transform, so the result
is the direct sum to the requested relative tolerance (of ``sum_j |c_j| = N``),
whatever the size of q . r.

Vectors are in the cubic crystal frame of :mod:`braggsynth.simulate.shapes`:
x, y, z along [100], [010], [001].
"""

from __future__ import annotations

import math

import numba
import numpy as np

BACKENDS = ("auto", "finufft", "cufinufft", "direct", "pynx")

_MISSING = {
    "cufinufft": "backend 'cufinufft' needs the cufinufft package and a CUDA GPU: pip install cufinufft cupy-cuda12x",
    "pynx": "backend 'pynx' needs PyNX, which is not on PyPI (the 'pynx' there is unrelated): "
            "install it from https://gitlab.esrf.fr/favre/PyNX",
}
_NO_GPU = "backend 'cufinufft' needs a CUDA GPU, and cupy sees none"

#: hc in keV * Angstrom, for the X-ray wavelength lambda = HC_KEV_ANGSTROM / E.
HC_KEV_ANGSTROM = 12.398419843320026


# --------------------------------------------------------------------------- reflections and frames


def reciprocal_vector(reflection, lattice_constant: float) -> np.ndarray:
    """Reciprocal-lattice vector G = (h, k, l) / a of a reflection of an FCC crystal.

    Parameters
    ----------
    reflection
        three integers (h, k, l).
    lattice_constant
        cubic lattice constant a, in Angstrom.

    Returns
    -------
    (3,) float64 array, 1/Angstrom, in the cubic crystal frame.

    Raises
    ------
    ValueError
        If (h, k, l) is (0, 0, 0), not integer, or forbidden in FCC (mixed parity).
    """
    hkl = np.asarray(reflection, dtype=float).reshape(-1)
    if hkl.shape != (3,) or not np.all(hkl == np.round(hkl)):
        raise ValueError(f"a reflection is three integers (h, k, l), got {reflection!r}")
    h, k, l = (int(v) for v in hkl)
    if (h, k, l) == (0, 0, 0):
        raise ValueError("reflection (0, 0, 0) is the forward beam, not a Bragg peak")
    if len({h % 2, k % 2, l % 2}) != 1:
        raise ValueError(f"reflection ({h}, {k}, {l}) is forbidden in FCC: h, k, l must be all odd or all even")
    if lattice_constant <= 0:
        raise ValueError(f"lattice_constant must be positive, got {lattice_constant}")
    return np.array([h, k, l], dtype=np.float64) / float(lattice_constant)


def axis_angle_rotation(axis, angle_deg: float) -> np.ndarray:
    """Rotation matrix of ``angle_deg`` degrees about ``axis`` (right hand, Rodrigues formula).

    Returns a (3, 3) float64 array R acting on column vectors: r' = R @ r.
    """
    axis = np.asarray(axis, dtype=np.float64)
    norm = np.linalg.norm(axis)
    if norm == 0:
        raise ValueError("rotation axis is the zero vector")
    ux, uy, uz = axis / norm
    cross = np.array([[0.0, -uz, uy], [uz, 0.0, -ux], [-uy, ux, 0.0]])
    angle = math.radians(angle_deg)
    return np.eye(3) + math.sin(angle) * cross + (1.0 - math.cos(angle)) * (cross @ cross)


def rotation_matrix(angles_deg) -> np.ndarray:
    """Rotation from three Euler angles (alpha, beta, gamma) in degrees.

    Convention: extrinsic rotations about the fixed axes x, then y, then z,
    R = Rz(gamma) @ Ry(beta) @ Rx(alpha), acting on column vectors.

    Returns a (3, 3) float64 array.
    """
    alpha, beta, gamma = (float(a) for a in angles_deg)
    return (
        axis_angle_rotation((0, 0, 1), gamma)
        @ axis_angle_rotation((0, 1, 0), beta)
        @ axis_angle_rotation((1, 0, 0), alpha)
    )


def random_rotation(rng: np.random.Generator, max_angle_deg: float) -> np.ndarray:
    """A random rotation of at most ``max_angle_deg`` about a uniformly random axis.

    Used to give each pattern its own orientation of the q grid relative to
    the crystal.  With max_angle_deg >= 180 the orientation is uniform over
    SO(3) (Haar measure); below, the angle is drawn uniformly in
    [0, max_angle_deg].  Returns a (3, 3) float64 array.
    """
    if max_angle_deg >= 180:
        from scipy.spatial.transform import Rotation

        return Rotation.random(random_state=rng).as_matrix()
    axis = rng.standard_normal(3)
    while np.linalg.norm(axis) < 1e-12:
        axis = rng.standard_normal(3)
    return axis_angle_rotation(axis, rng.uniform(0.0, float(max_angle_deg)))


#: How an oversampling ratio is drawn from its [min, max] range: uniformly, or uniformly in its logarithm
#: (a scale: as many patterns between 2 and 4 as between 4 and 8).
OVERSAMPLING_DISTRIBUTIONS = ("uniform", "log-uniform")


def draw_oversampling(rng: np.random.Generator, oversampling_range, size: int,
                      distribution: str = "uniform") -> np.ndarray:
    """``size`` oversampling ratios in ``oversampling_range`` = [min, max], by one call to ``rng.uniform``
    (:data:`OVERSAMPLING_DISTRIBUTIONS`: ``uniform`` in the ratio, or ``log-uniform``)."""
    low, high = (float(v) for v in oversampling_range)
    if distribution == "uniform":
        return rng.uniform(low, high, size=size)
    if distribution == "log-uniform":
        return np.exp(rng.uniform(np.log(low), np.log(high), size=size))
    raise ValueError(f"oversampling distribution {distribution!r} is not one of {OVERSAMPLING_DISTRIBUTIONS}")


def _rotation_between(v_from, v_to) -> np.ndarray:
    """The smallest rotation taking the direction of ``v_from`` onto that of ``v_to``."""
    a = np.asarray(v_from, dtype=float) / np.linalg.norm(v_from)
    b = np.asarray(v_to, dtype=float) / np.linalg.norm(v_to)
    axis = np.cross(a, b)
    sin_angle, cos_angle = np.linalg.norm(axis), float(a @ b)
    if sin_angle < 1e-15:
        if cos_angle > 0:
            return np.eye(3)
        axis = np.cross(a, [1.0, 0.0, 0.0] if abs(a[0]) < 0.9 else [0.0, 1.0, 0.0])
        return axis_angle_rotation(axis, 180.0)
    return axis_angle_rotation(axis, math.degrees(math.atan2(sin_angle, cos_angle)))


# --------------------------------------------------------------------------- grids


def extents_along(positions, directions) -> np.ndarray:
    """Extent (Angstrom) of the atoms along each unit direction (rows of ``directions``, (3, 3))."""
    projected = np.asarray(positions, dtype=np.float64) @ np.asarray(directions, dtype=np.float64).T
    return projected.max(axis=0) - projected.min(axis=0)


def grid_basis(positions: np.ndarray, oversampling, rotation: np.ndarray | None = None) -> np.ndarray:
    """Orthogonal q-step basis B = R @ diag(dq) sampling a particle at a given oversampling ratio.

    Along the rotated axis e_i = R[:, i] the particle extends over
    L_i = max_j(r_j . e_i) - min_j(r_j . e_i), and the step is
    dq_i = 1 / (s_i L_i): fringes of period about 1 / L_i span s_i pixels.

    Parameters
    ----------
    positions
        (N, 3) float array, atom positions in Angstrom.
    oversampling
        float or 3 floats, oversampling ratio s_i per array axis (>= 1 for
        a pattern that can be phased).
    rotation
        (3, 3) rotation R from the array axes to the crystal frame; the
        identity (array axis i along crystal axis i) when None.

    Returns
    -------
    (3, 3) float64 array B in 1/Angstrom, column i the step of array axis i.
    """
    positions = np.asarray(positions, dtype=np.float64)
    rotation = np.eye(3) if rotation is None else np.asarray(rotation, dtype=np.float64)
    ratio = np.broadcast_to(np.asarray(oversampling, dtype=np.float64), (3,))
    if np.any(ratio <= 0):
        raise ValueError(f"oversampling must be positive, got {oversampling!r}")
    extent = extents_along(positions, rotation.T)
    if np.any(extent <= 0):
        raise ValueError(f"the particle has no extent along a grid axis (extents {extent.tolist()} Angstrom)")
    return rotation @ np.diag(1.0 / (ratio * extent))


def lab_scattering_vector(energy_kev: float, delta_deg: float, nu_deg: float) -> np.ndarray:
    """q = k_f - k_i (1/Angstrom, lab frame: z along the beam, y up) seen by a detector at elevation delta
    and in-plane angle nu: k_f = u / lambda, u = (sin nu cos delta, sin delta, cos nu cos delta)."""
    delta, nu = math.radians(delta_deg), math.radians(nu_deg)
    u = np.array([math.sin(nu) * math.cos(delta), math.sin(delta), math.cos(nu) * math.cos(delta)])
    return (u - np.array([0.0, 0.0, 1.0])) * float(energy_kev) / HC_KEV_ANGSTROM


def detector_frame_basis(
    reflection_vector,
    energy_kev: float,
    detector_distance_m: float,
    pixel_size_m: float,
    rocking_step_deg: float,
    detector_angles_deg=None,
    rocking_axis=(1.0, 0.0, 0.0),
) -> np.ndarray:
    """The sheared q-step basis of a rocking scan recorded on a 2D detector, in the crystal frame.

    Laboratory frame: z downstream along the incident beam, y vertical up, x
    horizontal (x = y cross z).  With lambda = hc / E, the incident wave vector
    is k_i = z / lambda and a detector at elevation delta (about -x) and
    in-plane angle nu (about y) sees k_f = u / lambda along
    u = (sin nu cos delta, sin delta, cos nu cos delta); q = k_f - k_i.

    - array axis 1 (detector rows) steps by p / (D lambda) along
      e_row = du/d delta = (-sin nu sin delta, cos delta, -cos nu sin delta),
    - array axis 2 (detector columns) steps by p / (D lambda) along
      e_col = du/d nu / cos delta = (cos nu, 0, -sin nu),
    - array axis 0 (rocking) steps by -d_omega (a x q): rotating the crystal by
      d_omega (radians) about the lab axis ``a`` moves the measured q by that
      amount in the crystal's own frame,

    where p is the pixel size and D the sample-detector distance (small-angle
    pixel steps, exact to O(p / D)).  Flip the sign of a column for a detector
    whose rows or columns run the other way.

    The lab basis is finally rotated by the smallest rotation taking the
    measured q onto the reflection vector G, so that q(k = 0) = G in the
    crystal frame, as :func:`bragg_peak` expects.

    Parameters
    ----------
    reflection_vector
        (3,) G in 1/Angstrom (crystal frame).
    energy_kev
        X-ray energy, keV.
    detector_distance_m, pixel_size_m
        D and p, metres.
    rocking_step_deg
        rocking-curve angular step, degrees.
    detector_angles_deg
        (delta, nu) in degrees; default (2 theta, 0), the
        vertical scattering geometry with the Bragg angle theta of ``|G|``.
    rocking_axis
        lab axis of the rocking rotation; default x (vertical
        scattering plane, as for the eta circle of ID01).

    Returns
    -------
    (3, 3) float64 array B, 1/Angstrom, columns = steps of array axes 0, 1, 2.

    Raises
    ------
    ValueError
        If the Bragg condition cannot be met at this energy, or the given
        detector angles do not put ``|q|`` within 0.1 % of ``|G|``.
    """
    g = np.asarray(reflection_vector, dtype=np.float64)
    wavelength = HC_KEV_ANGSTROM / float(energy_kev)
    sin_theta = wavelength * np.linalg.norm(g) / 2.0
    if not 0.0 < sin_theta < 1.0:
        raise ValueError(f"no Bragg condition for |G| = {np.linalg.norm(g):.4f} 1/A at {energy_kev} keV")
    if detector_angles_deg is None:
        delta, nu = 2.0 * math.asin(sin_theta), 0.0
    else:
        delta, nu = (math.radians(float(a)) for a in detector_angles_deg)
    q_lab = lab_scattering_vector(energy_kev, math.degrees(delta), math.degrees(nu))
    if abs(np.linalg.norm(q_lab) / np.linalg.norm(g) - 1.0) > 1e-3:
        raise ValueError(
            f"detector angles {detector_angles_deg} give |q| = {np.linalg.norm(q_lab):.5f} 1/A, "
            f"not |G| = {np.linalg.norm(g):.5f} 1/A"
        )
    e_row = np.array([-math.sin(nu) * math.sin(delta), math.cos(delta), -math.cos(nu) * math.sin(delta)])
    e_col = np.array([math.cos(nu), 0.0, -math.sin(nu)])
    pixel_step = float(pixel_size_m) / (float(detector_distance_m) * wavelength)
    axis = np.asarray(rocking_axis, dtype=np.float64) / np.linalg.norm(rocking_axis)
    rocking = -math.radians(float(rocking_step_deg)) * np.cross(axis, q_lab)
    basis_lab = np.column_stack([rocking, pixel_step * e_row, pixel_step * e_col])
    return _rotation_between(q_lab, g) @ basis_lab


def q_points(reflection_vector, basis, indices, shape) -> np.ndarray:
    """q vectors of array indices on the grid q(k) = G + B k, k = index - n//2.

    Parameters
    ----------
    reflection_vector
        (3,) G, 1/Angstrom.
    basis
        (3, 3) B, 1/Angstrom, column i the step of array axis i.
    indices
        (m, 3) integer array indices (i0, i1, i2) into an array of ``shape``.
    shape
        (n0, n1, n2).

    Returns
    -------
    (m, 3) float64 array of q in 1/Angstrom.
    """
    k = np.atleast_2d(np.asarray(indices)) - np.asarray(shape, dtype=np.int64) // 2
    return np.asarray(reflection_vector, dtype=np.float64) + k @ np.asarray(basis, dtype=np.float64).T


def intensity(amplitude: np.ndarray) -> np.ndarray:
    """``|F|^2`` as float64 (real part squared plus imaginary part squared)."""
    amplitude = np.asarray(amplitude)
    return amplitude.real.astype(np.float64) ** 2 + amplitude.imag.astype(np.float64) ** 2


# --------------------------------------------------------------------------- exact reference sums


@numba.njit(parallel=True, fastmath=False, cache=True)
def _direct_sum_kernel(positions, q, block):  # pragma: no cover - compiled
    m, natoms = q.shape[0], positions.shape[0]
    out = np.empty(m, dtype=np.complex128)
    for iq in numba.prange(m):
        qx, qy, qz = q[iq, 0], q[iq, 1], q[iq, 2]
        total_re, total_im = 0.0, 0.0
        for start in range(0, natoms, block):  # blocked sums: rounding grows as block + N/block
            part_re, part_im = 0.0, 0.0
            for j in range(start, min(start + block, natoms)):
                cycles = qx * positions[j, 0] + qy * positions[j, 1] + qz * positions[j, 2]
                phase = 2.0 * np.pi * (cycles - np.floor(cycles + 0.5))
                part_re += np.cos(phase)
                part_im += np.sin(phase)
            total_re += part_re
            total_im += part_im
        out[iq] = total_re + 1j * total_im
    return out


def direct_sum(positions: np.ndarray, q_points: np.ndarray) -> np.ndarray:
    """Exact F(q) = sum_j exp(2 pi i q . r_j) at arbitrary q points.

    Phases in float64, reduced to one cycle before the sine and cosine, and
    block-wise accumulation; parallel over q with numba.  Costs N * m sine and
    cosine pairs: the reference for checks, not for whole grids.

    Parameters
    ----------
    positions
        (N, 3) float array, Angstrom.
    q_points
        (m, 3) float array, 1/Angstrom.

    Returns
    -------
    (m,) complex128 array.
    """
    positions = np.ascontiguousarray(positions, dtype=np.float64).reshape(-1, 3)
    q = np.ascontiguousarray(q_points, dtype=np.float64).reshape(-1, 3)
    return _direct_sum_kernel(positions, q, 1024)


@numba.njit(parallel=True, fastmath=False, cache=True)
def _direct_grid_kernel(strengths, phase0, phase1, phase2, out):  # pragma: no cover - compiled
    natoms = strengths.shape[0]
    n0, n1, n2 = out.shape
    for i0 in numba.prange(n0):
        for j in range(natoms):
            a = strengths[j] * phase0[j, i0]
            for i1 in range(n1):
                b = a * phase1[j, i1]
                for i2 in range(n2):
                    out[i0, i1, i2] += b * phase2[j, i2]


def _axis_phases(cycles: np.ndarray, n: int) -> np.ndarray:
    """exp(2 pi i k t_j) for k = -n//2 .. n - 1 - n//2, reduced modulo one cycle in float64: (N, n)."""
    k = np.arange(n) - n // 2
    product = np.multiply.outer(cycles, k.astype(np.float64))
    product -= np.floor(product + 0.5)
    return np.exp(2j * np.pi * product)


def _peak_direct(strengths, cycles, shape, atoms_per_block: int | None = None) -> np.ndarray:
    """The whole grid by the exact sum, factorised per axis: N * n0 * n1 * n2 complex products."""
    out = np.zeros(shape, dtype=np.complex128)
    block = atoms_per_block or max(1, (1 << 22) // sum(shape))  # phase tables of ~64 MiB at most
    for start in range(0, len(strengths), block):
        stop = start + block
        tables = [_axis_phases(cycles[start:stop, axis], shape[axis]) for axis in range(3)]
        _direct_grid_kernel(strengths[start:stop], *tables, out)
    return out


# --------------------------------------------------------------------------- backends


def _gpu_present() -> bool:
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


def _importable(module: str) -> bool:
    try:
        __import__(module)
    except Exception:
        return False
    return True


def backend_problem(backend: str) -> str | None:
    """Why ``backend`` cannot run here, in one line; None when it can."""
    if backend not in BACKENDS:
        return f"unknown scattering backend {backend!r}; expected one of {', '.join(BACKENDS)}"
    if backend == "cufinufft":
        if not (_importable("cufinufft") and _importable("cupy")):
            return _MISSING["cufinufft"]
        if not _gpu_present():
            return _NO_GPU
    if backend == "pynx" and not _importable("pynx.scattering.fhkl"):
        return _MISSING["pynx"]
    return None


def resolve_backend(backend: str) -> str:
    """The backend that ``backend`` names here: "auto" becomes cufinufft (importable, with a GPU) or finufft.

    Raises ValueError for an unknown name; does not check optional packages (see :func:`backend_problem`).
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown scattering backend {backend!r}; expected one of {', '.join(BACKENDS)}")
    if backend == "auto":
        return "cufinufft" if _importable("cufinufft") and _gpu_present() else "finufft"
    return backend


def available_backends() -> tuple[str, ...]:
    """Backends that can run here: "finufft" and "direct" always, "cufinufft" with a CUDA GPU, "pynx" if installed."""
    names = ["finufft", "direct"]
    if _importable("cufinufft") and _gpu_present():
        names.insert(0, "cufinufft")
    if _importable("pynx.scattering.fhkl"):
        names.append("pynx")
    return tuple(names)


@numba.njit(parallel=True, fastmath=False, cache=True)
def _nufft_inputs_kernel(positions, g, basis, strengths, x0, x1, x2):  # pragma: no cover - compiled
    for j in numba.prange(positions.shape[0]):
        rx, ry, rz = positions[j, 0], positions[j, 1], positions[j, 2]
        cycles = g[0] * rx + g[1] * ry + g[2] * rz
        phase = 2.0 * np.pi * (cycles - np.floor(cycles + 0.5))
        strengths[j] = np.cos(phase) + 1j * np.sin(phase)
        cycles = basis[0, 0] * rx + basis[1, 0] * ry + basis[2, 0] * rz
        x0[j] = 2.0 * np.pi * (cycles - np.floor(cycles + 0.5))
        cycles = basis[0, 1] * rx + basis[1, 1] * ry + basis[2, 1] * rz
        x1[j] = 2.0 * np.pi * (cycles - np.floor(cycles + 0.5))
        cycles = basis[0, 2] * rx + basis[1, 2] * ry + basis[2, 2] * rz
        x2[j] = 2.0 * np.pi * (cycles - np.floor(cycles + 0.5))


def _nufft_inputs(positions, reflection_vector, basis):
    """Strengths c_j = exp(2 pi i G.r_j) and points x_j = 2 pi B^T r_j wrapped into [-pi, pi].

    G.r_j and B^T r_j are computed and reduced modulo one cycle in float64
    before the factor 2 pi, so no precision is lost to large q.r.

    Returns
    -------
    strengths
        (N,) complex128.
    points
        three contiguous (N,) float64 arrays, x_j along array axes 0, 1, 2 (radians).
    """
    natoms = len(positions)
    strengths = np.empty(natoms, dtype=np.complex128)
    points = tuple(np.empty(natoms, dtype=np.float64) for _ in range(3))
    _nufft_inputs_kernel(positions, np.ascontiguousarray(reflection_vector, dtype=np.float64),
                         np.ascontiguousarray(basis, dtype=np.float64), strengths, *points)
    return strengths, points


def _peak_finufft(strengths, points, shape, tolerance, threads):
    import finufft

    options = {} if threads is None else {"nthreads": int(threads)}
    # finufft pairs the first coordinate array with output axis 0 (checked in the tests).
    return finufft.nufft3d1(*points, strengths, tuple(shape), eps=tolerance, isign=1, modeord=0, **options)


def _peak_cufinufft(strengths, points, shape, tolerance):
    try:
        import cufinufft
        import cupy
    except ImportError:
        raise ImportError(_MISSING["cufinufft"]) from None
    if not _gpu_present():
        raise RuntimeError(_NO_GPU)
    x0, x1, x2 = (cupy.asarray(x) for x in points)
    amplitude = cufinufft.nufft3d1(x0, x1, x2, cupy.asarray(strengths), n_modes=tuple(shape), eps=tolerance, isign=1)
    return cupy.asnumpy(amplitude)  # cufinufft's default mode order is the centred one (modeord=0)


def _peak_pynx(positions, reflection_vector, basis, shape):
    try:
        from pynx.scattering.fhkl import Fhkl_thread
    except ImportError:
        raise ImportError(_MISSING["pynx"]) from None
    index = np.indices(shape).reshape(3, -1).T
    q = q_points(reflection_vector, basis, index, shape).astype(np.float32)
    x, y, z = (np.ascontiguousarray(positions[:, axis], dtype=np.float32) for axis in range(3))
    result = Fhkl_thread(q[:, 0], q[:, 1], q[:, 2], x, y, z)  # PyNX: sum exp(2 i pi (h x + k y + l z)), float32
    amplitude = result[0] if isinstance(result, tuple) else result
    return np.asarray(amplitude, dtype=np.complex128).reshape(shape)


def bragg_peak(
    positions: np.ndarray,
    reflection_vector,
    basis,
    shape=(128, 128, 128),
    *,
    backend: str = "auto",
    tolerance: float = 1e-6,
    threads: int | None = None,
) -> np.ndarray:
    """Complex amplitude F(q) = sum_j exp(2 pi i q . r_j) on the grid q = G + B k.

    Parameters
    ----------
    positions
        (N, 3) float array, atom positions in Angstrom (crystal frame).
    reflection_vector
        (3,) G in 1/Angstrom, e.g. from :func:`reciprocal_vector`;
        the grid centre (index n//2 on every axis) is exactly q = G.
    basis
        (3, 3) B in 1/Angstrom; column i is the q step of array axis i
        (see :func:`grid_basis`, :func:`detector_frame_basis`).
    shape
        (n0, n1, n2) grid size, array axes (z, y, x) = (rocking, detector
        rows, detector columns); array index i is k = i - n//2.
    backend
        "finufft" (CPU NUFFT, float64), "cufinufft" (GPU NUFFT, float64),
        "direct" (exact sum, N * n0 * n1 * n2 operations: small cases only),
        "pynx" (PyNX GPU direct sum, float32 phases), or "auto": cufinufft when it
        is importable and a GPU is present, finufft otherwise.
    tolerance
        relative tolerance of the NUFFT backends, relative to ``sum_j |c_j| = N``
        (FINUFFT ``eps``).  Measured against the direct sum, 1e-9 gives errors of
        about 1e-12 of the peak amplitude and 1e-6 about 1e-8; the spreading cost
        grows as the cube of the kernel width (10 points at 1e-9, 7 at 1e-6).
    threads
        CPU threads for finufft and direct (None: all cores).

    Returns
    -------
    complex128 array of ``shape``.
    """
    backend = resolve_backend(backend)
    positions = np.ascontiguousarray(positions, dtype=np.float64)
    if positions.ndim != 2 or positions.shape[1] != 3 or len(positions) == 0:
        raise ValueError(f"positions must be a non-empty (N, 3) array, got shape {positions.shape}")
    reflection_vector = np.asarray(reflection_vector, dtype=np.float64).reshape(3)
    basis = np.asarray(basis, dtype=np.float64)
    if basis.shape != (3, 3):
        raise ValueError(f"basis must be a (3, 3) matrix, got shape {basis.shape}")
    shape = tuple(int(n) for n in shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"shape must be three positive integers, got {shape}")
    if backend == "pynx":
        return _peak_pynx(positions, reflection_vector, basis, shape)
    previous = numba.get_num_threads()
    if threads is not None:
        numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))
    try:
        strengths, points = _nufft_inputs(positions, reflection_vector, basis)
        if backend == "finufft":
            return _peak_finufft(strengths, points, shape, tolerance, threads)
        if backend == "cufinufft":
            return _peak_cufinufft(strengths, points, shape, tolerance)
        return _peak_direct(strengths, np.column_stack(points) / (2.0 * np.pi), shape)
    finally:
        numba.set_num_threads(previous)
