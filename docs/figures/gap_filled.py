"""The README's figure: a gap across the maximum of a measured scan, filled, and the reconstruction with and
without the fill.

The raw SIXS scan of ``../shared/data`` (Pt, MAXIPIX; see its README), the 64^3 cube around its maximum, an
artificial 12 px gap plane through the maximum's column (its own masked aliens left free). Reconstructions
(``braggsynth.phase``'s default recipe, best of 2 starts each): the gap-free reference, the gap's pixels left
free (what PyNX does with a mask), and the gap forced to the shipped model's fill; each scored by the modulus
PCC against the reference (:func:`braggsynth.phase.phasing.compare`). Usage::

    .venv/bin/python docs/figures/gap_filled.py [SCAN.cxi] [--out docs/_static/gap_filled.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
SCAN = REPO.parent / "shared" / "data" / "S1398_pynx_norm_128_300_294_1_1_1.cxi"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scan", nargs="?", type=Path, default=SCAN)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "_static" / "gap_filled.png")
    parser.add_argument("--gap", type=int, default=12, help="gap width, px")
    parser.add_argument("--starts", type=int, default=2)
    args = parser.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from braggsynth import io
    from braggsynth.learn.model import load_model
    from braggsynth.learn.uncertainty import read_calibration
    from braggsynth.models import SHIPPED_MODEL
    from braggsynth.phase import phasing, reconstruction
    from braggsynth.report import evaluate, realspace

    intensity, mask = io.read_measured(args.scan)[:2]
    counts, unmeasured = realspace.crop_around_peak(intensity, 64, mask, unmeasured=mask)
    unmeasured = np.zeros(counts.shape, bool) if unmeasured is None else unmeasured
    peak = evaluate.peak_position(np.where(unmeasured, 0.0, counts))  # smoothed 3^3: a hot voxel is not the peak
    gap = realspace.gap_at(counts.shape, int(peak[2]), args.gap, "through") & ~unmeasured
    reference, floor = realspace.measured_reference(counts, starts=args.starts, seed=0,
                                                    runner=reconstruction.run_in_turn, unmeasured=unmeasured)
    fill = reconstruction.model_fill(load_model(SHIPPED_MODEL), read_calibration(
        SHIPPED_MODEL.with_suffix(".calibration.json")))(np.where(gap, 0.0, counts), gap)
    objects, scores = {"gap-free reference": reference}, {}
    for label, mode in (("gap left free", "free"), ("gap filled (forced)", "forced")):
        best, _ = reconstruction.phase_scan(counts, gap, mode=mode, fill=fill if mode == "forced" else None,
                                            free=unmeasured, starts=args.starts, seed=0)
        objects[label] = phasing.align(best.obj, reference)
        scores[label] = phasing.compare(best.obj, reference)["modulus_pcc"]
        print(f"{label}: modulus PCC {scores[label]:.3f}", flush=True)

    z = int(peak[0])
    shown = np.where(unmeasured, np.nan, counts)
    panels = [("measured (z through the maximum)", np.log10(1 + shown[z])),
              (f"{args.gap} px gap", np.log10(1 + np.where(gap, np.nan, shown)[z])),
              ("gap filled by the shipped model", np.log10(1 + np.where(unmeasured, np.nan, fill.filled)[z]))]
    fig, axes = plt.subplots(2, 3, figsize=(10.5, 7.0), constrained_layout=True)
    vmax = np.nanmax(panels[0][1])
    for axis, (title, image) in zip(axes[0], panels):
        shown_image = axis.imshow(image, cmap="viridis", vmin=0, vmax=vmax, origin="lower")
        axis.set_title(title, fontsize=10)
        axis.set_xlabel("x (detector columns)")
    axes[0, 0].set_ylabel("y (detector rows)")
    fig.colorbar(shown_image, ax=axes[0, 2], label="log10(1 + photons)", shrink=0.8)
    # the objects are aligned on the reference; move its circular centre of mass to the middle of the box, show 40^3
    modulus = np.abs(reference)
    shift = []
    for axis, n in enumerate(modulus.shape):  # the circular mean: the object may wrap around the box
        profile = modulus.sum(axis=tuple(a for a in range(3) if a != axis))
        mean = np.angle(np.sum(profile * np.exp(2j * np.pi * np.arange(n) / n))) * n / (2 * np.pi)
        shift.append(n // 2 - int(round(mean)))
    moved = {label: np.abs(np.roll(obj, shift, axis=(0, 1, 2))) for label, obj in objects.items()}
    half, middle = 20, [n // 2 for n in modulus.shape]
    top = modulus.max()
    for axis, (label, obj) in zip(axes[1], moved.items()):
        view = obj[middle[0], middle[1] - half:middle[1] + half, middle[2] - half:middle[2] + half]
        axis.imshow(view, cmap="gray", vmin=0, vmax=top, origin="lower")
        score = f"\nmodulus PCC {scores[label]:.2f}" if label in scores else (
            f"\nstarts agree to {np.mean(floor):.2f}" if floor else "")
        axis.set_title(label + score, fontsize=10)
        axis.set_xlabel("x (voxels)")
    axes[1, 0].set_ylabel("real space |object|, y (voxels)")
    fig.suptitle(f"{args.scan.name}: a {args.gap} px gap through the maximum", fontsize=11)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=90)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
