"""The gap modes side by side in real space (issue 27): free pixels, the shipped model's fill forced, inside its
calibrated interval and inside that interval narrowed by how hidden each voxel is, PyNX's recipes
(``mask_interp=8,2`` kept within 0.5-1.2 with ``psf=True``, the same without ``psf`` ("mask-interp coherent"),
and ``zero_mask=auto``; on request the fill forced or narrowed for the first 60 % of the HIO iterations, then
released ("forced, then free", "narrowed, then free")), and what the default picks
(:func:`braggsynth.phase.reconstruction.decide_mode`: the half-hidden share against ``--thresholds``).

For each case (a simulated pattern against its true object; a measured file against the best of
``--reference-starts`` gap-free phasings, the others giving the floor), each gap width and position
(:func:`braggsynth.report.realspace.gap_at`), every version is phased from ``--starts`` random starts and scored
(modulus PCC after registration). The hidden share is computed three ways: on the reference's support
(|object| > 10 % of its maximum), and on the supports of the short phasings with the gap forced to the fill
(what ``auto`` uses) and left free (:func:`braggsynth.phase.reconstruction.analysis_support`), to measure which
support is good enough; the most hidden modes of one line on the reference's support
(``modes_per_line_reference``) counts the fringes the gap hides (its width over the fringe period across it),
which no version can see. Writes one CSV row per start (``--out``/gap_modes.csv; ``kept`` marks the start that
``braggsynth phase --starts K`` keeps, :func:`braggsynth.phase.reconstruction.most_reproducible`) and prints the
table, then for each threshold how ``auto`` fares.

``--set KEY=VALUE`` records each pattern's peak again with the run's (``--config``) detector settings changed
(same seeds), to phase the same particles under another detector physics.

Choose thresholds on a run's validation split and the SIXS scan; report the test split (and S11) beside::

    python benchmarks/bench_gap_modes.py --out results/gap_modes \\
        --patterns results/detector/cube/shard0000/0000_00.h5:results/peaks/cube/shard0000/0000_00.h5 \\
        --measured ../shared/data/S1398_pynx_norm_128_300_294_1_1_1.cxi
"""

from __future__ import annotations

import argparse
import csv
import os
import time
from pathlib import Path

import numpy as np

VERSIONS = ("free", "forced", "interval", "narrowed", "mask-interp", "mask-interp coherent", "zero-mask",
            "forced, then free", "narrowed, then free")
