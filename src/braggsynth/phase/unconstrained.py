"""How much of a gap the measured data cannot pin down: the unconstrained modes of a scan's gaps.

With S the support and G the gap (the unmeasured pixels of the diffraction
pattern), phasing that leaves G free constrains an object rho inside S by its
measured Fourier moduli only.  An object change that lives in S and whose
Fourier power falls in G is invisible to the data: it is an eigenvector of

    A = P_S Q_G P_S,    Q_G = T^-1 P_G T,

with an eigenvalue lambda near 1 (Thibault et al., Acta Cryst. A 62, 248
(2006), "unconstrained modes"; PyPACE computes them for BCDI).  T is the
transform between the object and the pattern, as :func:`braggsynth.phase.phasing.diffraction`
takes it.  A detector gap is a stripe of whole planes normal to y (rows) or x
(columns) through every frame (:mod:`braggsynth.simulate.gaps`):

- **a gap normal to x alone** (or to y alone): T is separable, so A splits into
  one small matrix per object line along x (one per (z, y)), over that line's
  support voxels x_j:

      A[j, l] = (1 / N) sum_{k in G} t_k(x_j) conj(t_k(x_l)),

  t_k(x) the 1D transform of the unit vector at x; lines with the same support
  pattern share one eigen-decomposition.  About w L / N of a line's modes have
  lambda near 1 (w the gap's width, L the line's support length, N the box):
  the gap's width over the fringe period N / L;
- **a cross** (gaps normal to y and to x): A splits into one matrix per z plane,
  over the plane's support pixels, with G the union of the two stripes.  Its
  cost grows as the cube of a plane's support: above :data:`MAX_PLANE_PIXELS`
  support pixels in a plane, each arm is taken alone (lines along y for the
  rows, along x for the columns) and their hidden powers added: that leaves
  out the modes only the two arms together hide (``HiddenModes.exact`` is
  False then).

The object's power in the gap (what :func:`braggsynth.phase.phasing.diffraction`
puts in G) is ``n_z n_y n_x sum over modes of lambda |<u, rho>|^2`` (each axis' transform
multiplies the power by its length), so the share of that power in
modes with lambda > :data:`HIDDEN` says how much of the gap the data cannot
decide: a free gap is safe where it is small.

*Per voxel* (:func:`hidden_fraction`), how hidden one gap voxel's Fourier
component is: the Rayleigh quotient of A on the plane wave of frequency k
cut to the support, ``h(k) = <phi_k, A phi_k> / <phi_k, phi_k>`` with
``phi_k = P_S T^-1 e_k``.  Written out, ``h(k) = sum_{k' in G} |K(k' - k)|^2
/ sum_{k'} |K(k' - k)|^2`` with K the transform of the support's indicator:
the share of the support's point spread around k that falls in the gap.
Deep inside a gap wider than the fringe period it is near 1, beside
measured pixels near 1/2, and a gap narrower than the fringe period keeps
it small.  It needs the support only, any gap shape (crosses, aliens), and
costs three FFTs.  Arrays are (z, y, x) =
(rocking, detector rows, detector columns); the object and the support are
centred as :func:`braggsynth.phase.phasing.phase` returns them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from braggsynth.simulate import gaps

#: Eigenvalue above which a mode counts as hidden by the gap (its power at least 90 % in the gap).
HIDDEN = 0.9
#: Eigenvalue above which a mode counts as half hidden.
HALF_HIDDEN = 0.5
#: Support pixels of a z plane above which a cross is taken arm by arm (module docstring).
MAX_PLANE_PIXELS = 600


@dataclass(frozen=True)
class HiddenModes:
    """The unconstrained modes of a scan's gaps given a support (module docstring).

    Attributes
    ----------
    orientation
        ``"x"`` (gaps normal to x, columns), ``"y"`` (rows), ``"cross"`` (both) or ``"none"``.
    gap_px
        (rows, columns): how many gap planes normal to y and to x.
    hidden_share
        the share of the object's power in the gap carried by modes with lambda > :data:`HIDDEN`
        (0 without gap power).
    half_hidden_share
        the same for lambda > :data:`HALF_HIDDEN`.
    modes_hidden, modes_half_hidden
        modes with lambda above :data:`HIDDEN` (:data:`HALF_HIDDEN`), all lines (planes) together.
    max_per_line
        the most hidden modes (lambda > :data:`HIDDEN`) of one line (or plane, for a cross).
    gap_power
        the object's power in the gap, in the units of :func:`braggsynth.phase.phasing.diffraction`.
    decompositions
        eigen-decompositions computed (lines of one support pattern share one).
    exact
        False for a cross taken arm by arm (module docstring); its ``gap_power`` then counts the pixels
        where the arms cross twice.
    """

    orientation: str
    gap_px: tuple[int, int]
    hidden_share: float
    half_hidden_share: float
    modes_hidden: int
    modes_half_hidden: int
    max_per_line: int
    gap_power: float
    decompositions: int
    exact: bool = True

    def line(self) -> str:
        """One line for a command's output."""
        if self.orientation == "none":
            return "no gap plane: no unconstrained mode"
        return (f"unconstrained modes of the gap ({self.gap_px[0]} rows, {self.gap_px[1]} columns): "
                f"{100 * self.hidden_share:.0f} % of its power in modes the data do not see (lambda > {HIDDEN}), "
                f"{100 * self.half_hidden_share:.0f} % above {HALF_HIDDEN}; {self.modes_hidden} hidden modes, "
                f"at most {self.max_per_line} a {'plane' if self.orientation == 'cross' and self.exact else 'line'}"
                + ("" if self.exact else "; the cross's arms taken apart"))

    def record(self) -> dict:
        """The fields as a JSON-ready dict (for a file's provenance)."""
        return {"orientation": self.orientation, "gap_px": list(self.gap_px), "hidden_share": self.hidden_share,
                "half_hidden_share": self.half_hidden_share, "modes_hidden": self.modes_hidden,
                "modes_half_hidden": self.modes_half_hidden, "max_per_line": self.max_per_line,
                "gap_power": self.gap_power, "exact": self.exact, "hidden_threshold": HIDDEN,
                "half_hidden_threshold": HALF_HIDDEN}


