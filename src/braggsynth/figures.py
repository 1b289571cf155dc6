"""Figures a person looks at instead of reading numbers."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def slab_frame(spec: dict) -> np.ndarray:
    """Orthonormal rows (u, v, w) for drawing a particle.

    The drawing plane is spanned by u (horizontal) and w (vertical, upwards);
    the slab is thin along v.  For a Winterbottom particle w points away from
    the substrate, so the interface is the bottom edge of the drawing.
    """
    if spec.get("kind") == "winterbottom":
        w = -np.asarray(spec["interface"]["hkl"], dtype=float)
    else:
        w = np.array([0.0, 0.0, 1.0])
    w /= np.linalg.norm(w)
    trial = np.array([1.0, 0.0, 0.0]) if abs(w[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    u = trial - (trial @ w) * w
    u /= np.linalg.norm(u)
    return np.vstack([u, np.cross(w, u), w])


def particle_overview(particles, path, *, slab_thickness: float = 2.5) -> None:
    """Central slab of each relaxed particle coloured by displacement magnitude.

    Parameters
    ----------
    particles : list of (title, relaxed) where ``relaxed`` is the dict of
        :func:`braggsynth.io.read_relaxed`.
    path : PNG file to write.
    slab_thickness : float, Angstrom, thickness of the slab through the centre.
    """
    count = len(particles)
    columns = min(count, 4)
    rows = int(np.ceil(count / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(3.6 * columns, 3.4 * rows), squeeze=False)
    magnitudes = [np.linalg.norm(p["displacement"], axis=1) for _, p in particles]
    vmax = max(float(np.percentile(m, 99)) for m in magnitudes) or 1.0
    scatter = None
    for ax, (title, data), magnitude in zip(axes.flat, particles, magnitudes):
        frame = slab_frame(data["spec"])
        ideal = data["ideal_positions"]
        local = (ideal - ideal.mean(axis=0)) @ frame.T
        in_slab = np.abs(local[:, 1]) < slab_thickness / 2
        order = np.argsort(magnitude[in_slab])
        scatter = ax.scatter(
            local[in_slab, 0][order], local[in_slab, 2][order], c=magnitude[in_slab][order],
            s=4, cmap="viridis", vmin=0, vmax=vmax, linewidths=0,
        )
        ax.set_aspect("equal")
        ax.set_title(f"{title}\n{data['natoms']} {data['element']} atoms", fontsize=9)
        ax.set_xlabel("Angstrom", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes.flat[count:]:
        ax.axis("off")
    fig.colorbar(scatter, ax=axes, shrink=0.8, label="|displacement| (Angstrom)")
    fig.suptitle("Central slabs of the relaxed particles (substrate at the bottom for Winterbottom)", fontsize=10)
    _save(fig, path)


def _save(fig, path) -> None:
    from .io import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