#: Versions held to their fill for the first part of the phasing only, then free (as PyNX's zero_mask=auto).
RELEASED = ", then free"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--patterns", nargs="*", default=[], metavar="RECORDING:PEAK")
    parser.add_argument("--measured", nargs="*", default=[], type=Path)
    parser.add_argument("--widths", type=int, nargs="+", default=[3, 6, 12, 38])
    parser.add_argument("--positions", nargs="+", default=["through", "off"])
    parser.add_argument("--crop", type=int, default=64)
    parser.add_argument("--starts", type=int, default=3)
    parser.add_argument("--reference-starts", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--thresholds", type=float, nargs="+", default=[0.5, 0.7, 0.8, 0.9, 0.95])
    parser.add_argument("--versions", nargs="*", default=[v for v in VERSIONS if not v.endswith(RELEASED)],
                        choices=VERSIONS, help="versions to phase (default: all but the two released ones)")
    parser.add_argument("--config", type=Path, default=Path("config.yaml"),
                        help="the run's config, whose detector: settings --set changes")
    parser.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE",
                        help="record each pattern's peak again with these detector settings changed (same seeds), "
                             "and phase that recording instead: the same particles with another detector physics")
    parser.add_argument("--model", type=Path, default=None,
                        help="the 32^3 model whose fill is phased, beside its .calibration.json (default: the "
                             "shipped one); gaps wider than it fills take the shipped wide model's")
    parser.add_argument("--narrowed", nargs="*", default=["forced:0.5"], metavar="SUPPORT:AT",
                        help="narrowed intervals to phase: the short phasing whose support gives the hidden "
                             "fraction (forced or free) and the fraction at which the calibrated interval holds "
                             "(forced:0.5, the default's, is the version 'narrowed'; others 'narrowed SUPPORT AT')")
    args = parser.parse_args()

    from recipe import detector_settings, measured_name, record_peak

    from braggsynth import io
    from braggsynth.learn import model, uncertainty
    from braggsynth.models import SHIPPED_MAX_GAP_PX, SHIPPED_MODEL, SHIPPED_WIDE_MODEL
    from braggsynth.phase import phasing, reconstruction
    from braggsynth.phase.unconstrained import hidden_fraction, unconstrained_modes
    from braggsynth.report import realspace

    def fill_function(path):
        return reconstruction.model_fill(model.load_model(path),
                                         uncertainty.read_calibration(Path(path).with_suffix(".calibration.json")))

    narrow_fill, wide_fill = fill_function(args.model or SHIPPED_MODEL), fill_function(SHIPPED_WIDE_MODEL)
    options = {"sequence": phasing.DEFAULT_SEQUENCE}
    args.out.mkdir(parents=True, exist_ok=True)
    table = args.out / "gap_modes.csv"
    fields = ["pattern", "kind", "gap_width_px", "position", "photon_share", "hidden_reference", "hidden_forced",
              "hidden_free", "half_hidden_forced", "half_hidden_free", "modes_per_line_reference",
              "modes_per_line_forced",
              "version", "start", "modulus_pcc", "error", "kept", "seconds"]
    started = time.perf_counter()
    with realspace.ParallelRunner(args.workers) as runner, open(table, "w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=fields)
        writer.writeheader()
        cases = []
        if args.set:
            settings, seed = detector_settings(args.config, args.set)
        for pair in args.patterns:
            recording, peak = pair.split(":")
            if args.set:  # the peak recorded again with the changed settings, named as the run's recording
                recording = record_peak(Path(peak), settings, seed, args.out / "recordings")
            cases.append(realspace.read_simulated_case(recording, peak, args.crop))
        for path in args.measured:
            name = measured_name(path)
            case = realspace.measured_case(name, *io.read_measured(path)[:2], args.crop,
                                           reference_starts=args.reference_starts, seed=args.seed, runner=runner,
                                           **options)
            print(f"{case.name}: floor {np.round(case.floor, 3).tolist()}", flush=True)
            cases.append(case)
        for case in cases:
            counts = np.asarray(case.counts, dtype=np.float64)
            own = np.zeros(counts.shape, bool) if case.unmeasured is None else case.unmeasured
            peak_x = realspace.case_peak(case)[2]
            support = realspace.reference_support(case.reference)
            for width in args.widths:
                for position in args.positions:
                    try:
                        gap = realspace.gap_at(counts.shape, peak_x, width, position)
                    except ValueError:
                        continue
                    t0 = time.perf_counter()
                    free = own & ~gap if own.any() else None
                    function = wide_fill if width > SHIPPED_MAX_GAP_PX else narrow_fill
                    fill = function(np.where(gap | own, 0.0, counts), gap | own)
                    known = unconstrained_modes(case.reference, support, gap)  # the truth's: no version sees it
                    shares = {"hidden_reference": known.hidden_share, "modes_per_line_reference": known.max_per_line}
                    short, support_of = {}, {}
                    for mode in ("forced", "free"):
                        values, unknown, bounds = reconstruction.phase_inputs(counts, gap, mode=mode, fill=fill,
                                                                              free=free)
                        short[mode] = phasing.phase(values, unknown=unknown, bounds=bounds,
                                                    seed=reconstruction.start_seed(args.seed, 0),
                                                    sequence=reconstruction.SUPPORT_SEQUENCE)
                        support_of[mode] = reconstruction.analysis_support(short[mode].obj)
                        modes = unconstrained_modes(short[mode].obj, support_of[mode], gap)
                        shares[f"hidden_{mode}"] = modes.hidden_share
                        shares[f"half_hidden_{mode}"] = modes.half_hidden_share
                        if mode == "forced":  # what auto sees
                            shares["modes_per_line_forced"] = modes.max_per_line
                    recipe = reconstruction.mask_interp_fill(counts, gap | own)
                    fills = {"forced": ("forced", fill), "interval": ("interval", fill),
                             "mask-interp": ("mask-interp", recipe), "mask-interp coherent": ("mask-interp", recipe),
                             "free": ("free", None), "zero-mask": ("zero-mask", None)}
                    narrowed = {}
                    for variant in args.narrowed:
                        source, at = variant.split(":")
                        name = "narrowed" if variant == "forced:0.5" else f"narrowed {source} {at}"
                        narrowed[name] = ("narrowed", reconstruction.narrowed_interval(
                            fill, hidden_fraction(support_of[source], gap), float(at)))
                    if "narrowed" in narrowed:
                        fills["narrowed, then free"] = narrowed["narrowed"]
                    fills["forced, then free"] = fills["forced"]
                    fills = {version: held for version, held in (fills | narrowed).items()
                             if version in args.versions or version.startswith("narrowed ")}
                    jobs, keys = [], []
                    for version, (mode, held) in fills.items():
                        values, unknown, bounds = reconstruction.phase_inputs(counts, gap, mode=mode, fill=held,
                                                                              free=free)
                        extra = {**reconstruction.mode_options(mode), "psf": version == "mask-interp"}
                        if version.endswith(RELEASED):
                            extra["free_after"] = reconstruction.ZERO_MASK_FREE_AFTER
                        for start in range(args.starts):
                            jobs.append({"intensity": values, "unknown": unknown, "bounds": bounds,
                                         "seed": reconstruction.start_seed(args.seed, start), **options, **extra})
                            keys.append((version, start))
                    found = runner(jobs)
                    seconds = time.perf_counter() - t0
                    base = {"pattern": case.name, "kind": case.kind, "gap_width_px": width, "position": position,
                            "photon_share": reconstruction.gap_photon_share(counts, gap), **shares,
                            "seconds": round(seconds, 1)}
                    pcc, kept = {}, {}
                    for version in fills:  # the start `braggsynth phase --starts K` keeps of each version's
                        own_starts = [result for (v, _), result in zip(keys, found) if v == version]
                        kept[version] = reconstruction.most_reproducible([r.obj for r in own_starts],
                                                                         [r.error for r in own_starts])[0]
                    for (version, start), result in zip(keys, found):
                        score = phasing.compare(result.obj, case.reference)["modulus_pcc"]
                        pcc.setdefault(version, []).append(score)
                        writer.writerow({**base, "version": version, "start": start, "modulus_pcc": score,
                                         "error": result.error, "kept": int(start == kept[version])})
                    out.flush()
                    print(f"| {case.name} | {width} | {position} | {100 * base['photon_share']:.0f} % | "
                          + " / ".join(f"{shares[k]:.2f}" for k in ("hidden_reference", "hidden_forced",
                                                                     "half_hidden_forced")) + " | "
                          + " | ".join(f"{v} {np.mean(pcc[v]):.3f} ± {np.std(pcc[v]):.3f} (kept {pcc[v][kept[v]]:.3f})"
                                       for v in fills)
                          + f" | {seconds:.0f} s |", flush=True)
    print(f"wrote {table} after {time.perf_counter() - started:.0f} s")
    summarise(table, args.thresholds)


def summarise(table, thresholds) -> None:
    """For each threshold, how ``auto`` (free below it, narrowed above, on the forced short phasing's half-hidden
    share)
    compares with the best of free, forced and interval and with free pixels."""
    rows = list(csv.DictReader(open(table)))
    cases = {}
    for r in rows:
        key = (r["pattern"], int(r["gap_width_px"]), r["position"])
        cases.setdefault(key, {"row": r, "pcc": {}})["pcc"].setdefault(r["version"], []).append(float(r["modulus_pcc"]))
    print("\n| threshold | cases | below best of free/forced/interval - 0.03 | below free beyond the spread | "
          "mean gain over free |")
    print("|---:|---:|---:|---:|---:|")
    for threshold in thresholds:
        short, below, gains = 0, 0, []
        for found in cases.values():
            if not {"free", "forced", "interval", "narrowed"} <= set(found["pcc"]):
                continue  # a run of some versions only
            pcc = {v: np.mean(s) for v, s in found["pcc"].items()}
            spread = {v: np.std(s) for v, s in found["pcc"].items()}
            auto = "free" if float(found["row"]["half_hidden_forced"]) < threshold else "narrowed"
            best = max(pcc[v] for v in ("free", "forced", "interval"))
            short += pcc[auto] < best - 0.03
            below += pcc[auto] < pcc["free"] - max(spread[auto], spread["free"])
            gains.append(pcc[auto] - pcc["free"])
        if not gains:
            print("(no case phased free, forced, interval and narrowed: no threshold table)")
            return
        print(f"| {threshold} | {len(gains)} | {short} | {below} | {np.mean(gains):+.3f} |")


if __name__ == "__main__":
    main()