def transform_matrix(n: int) -> np.ndarray:
    """(n, n) complex: column x is the 1D transform of the unit vector at x, as
    :func:`braggsynth.phase.phasing.diffraction` transforms each axis (centred object, centred pattern)."""
    from scipy import fft

    return np.fft.ifftshift(fft.ifft(np.fft.fftshift(np.eye(n), axes=0), axis=0, norm="forward"), axes=0)


def gap_planes(gap) -> tuple[np.ndarray, np.ndarray]:
    """(rows, columns): bool (n_y,) and (n_x,), the detector rows and columns of the gap stripes of ``gap``
    (bool (z, y, x), :func:`braggsynth.simulate.gaps.gap_stripes`)."""
    gap = np.asarray(gap, dtype=bool)
    if gap.ndim != 3:
        raise ValueError(f"the gap must be 3D (z, y, x), got shape {gap.shape}")
    rows, columns = np.zeros(gap.shape[1], bool), np.zeros(gap.shape[2], bool)
    for axis, first, end in gaps.gap_stripes(gap):
        if axis == 1:
            rows[first:end] = True
        elif axis == 2:
            columns[first:end] = True
    return rows, columns


def _hermitian_eig(matrix):
    values, vectors = np.linalg.eigh(matrix)
    return np.clip(values, 0.0, 1.0), vectors


def line_modes(obj, support, columns) -> tuple[list, list, int]:
    """Eigenvalues and weights of the per-line problem along the last axis (module docstring).

    Parameters
    ----------
    obj
        complex (..., n): the object, lines along the last axis.
    support
        bool (..., n).
    columns
        bool (n,): the gap's frequencies along the last axis.

    Returns
    -------
    (eigenvalues, weights, decompositions): per line with support, the arrays of lambda and of ``|<u, rho>|^2``
    of its modes; and how many eigen-decompositions were computed (lines of one support pattern share one).
    """
    n = np.shape(obj)[-1]
    gap_rows = transform_matrix(n)[np.asarray(columns, bool)]
    lines_obj = np.reshape(obj, (-1, n))
    lines_support = np.reshape(support, (-1, n)).astype(bool)
    cache: dict[tuple, tuple] = {}
    values, weights = [], []
    for line, inside in zip(lines_obj, lines_support):
        if not inside.any():
            continue
        key = tuple(np.flatnonzero(inside))
        if key not in cache:
            block = gap_rows[:, key]
            cache[key] = _hermitian_eig(block.conj().T @ block / n)
        lam, vectors = cache[key]
        values.append(lam)
        weights.append(np.abs(vectors.conj().T @ line[list(key)]) ** 2)
    return values, weights, len(cache)


