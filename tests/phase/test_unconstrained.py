"""The unconstrained modes of a gap (issue 27): against a dense P_S Q_G P_S, thin gaps hide nothing, and the
modes carry exactly the object's power in the gap."""

import numpy as np
import pytest

from braggsynth.phase import phasing
from braggsynth.phase.unconstrained import (
    HIDDEN,
    gap_planes,
    line_modes,
    plane_modes,
    transform_matrix,
    unconstrained_modes,
)


def blob(shape, radius: float, seed: int = 0):
    """A random complex object on a ball of ``radius`` voxels centred in the box: (object, support)."""
    rng = np.random.default_rng(seed)
    grids = np.meshgrid(*[np.arange(n) - n // 2 for n in shape], indexing="ij")
    support = sum(g.astype(float) ** 2 for g in grids) <= radius**2
    obj = (1 + 0.3 * rng.standard_normal(shape)) * np.exp(1j * rng.uniform(-1, 1, shape))
    return np.where(support, obj, 0), support


def stripe(shape, axis: int, first: int, width: int):
    gap = np.zeros(shape, bool)
    index = [slice(None)] * 3
    index[axis] = slice(first, first + width)
    gap[tuple(index)] = True
    return gap


def dense_eigenvalues(support, gap):
    """Eigenvalues of P_S Q_G P_S built whole: Q_G = T^-1 P_G T with T the 3D transform of phasing.diffraction."""
    shape = support.shape
    transform = np.einsum("ai,bj,ck->abcijk", *[transform_matrix(n) for n in shape]).reshape(gap.size, gap.size)
    inside = support.ravel()
    block = transform[np.ravel(gap)][:, inside]
    return np.sort(np.linalg.eigvalsh(block.conj().T @ block / gap.size))


@pytest.mark.parametrize("gaps", [[(2, 5, 3)], [(1, 4, 2)], [(1, 4, 2), (2, 6, 3)]], ids=["columns", "rows", "cross"])
def test_eigenvalues_match_a_dense_computation_on_a_small_box(gaps):
    shape = (6, 10, 12)
    obj, support = blob(shape, 3.5)
    gap = np.zeros(shape, bool)
    for axis, first, width in gaps:
        gap |= stripe(shape, axis, first, width)
    dense = dense_eigenvalues(support, gap)
    rows, columns = gap_planes(gap)
    if len(gaps) == 2:
        values = plane_modes(obj, support, rows, columns)[0]
    else:
        axis = gaps[0][0]
        values = line_modes(np.moveaxis(obj, axis, -1), np.moveaxis(support, axis, -1), [rows, columns][axis - 1])[0]
    np.testing.assert_allclose(np.sort(np.concatenate(values)), np.clip(dense, 0, 1), atol=1e-10)
    found = unconstrained_modes(obj, support, gap)
    assert found.orientation == {1: "y", 2: "x"}[gaps[0][0]] if len(gaps) == 1 else found.orientation == "cross"
    assert found.modes_hidden == int((dense > HIDDEN).sum()) and found.modes_half_hidden == int((dense > 0.5).sum())
    assert dense.max() > 0.5  # the case tests something


def test_the_modes_carry_the_objects_power_in_the_gap():
    shape = (8, 24, 32)
    obj, support = blob(shape, 5.0, seed=3)
    for gap in (stripe(shape, 2, 14, 6), stripe(shape, 1, 9, 4), stripe(shape, 2, 14, 6) | stripe(shape, 1, 9, 4)):
        expected = phasing.diffraction(obj)[gap].sum()
        assert unconstrained_modes(obj, support, gap).gap_power == pytest.approx(expected, rel=1e-9)


def test_a_gap_of_at_most_half_the_fringe_period_hides_no_mode():
    shape = (16, 16, 64)
    obj, support = blob(shape, 5.0, seed=1)
    extent = int(support.any(axis=(0, 1)).sum())  # the support's length along x, voxels
    half_period = 64 / extent / 2
    assert half_period >= 2
    for width in range(1, int(half_period) + 1):
        found = unconstrained_modes(obj, support, stripe(shape, 2, 30, width))
        assert found.modes_hidden == 0 and found.hidden_share == 0.0, width
    wide = unconstrained_modes(obj, support, stripe(shape, 2, 26, 12))
    assert wide.modes_hidden > 0 and wide.hidden_share > 0.5  # 12 px over the maximum: most of the gap hidden


def test_lines_of_one_support_pattern_share_a_decomposition_and_no_gap_has_no_modes():
    shape = (8, 8, 32)
    support = np.zeros(shape, bool)
    support[2:6, 2:6, 12:20] = True  # a box: every line along x has the same support
    obj = np.where(support, 1.0 + 0j, 0)
    found = unconstrained_modes(obj, support, stripe(shape, 2, 14, 4))
    assert found.decompositions == 1
    assert unconstrained_modes(obj, support, np.zeros(shape, bool)).orientation == "none"
    with pytest.raises(ValueError, match="must share a shape"):
        unconstrained_modes(obj, support[:-1], np.zeros(shape, bool))


def test_hidden_fraction_is_the_rayleigh_quotient_of_a_dense_computation():
    from braggsynth.phase.unconstrained import hidden_fraction

    shape = (6, 10, 12)
    _, support = blob(shape, 3.5)
    gap = stripe(shape, 2, 5, 3) | stripe(shape, 1, 4, 2)
    transform = np.einsum("ai,bj,ck->abcijk", *[transform_matrix(n) for n in shape]).reshape(gap.size, gap.size)
    inside = support.ravel()
    operator = transform[np.ravel(gap)][:, inside]  # P_G T P_S
    dense = operator.conj().T @ operator / gap.size  # P_S Q_G P_S on the support
    waves = transform.conj()[:, inside]  # each row: a plane wave of frequency k cut to the support
    expected = np.einsum("ki,ij,kj->k", waves.conj(), dense, waves).real / (np.abs(waves) ** 2).sum(axis=1)
    found = hidden_fraction(support, gap)
    np.testing.assert_allclose(found[gap], expected.reshape(shape)[gap], atol=1e-10)
    assert np.all(found[~gap] == 0)


def test_hidden_fraction_grows_towards_the_middle_of_a_wide_gap():
    from braggsynth.phase.unconstrained import hidden_fraction

    shape = (16, 16, 64)
    _, support = blob(shape, 5.0, seed=1)
    wide = hidden_fraction(support, stripe(shape, 2, 20, 24))[0, 0, 20:44]
    assert wide[12] > 0.9 and 0.35 < wide[0] < 0.65 and np.all(np.diff(wide[:12]) >= -1e-12)
    narrow = hidden_fraction(support, stripe(shape, 2, 30, 2))  # a gap under half the fringe period (6.4 px)
    assert narrow.max() < 0.5
