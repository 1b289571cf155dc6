"""Figures a person looks at instead of reading numbers."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np


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
    particles
        list of (title, relaxed) where ``relaxed`` is the dict of
        :func:`braggsynth.io.particles.read_relaxed`.
    path
        PNG file to write.
    slab_thickness
        float, Angstrom, thickness of the slab through the centre.
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
    from braggsynth.io import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def peak_slices(peaks, path, *, title: str = "") -> None:
    """Log-scale central slices (three orthogonal planes) of Bragg peaks, one row per peak.

    Parameters
    ----------
    peaks
        list of (label, intensity) with intensity a 3D array (z, y, x).
    path
        PNG file to write.
    """
    planes = (("z", "y", "x"), ("y", "z", "x"), ("x", "z", "y"))
    fig, axes = plt.subplots(len(peaks), 3, figsize=(10, 3.3 * len(peaks)), squeeze=False)
    for row, (label, intensity) in zip(axes, peaks):
        centre = [n // 2 for n in intensity.shape]
        cuts = (intensity[centre[0]], intensity[:, centre[1]], intensity[:, :, centre[2]])
        floor = max(float(intensity.max()) * 1e-8, np.finfo(np.float32).tiny)
        vmax = np.log10(max(float(intensity.max()), floor))
        for ax, cut, (normal, vertical, horizontal) in zip(row, cuts, planes):
            image = ax.imshow(np.log10(np.maximum(cut, floor)), origin="lower", cmap="turbo",
                              vmin=vmax - 8, vmax=vmax)
            ax.set_title(f"{label}: {normal} = centre", fontsize=9)
            ax.set_xlabel(horizontal, fontsize=8)
            ax.set_ylabel(vertical, fontsize=8)
            ax.tick_params(labelsize=7)
        fig.colorbar(image, ax=row.tolist(), shrink=0.85, label="log10 intensity")
    if title:
        fig.suptitle(title, fontsize=10)
    _save(fig, path)


def learning_curve(history, path) -> None:
    """Training and validation loss per epoch (log scale) and the learning rate.

    Parameters
    ----------
    history
        list of dict with ``epoch``, ``loss`` and optionally ``val_loss``
        and ``learning_rate`` (the rows of :func:`braggsynth.learn.training.train`).
    path
        PNG file to write.
    """
    epochs = [row["epoch"] + 1 for row in history]
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for key, label in (("loss", "training"), ("val_loss", "validation")):
        values = [row.get(key, np.nan) for row in history]
        ax.plot(epochs, values, marker="o", markersize=3, label=label)
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("gap loss")
    if any("learning_rate" in row for row in history):
        rate_axis = ax.twinx()
        rate_axis.plot(epochs, [row.get("learning_rate", np.nan) for row in history], color="grey",
                       linestyle=":", label="learning rate")
        rate_axis.set_yscale("log")
        rate_axis.set_ylabel("learning rate", color="grey", fontsize=8)
        rate_axis.tick_params(labelsize=7)
    ax.legend(fontsize=8)
    ax.set_title("Gap-inpainting model", fontsize=10)
    fig.tight_layout()
    _save(fig, path)


def inpainting_slices(truth, gapped, predictions, mask, path, *, log_scale: bool = True, title: str = "") -> None:
    """Central slices (normal to z, y and x) of truth, gapped input, inpaintings and error, log colour scale.

    Parameters
    ----------
    truth, gapped
        (z, y, x) intensities in photons (``log_scale``) or
        values already in log space such as normalised patches.
    predictions
        list of (label, (z, y, x) array), e.g. the model and the best baseline.
    mask
        (z, y, x) bool, True in the gap; the slices pass through its
        centre of mass, so for a cross the y and x slices lie inside the gap
        bands and show the whole filled plane (blank in "gapped").
    path
        PNG file to write.
    log_scale
        bool, show log10(I + 1) (True) or the values as given.

    Notes
    -----
    The last column is the absolute error of the first prediction in the
    displayed scale, in the gap only.
    """
    mask = np.asarray(mask, dtype=bool)
    centre = ([int(round(c)) for c in np.argwhere(mask).mean(axis=0)] if mask.any()
              else [n // 2 for n in mask.shape])

    def cuts(volume):
        return volume[centre[0]], volume[:, centre[1]], volume[:, :, centre[2]]

    def logged(volume):
        volume = np.asarray(volume, dtype=np.float64)
        return np.log10(np.maximum(volume, 0) + 1) if log_scale else volume

    columns = [("truth", logged(truth)), ("gapped", np.where(mask, np.nan, logged(gapped)))]
    columns += [(label, logged(volume)) for label, volume in predictions]
    error = np.abs(logged(predictions[0][1]) - logged(truth)) if predictions else np.zeros(mask.shape)
    vmin, vmax = float(np.nanmin(columns[0][1])), float(np.nanmax(columns[0][1]))
    fig, axes = plt.subplots(3, len(columns) + 1, figsize=(2.4 * (len(columns) + 1) + 1.2, 7.2), squeeze=False,
                             layout="constrained")
    for column, (label, volume) in enumerate(columns):
        for row, cut in enumerate(cuts(volume)):
            image = axes[row, column].imshow(cut, origin="lower", cmap="turbo", vmin=vmin, vmax=vmax)
        axes[0, column].set_title(label, fontsize=9)
    for row, cut in enumerate(cuts(np.where(mask, error, np.nan))):
        error_image = axes[row, -1].imshow(cut, origin="lower", cmap="magma", vmin=0,
                                           vmax=max(float(np.nanmax(error[mask])) if mask.any() else 1.0, 1e-6))
    axes[0, -1].set_title(f"|error| ({predictions[0][0]})" if predictions else "|error|", fontsize=9)
    for row, normal in enumerate("zyx"):
        axes[row, 0].set_ylabel(f"{normal} = {centre[row]}", fontsize=8)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(image, ax=axes[:, -2].tolist(), shrink=0.7, label="log10(I + 1)" if log_scale else "value")
    fig.colorbar(error_image, ax=axes[:, -1].tolist(), shrink=0.7, label="|error| in the gap")
    if title:
        fig.suptitle(title, fontsize=10)
    _save(fig, path)


def patch_slices(panels, path, *, per_split: int, title: str = "") -> None:
    """Montage of patch slices: for each split, a row of inputs, targets and gap masks.

    Parameters
    ----------
    panels
        list of (split name, {"input": [2D], "target": [2D], "mask": [2D]},
        [label per patch]); input and target are normalised (0..1) log
        intensities, masks are bool.
    path
        PNG file to write.
    per_split
        columns (patches per split).
    """
    kinds = ("input", "target", "mask")
    rows = len(panels) * len(kinds)
    columns = max(per_split, 1)
    fig, axes = plt.subplots(rows, columns, figsize=(1.7 * columns + 1.2, 1.7 * rows + 0.6), squeeze=False,
                             layout="constrained")
    for block, (split, cuts, labels) in enumerate(panels):
        for k, kind in enumerate(kinds):
            row = axes[block * len(kinds) + k]
            for column, ax in enumerate(row):
                ax.set_xticks([])
                ax.set_yticks([])
                if column < len(cuts[kind]):
                    image = np.asarray(cuts[kind][column], dtype=float)
                    ax.imshow(image, cmap="gray" if kind == "mask" else "turbo", vmin=0, vmax=1)
                    if k == 0:
                        ax.set_title(labels[column], fontsize=7)
                elif column > 0:
                    ax.axis("off")
                elif k == 0:  # keep the first axes of an empty split for its label
                    ax.text(0.5, 0.5, "no patches", ha="center", va="center", fontsize=8, transform=ax.transAxes)
            row[0].set_ylabel(f"{split}\n{kind}", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    _save(fig, path)


def real_space_slices(objects: dict, path, *, title: str = "", support_threshold: float = 0.1) -> None:
    """Central slices (normal to z and to y) of the modulus and phase of reconstructed objects, one row each.

    Parameters
    ----------
    objects
        name -> complex (z, y, x) object, aligned on one another (the first is the reference).
    path
        PNG file to write.
    support_threshold
        the phase is shown where the modulus exceeds this fraction of its maximum.
    """
    names = list(objects)
    fig, axes = plt.subplots(len(names), 4, figsize=(12, 2.8 * len(names)), squeeze=False)
    reference = np.abs(objects[names[0]])
    centre = [int(c) for c in np.round(np.argwhere(reference > 0.5 * reference.max()).mean(axis=0))]
    for row, name in zip(axes, names):
        obj = np.asarray(objects[name])
        modulus = np.abs(obj) / max(float(np.abs(obj).max()), 1e-30)
        phase = np.where(modulus > support_threshold, np.angle(obj), np.nan)
        cuts = ((modulus[centre[0]], "modulus, z = centre", "gray", (0, 1)),
                (phase[centre[0]], "phase (rad), z = centre", "twilight", (-np.pi, np.pi)),
                (modulus[:, centre[1]], "modulus, y = centre", "gray", (0, 1)),
                (phase[:, centre[1]], "phase (rad), y = centre", "twilight", (-np.pi, np.pi)))
        for ax, (cut, label, cmap, (low, high)) in zip(row, cuts):
            image = ax.imshow(cut, origin="lower", cmap=cmap, vmin=low, vmax=high)
            ax.set_title(f"{name}: {label}", fontsize=8)
            ax.tick_params(labelsize=6)
            fig.colorbar(image, ax=ax, shrink=0.8)
    if title:
        fig.suptitle(title, fontsize=10)
    _save(fig, path)


def error_curves(curves: dict, path, *, title: str = "") -> None:
    """The modulus error against iteration (log scale) of each named reconstruction, one line each: whether
    every version has converged before two are compared."""
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, errors in curves.items():
        ax.semilogy(np.arange(1, len(errors) + 1), errors, label=name, lw=1)
    ax.set_xlabel("iteration")
    ax.set_ylabel("modulus error")
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title, fontsize=9)
    _save(fig, path)


def realism_histograms(found: dict, path) -> None:
    """One panel per statistic of :func:`braggsynth.report.realism.assess`: the simulated histogram, its 10-90 % band
    shaded, and a line per measured file."""
    rows = found["rows"]
    columns = 5
    fig, axes = plt.subplots(int(np.ceil(len(rows) / columns)), columns,
                             figsize=(3.2 * columns, 2.4 * len(rows) / columns + 0.6), squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"][1:]
    for ax, row in zip(axes.flat, rows):
        values = np.array([one[row["statistic"]] for one in found["simulated"]], dtype=float)
        values = values[np.isfinite(values)]
        logged = row["statistic"] in ("max_counts", "total_counts", "peak_volume")
        shown = np.log10(np.maximum(values, 1e-3)) if logged else values
        measured_values = {name: found["measured"][name][row["statistic"]] for name in found["measured"]}
        if shown.size:
            ax.hist(shown, bins=30, color="0.6")
            ax.axvspan(*np.percentile(shown, (10, 90)), color="0.85", zorder=0)
        for (name, value), colour in zip(measured_values.items(), colours):
            if np.isfinite(value):
                ax.axvline(np.log10(max(value, 1e-3)) if logged else value, color=colour, lw=2, label=name)
        ax.set_title(("log10 " if logged else "") + row["statistic"], fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(rows):]:
        ax.axis("off")
    at_flux = {name: entry for name, entry in (found.get("at_flux") or {}).items() if entry.get("accuracy")}
    if at_flux and len(rows) < axes.size:
        # the discriminator per file at its flux (coloured) beside recordings in its place (grey: its null)
        ax = axes.flat[len(rows)]
        ax.axis("on")
        for position, (entry, colour) in enumerate(zip(at_flux.values(), colours)):
            null = entry.get("stand_ins") or []
            ax.plot(np.full(len(null), position), null, "o", color="0.6", ms=4)
            ax.plot(position, entry["accuracy"]["balanced_accuracy"], "D", color=colour, ms=7)
        ax.axhline(0.5, color="0.8", lw=1, zorder=0)
        ax.set_xticks(range(len(at_flux)), list(at_flux), fontsize=7)
        ax.set_xlim(-0.5, len(at_flux) - 0.5)
        ax.set_ylim(0.3, 1.02)
        ax.set_title("discriminator at each file's flux\n(grey: a recording in its place)", fontsize=9)
        ax.tick_params(labelsize=7)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    guess = found["discriminator"]
    title = "simulated (grey, 10-90 % band shaded) against measured files"
    if guess is not None:
        title += f"; discriminator balanced accuracy {guess['balanced_accuracy']:.2f} (0.5: indistinguishable)"
    fig.suptitle(title, fontsize=10)
    if handles:
        fig.legend(handles, labels, loc="lower right", fontsize=8)
    fig.tight_layout()
    _save(fig, path)