def plane_modes(obj, support, rows, columns) -> tuple[list, list, int]:
    """Eigenvalues and weights per z plane of a cross: G = rows (ky) or columns (kx) in every frame."""
    n_y, n_x = np.shape(obj)[1:]
    t_y, t_x = transform_matrix(n_y), transform_matrix(n_x)
    ky, kx = np.nonzero(np.asarray(rows, bool)[:, None] | np.asarray(columns, bool)[None, :])
    values, weights, count = [], [], 0
    for plane, inside in zip(obj, np.asarray(support, bool)):
        y, x = np.nonzero(inside)
        if not y.size:
            continue
        block = t_y[np.ix_(ky, y)] * t_x[np.ix_(kx, x)]
        lam, vectors = _hermitian_eig(block.conj().T @ block / (n_y * n_x))
        count += 1
        values.append(lam)
        weights.append(np.abs(vectors.conj().T @ plane[y, x]) ** 2)
    return values, weights, count


def unconstrained_modes(obj, support, gap) -> HiddenModes:
    """The unconstrained modes of ``gap`` for an object on ``support`` (module docstring).

    Parameters
    ----------
    obj
        complex (z, y, x): a reconstruction (or the true object), centred as phasing returns it.
    support
        bool (z, y, x): its support.
    gap
        bool (z, y, x): the unmeasured pixels of the pattern; its stripes of planes normal to y and x count
        (a gap that is no stripe, e.g. a masked alien, is not a detector gap and is left out).

    Returns
    -------
    :class:`HiddenModes`.
    """
    obj = np.asarray(obj, dtype=np.complex128)
    support = np.asarray(support, dtype=bool)
    if obj.shape != support.shape or obj.shape != np.shape(gap):
        raise ValueError(f"object {obj.shape}, support {support.shape} and gap {np.shape(gap)} must share a shape")
    rows, columns = gap_planes(gap)
    rho = np.where(support, obj, 0)
    exact = True
    if not rows.any() and not columns.any():
        return HiddenModes("none", (0, 0), 0.0, 0.0, 0, 0, 0, 0.0, 0)
    if rows.any() and columns.any() and support.sum(axis=(1, 2)).max() <= MAX_PLANE_PIXELS:
        orientation = "cross"
        values, weights, count = plane_modes(rho, support, rows, columns)
    else:
        orientation = "cross" if rows.any() and columns.any() else "y" if rows.any() else "x"
        exact = orientation != "cross"
        values, weights, count = [], [], 0
        for axis, planes in ((1, rows), (2, columns)):
            if planes.any():
                found = line_modes(np.moveaxis(rho, axis, -1), np.moveaxis(support, axis, -1), planes)
                values, weights, count = values + found[0], weights + found[1], count + found[2]
    lam = np.concatenate(values) if values else np.zeros(0)
    power = np.concatenate(weights) * lam if weights else np.zeros(0)
    total = float(power.sum())

    def share(threshold):
        return float(power[lam > threshold].sum() / total) if total > 0 else 0.0

    return HiddenModes(
        orientation=orientation, gap_px=(int(rows.sum()), int(columns.sum())),
        hidden_share=share(HIDDEN), half_hidden_share=share(HALF_HIDDEN),
        modes_hidden=int((lam > HIDDEN).sum()), modes_half_hidden=int((lam > HALF_HIDDEN).sum()),
        max_per_line=max((int((v > HIDDEN).sum()) for v in values), default=0),
        gap_power=total * float(np.prod(obj.shape)), decompositions=count, exact=exact)


def hidden_fraction(support, gap) -> np.ndarray:
    """How hidden each voxel's Fourier component is (module docstring, *per voxel*): float (z, y, x) in
    [0, 1], the share of the support's point spread around that voxel inside ``gap``; 0 off the gap.

    Parameters
    ----------
    support
        bool (z, y, x): the object's support (centred or not: only its transform's modulus counts).
    gap
        bool (z, y, x): the unmeasured voxels of the pattern, any shape.
    """
    from scipy import fft

    support = np.asarray(support, dtype=np.float64)
    gap = np.asarray(gap, dtype=bool)
    if support.shape != gap.shape:
        raise ValueError(f"support {support.shape} and gap {gap.shape} must share a shape")
    if not support.any() or not gap.any():
        return np.zeros(gap.shape)
    spread = np.abs(fft.fftn(support)) ** 2  # |K|^2, origin at index 0
    spread /= spread.sum()
    inside = fft.irfftn(fft.rfftn(gap.astype(np.float64)) * fft.rfftn(spread), s=gap.shape)  # periodic, G * |K|^2
    return np.where(gap, np.clip(inside, 0.0, 1.0), 0.0)
