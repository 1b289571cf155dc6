"""Does inpainting help the reconstruction? Patterns are phased (:mod:`braggsynth.phase.reconstruction`) with an
artificial gap plane held in every mode, and each reconstruction is scored in real space against a reference.

*Cases.* A held-out simulated pattern is scored against its true object, the transform of the exact complex
amplitude of the relaxed atoms on the same grid (:func:`braggsynth.phase.phasing.true_object`). A measured file has no
true object: it is phased gap-free from ``reference_starts`` random starts, the start that agrees best with the
others is its reference (:func:`braggsynth.phase.reconstruction.most_reproducible`), and the agreement of the
other starts with it is the *floor* below which no difference means anything (:func:`measured_reference`).
Where the floor is under :data:`braggsynth.phase.reconstruction.STABLE_AGREEMENT`, the gap-free phasing of that
crop is itself unstable (the starts find different objects), and the report gives the file's scores but no
verdict on them. Pixels a measured file's own mask marks are free in every version.

*Gaps.* For each width, a plane normal to the detector columns (x), as a MAXIPIX or EIGER chip gap, either
through the maximum (``through``) or with its near edge ``OFF_EDGE_PX`` beyond it (``off``); each row says
what share of the photons the gap holds.

*Versions* (:func:`versions`): ``gap-free``; ``zero`` (what a cohere user gets today); ``free`` (what PyNX
does by default); PyNX's recipes as beamline users run them: ``PyNX recipe`` (``mask_interp=8,2`` kept within
0.5-1.2 of it, with ``psf=True``, as the SIXS scan's author phased it) and ``zero-mask`` (``zero_mask=auto``);
``forced: M`` for the fill of every baseline and model M; ``interval: M`` inside each model's calibrated
interval; ``narrowed: M`` inside that interval narrowed by how hidden each voxel is; ``auto: M``, what
``braggsynth phase`` does by default with model M (:func:`braggsynth.phase.reconstruction.decide_mode`: ``free``
or ``narrowed: M``), scored as the version of that mode (the same inputs and seeds give the same
reconstruction). Each version is phased from ``starts`` random starts (start k of every version uses seed
``seed * 1000 + k``) and every start is scored.

Beside the real-space scores, each fill is scored in reciprocal space over the gap: PCC of log(I + 1), as the
evaluation scores fills, and the amplitude R-factor (:func:`braggsynth.score.metrics.amplitude_r_factor`), which
weighs the bright voxels that phasing depends on; :func:`rank_agreement` says which of the two predicts the
real-space ranking of the fills.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from braggsynth.phase import phasing, reconstruction
from braggsynth.phase.reconstruction import Fill
from braggsynth.phase.unconstrained import unconstrained_modes
from braggsynth.report.evaluate import _fill_volume, peak_position, peak_window
from braggsynth.score import metrics

GAP_FREE = "gap-free"
#: PyNX's recipe as the SIXS scan's author ran it: the ``mask-interp`` mode with partial coherence modelled.
PYNX_RECIPE = "PyNX recipe"
#: Options of :func:`braggsynth.phase.phasing.phase` a version adds to its mode's.
VERSION_OPTIONS = {PYNX_RECIPE: {"psf": True}}
POSITIONS = ("through", "off")
#: Columns from the maximum's column to the first column of an ``off`` gap (3 measured columns between).
OFF_EDGE_PX = 4


def stable(floor) -> bool:
    """Whether a measured file's gap-free starts agree with its reference well enough (mean of ``floor``, the
    other starts' modulus PCC, at least :data:`braggsynth.phase.reconstruction.STABLE_AGREEMENT`) for a
    difference between versions to mean anything; True without a floor (a simulated case, scored against its
    true object)."""
    return not len(floor) or float(np.mean(floor)) >= reconstruction.STABLE_AGREEMENT


@dataclass
class Case:
    """One volume to phase: ``counts`` (z, y, x) photons without the artificial gap, the ``reference`` object
    its reconstructions are scored against, and for a measured file the ``floor`` (modulus PCC of the other
    gap-free starts against the reference) and its own ``unmeasured`` pixels."""

    name: str
    kind: str
    counts: np.ndarray
    reference: np.ndarray
    floor: list = field(default_factory=list)
    unmeasured: np.ndarray | None = None


def crop_around_peak(volume, crop_px: int, *others, unmeasured=None):
    """The ``crop_px``^3 cube of ``volume`` (and of each of ``others``) around the maximum of ``volume``, its
    ``unmeasured`` voxels (bool (z, y, x) or None: aliens, bad pixels) never taken for it."""
    window = peak_window(np.asarray(volume) if unmeasured is None else np.where(unmeasured, 0, volume), crop_px)
    cropped = [np.asarray(volume)[window]] + [None if o is None else np.asarray(o)[window] for o in others]
    return cropped if others else cropped[0]


def gap_plane(shape, centre: int, width: int) -> np.ndarray:
    """(z, y, x) bool mask of the ``width`` columns (x) from ``centre - width // 2`` (centred on column
    ``centre``, half a column to the left for an even width). ValueError when they do not fit the volume."""
    start = centre - width // 2
    if start < 0 or start + width > shape[2]:
        raise ValueError(f"a {width} px gap plane at columns {start}-{start + width - 1} does not fit a volume "
                         f"{shape[2]} columns wide; crop a larger volume")
    mask = np.zeros(shape, bool)
    mask[:, :, start:start + width] = True
    return mask


def gap_at(shape, peak_x: int, width: int, position: str) -> np.ndarray:
    """The gap plane of ``width`` columns ``through`` the peak's column (:func:`gap_plane`), or ``off`` it:
    from ``OFF_EDGE_PX`` columns after it (for 6 px, columns +4 to +9 from the maximum)."""
    if position not in POSITIONS:
        raise ValueError(f"gap position {position!r}: expected one of {', '.join(POSITIONS)}")
    centre = peak_x if position == "through" else peak_x + OFF_EDGE_PX + width // 2
    return gap_plane(shape, centre, width)


def reference_support(reference, threshold: float = 0.1) -> np.ndarray:
    """The support of a case's reference object: where its modulus exceeds ``threshold`` of its maximum."""
    modulus = np.abs(reference)
    return modulus > threshold * modulus.max()


def gap_pcc(filled, counts, gap) -> float:
    """PCC over the gap in log(I + 1), as the evaluation scores fills (:func:`braggsynth.score.metrics.pcc`)."""
    return metrics.pcc(np.log1p(np.clip(filled, 0, None)), np.log1p(counts), gap)


def fills(counts, gap, fill_functions: dict, baselines) -> dict:
    """method -> :class:`braggsynth.phase.reconstruction.Fill` of the gap: each baseline's and each model's
    (``fill_functions``: name -> :func:`braggsynth.phase.reconstruction.model_fill`)."""
    gapped = np.where(gap, 0.0, counts)
    found = {method: Fill(_fill_volume(method, gapped, gap, {}, stride=None, batch_size=16, progress=False))
             for method in baselines}
    found.update({name: function(gapped, gap) for name, function in fill_functions.items()})
    return found


def versions(found_fills: dict, models, narrowed: dict | None = None, recipe: Fill | None = None) -> dict:
    """version name -> (mode, Fill or None) of every version but ``auto`` (module docstring): ``narrowed``
    maps a model to its narrowed fill (:func:`braggsynth.phase.reconstruction.decide_mode`), ``recipe`` is
    :func:`braggsynth.phase.reconstruction.mask_interp_fill` of the scan (no PyNX versions without it)."""
    chosen = {GAP_FREE: ("free", None), "zero": ("zero", None), "free": ("free", None)}
    if recipe is not None:
        chosen.update({PYNX_RECIPE: ("mask-interp", recipe), "zero-mask": ("zero-mask", None)})
    chosen.update({f"forced: {method}": ("forced", fill) for method, fill in found_fills.items()})
    chosen.update({f"interval: {name}": ("interval", found_fills[name]) for name in models
                   if found_fills[name].lower is not None})
    chosen.update({f"narrowed: {name}": ("narrowed", fill) for name, fill in (narrowed or {}).items()})
    return chosen


def auto_version(share: float, model: str) -> tuple[str, str]:
    """(mode, version) ``braggsynth phase --gaps auto`` runs with ``model`` for a gap whose half-hidden share (on
    the short phasing's support, :func:`braggsynth.phase.reconstruction.decide_mode`) is ``share``."""
    mode = reconstruction.mode_for_share(share)
    return (mode, "free") if mode == "free" else (mode, f"{mode}: {model}")


def _phase_one(job):
    import scipy.fft

    with scipy.fft.set_workers(1):
        return phasing.phase(**job)


class ParallelRunner:
    """A runner for :func:`real_space_check` and :func:`measured_reference`: the jobs
    spread over ``workers`` processes (started once, at the first call), one FFT thread each; the same numbers
    as in turn. Use it as a context manager, so that the processes stop."""

    def __init__(self, workers: int):
        self.workers, self._pool = int(workers), None

    def __call__(self, jobs, progress: bool = False):
        if self.workers <= 1 or len(jobs) <= 1:
            return reconstruction.run_in_turn(jobs, progress=progress)
        if self._pool is None:
            import multiprocessing

            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"))
        return list(tqdm(self._pool.map(_phase_one, jobs), total=len(jobs), desc="phasing", unit="run",
                         disable=not progress))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None


def simulated_case(name: str, counts, amplitude, crop_px: int, unmeasured=None) -> Case:
    """A held-out simulated pattern's case: its recorded ``counts`` (without gaps) and exact complex
    ``amplitude``, cropped to the cube of side ``crop_px`` around the peak; the reference is the true object.

    ``unmeasured`` (bool (z, y, x) or None): the recording's masked voxels (bad pixels, aliens), left free in
    every version as a measured file's own mask is, and never taken for the peak."""
    counts, amplitude, own = crop_around_peak(counts, crop_px, amplitude, unmeasured, unmeasured=unmeasured)
    return Case(name, "simulated", counts, phasing.true_object(amplitude),
                unmeasured=own if own is not None and own.any() else None)


def case_peak(case: Case) -> tuple[int, int, int]:
    """:func:`peak_position` of a case's counts, its own unmeasured voxels (aliens, bad pixels) left out."""
    counts = np.asarray(case.counts, dtype=np.float64)
    return peak_position(counts if case.unmeasured is None else np.where(case.unmeasured, 0.0, counts))


def read_simulated_case(recording, peak, crop_px: int) -> Case:
    """:func:`simulated_case` of a detector recording file and its peak file, named ``shape/sample`` (the shard
    folder's parent and the recording's stem), its bad pixels and aliens unmeasured."""
    from pathlib import Path

    from braggsynth import io

    recording = Path(recording)
    pattern = io.read_detector_pattern(recording)
    return simulated_case(f"{recording.parents[1].name}/{recording.stem}", pattern["counts"],
                          io.read_peak(peak)["amplitude"], crop_px, unmeasured=pattern["bad"])


def measured_case(name: str, intensity, mask, crop_px: int, *, reference_starts: int, seed: int, runner,
                  **phasing_options) -> Case:
    """A measured file's case: its intensity (and own ``mask`` of unmeasured pixels, or None) cropped to the
    cube of side ``crop_px`` around the peak; the reference is its gap-free reconstruction
    (:func:`measured_reference`)."""
    counts, unmeasured = crop_around_peak(intensity, crop_px, mask, unmeasured=mask)
    reference, floor = measured_reference(counts, starts=reference_starts, seed=seed, runner=runner,
                                          unmeasured=unmeasured, **phasing_options)
    return Case(name, "measured", counts, reference, floor, unmeasured)


def measured_reference(counts, *, starts: int, seed: int, runner, unmeasured=None, **phasing_options):
    """(reference, floor): the gap-free reconstruction of a measured file, the most reproducible of ``starts``
    starts (:func:`braggsynth.phase.reconstruction.most_reproducible`), and the modulus PCC of each other start
    against it (the spread of starts that agree). Its seeds (``seed + 1``) are not those of the versions
    (``seed``): no version repeats a start of the reference."""
    values, unknown, bounds = reconstruction.phase_inputs(
        counts, np.zeros(np.shape(counts), bool) if unmeasured is None else unmeasured, mode="free")
    found = runner([{"intensity": values, "unknown": unknown, "bounds": bounds,
                     "seed": reconstruction.start_seed(seed + 1, start), **phasing_options} for start in range(starts)])
    best, floor = reconstruction.most_reproducible([r.obj for r in found], [r.error for r in found])
    return phasing.align(found[best].obj, found[best].obj), floor


def error_drop(errors, lag: int = 200) -> float:
    """Relative change of the modulus error over the last ``lag`` iterations, (e[-1 - lag] - e[-1]) / e[-1]:
    near 0 for a converged reconstruction. The default compares the ends of the last two ER blocks of the
    default recipe (one 20 ER + 180 HIO cycle apart), so that HIO's higher error does not count as progress."""
    errors = np.asarray(errors, dtype=np.float64)
    first = errors[max(errors.size - lag - 1, 0)]
    return float((first - errors[-1]) / max(errors[-1], 1e-300))


def real_space_check(cases, fill_functions: dict, *, baselines, gap_widths_px=(6,), positions=("through",),
                     starts: int = 2, seed: int = 0, runner=None, progress: bool = True, **phasing_options):
    """Phase every case in every version, width and position, and score each reconstruction.

    Parameters
    ----------
    cases
        :class:`Case` objects (cropped already: every version is phased on the whole case).
    fill_functions
        model name -> :func:`braggsynth.phase.reconstruction.model_fill`.
    baselines
        baselines whose fill is forced (:data:`braggsynth.score.baselines.BASELINES`).
    gap_widths_px, positions
        the artificial gaps (:func:`gap_at`).
    starts
        random starts per version (seeds :func:`braggsynth.phase.reconstruction.start_seed`).
    runner
        a :class:`ParallelRunner` (default: in turn).
    phasing_options
        :func:`braggsynth.phase.phasing.phase`'s (sequence, library, device).

    Returns
    -------
    rows, gap_rows, examples, curves, title
        One row per case, width, position, version and start (``pattern``,
        ``kind``, ``gap_width_px``, ``position``, ``photon_share``, ``hidden_share`` (the share of the gap's
        power that the data cannot decide, :func:`braggsynth.phase.unconstrained.unconstrained_modes` on the
        reference's support, :func:`reference_support`), ``version``, ``mode``, ``start``,
        ``modulus_pcc``, ``phase_rms_rad``, ``error``, ``error_drop``); the reciprocal-space scores of each fill
        over the gap (``method``, ``pcc`` in log(I + 1), ``amplitude_r``: the baselines, the models and
        :data:`braggsynth.phase.phasing.GAP_FILL` of the free version per start); for the first case, width and
        position, the aligned start-0 object of each version beside the reference, its error per iteration, and
        a title saying which case that is.
    """
    runner = runner or reconstruction.run_in_turn
    rows, gap_rows, examples, curves, first, title = [], [], {}, {}, True, ""
    for case in cases:
        counts = np.asarray(case.counts, dtype=np.float64)
        peak_x = case_peak(case)[2]
        support = reference_support(case.reference)
        for width in gap_widths_px:
            for position in positions:
                gap = gap_at(counts.shape, peak_x, int(width), position)
                own = np.zeros(counts.shape, bool) if case.unmeasured is None else case.unmeasured & ~gap
                share = reconstruction.gap_photon_share(counts, gap)
                found_fills = fills(counts, gap | own, fill_functions, baselines)
                hidden = unconstrained_modes(case.reference, support, gap)
                base = {"pattern": case.name, "kind": case.kind, "gap_width_px": int(width), "position": position,
                        "photon_share": share, "hidden_share": hidden.hidden_share}
                scored = gap & ~own
                gap_rows += [{**base, "method": method, "start": 0, "pcc": gap_pcc(fill.filled, counts, scored),
                              "amplitude_r": metrics.amplitude_r_factor(fill.filled, counts, scored)}
                             for method, fill in found_fills.items()]
                free = own if own.any() else None
                decisions = {name: reconstruction.decide_mode(counts, gap, found_fills[name], free_below=0.0,
                                                              seed=seed, free=free, **phasing_options)
                             for name in fill_functions}
                chosen = versions(found_fills, fill_functions, {name: d.fill for name, d in decisions.items()},
                                  reconstruction.mask_interp_fill(counts, gap | own))
                jobs, keys = [], []
                none = np.zeros(counts.shape, bool)
                for version, (mode, fill) in chosen.items():
                    values, unknown, bounds = reconstruction.phase_inputs(
                        counts, none if version == GAP_FREE else gap, mode=mode, fill=fill, free=free)
                    options = {**phasing_options, **reconstruction.mode_options(mode),
                               **VERSION_OPTIONS.get(version, {})}
                    for start in range(starts):
                        jobs.append({"intensity": values, "unknown": unknown, "bounds": bounds,
                                     "seed": reconstruction.start_seed(seed, start), **options})
                        keys.append((version, mode, start))
                desc = f"{case.name}, {width} px {position}"
                results = dict(zip(keys, runner(jobs, progress=progress)))
                for (version, mode, start), result in results.items():
                    scores = phasing.compare(result.obj, case.reference)
                    rows.append({**base, "version": version, "mode": mode, "start": start,
                                 "modulus_pcc": scores["modulus_pcc"], "phase_rms_rad": scores["phase_rms_rad"],
                                 "error": result.error, "error_drop": error_drop(result.errors)})
                    if version == "free":
                        filled = phasing.gap_fill(result.obj, counts, gap | own)
                        gap_rows.append({**base, "method": phasing.GAP_FILL, "start": start,
                                         "pcc": gap_pcc(filled, counts, scored),
                                         "amplitude_r": metrics.amplitude_r_factor(filled, counts, scored)})
                    if first and start == 0:
                        examples[version] = phasing.align(result.obj, case.reference)
                        curves[version] = result.errors
                for name, decision in decisions.items():
                    hidden_share = decision.hidden.half_hidden_share
                    mode, version = auto_version(hidden_share, name)
                    why = reconstruction.mode_reason(decision.hidden)  # the default's threshold, not free_below=0
                    for row in [r for r in rows if r["pattern"] == case.name and r["gap_width_px"] == int(width)
                                and r["position"] == position and r["version"] == version]:
                        rows.append({**row, "version": f"auto: {name}", "mode": mode, "choice": f"{mode}: {why}",
                                     "decided_share": hidden_share})
                if first:
                    examples = {"reference": case.reference, **examples}
                    title = f"{desc} ({100 * share:.0f} % of the photons in the gap)"
                first = False
                if progress:
                    print(f"{desc}: done", flush=True)
    return rows, gap_rows, examples, curves, title


def summary(rows, key: str = "version", scores=("modulus_pcc", "phase_rms_rad", "error", "error_drop")) -> list[dict]:
    """Mean and standard deviation of ``scores`` over starts per (pattern, width, position, ``key``), in the
    order of ``rows``; ``samples`` counts them, ``photon_share``, ``hidden_share`` (where the rows have it) and
    ``mode`` are carried over."""
    groups = {}
    for row in rows:
        groups.setdefault((row["pattern"], row["gap_width_px"], row["position"], row[key]), []).append(row)
    table = []
    for (pattern, width, position, value), members in groups.items():
        entry = {"pattern": pattern, "kind": members[0]["kind"], "gap_width_px": width, "position": position,
                 "photon_share": members[0]["photon_share"], key: value, "samples": len(members)}
        for carried in ("hidden_share", "mode"):
            if members[0].get(carried) not in (None, ""):
                entry[carried] = members[0][carried]
        for score in scores:
            values = np.array([r[score] for r in members], dtype=np.float64)
            entry |= {f"{score}_mean": float(values.mean()), f"{score}_std": float(values.std())}
        table.append(entry)
    return table


def rank_agreement(table, gap_table, scores=("pcc", "amplitude_r")) -> dict:
    """How well each reciprocal-space score of the forced fills predicts their real-space ranking: per
    case (pattern, width, position), Spearman's correlation between the score (R negated: lower is better)
    and the modulus PCC of the ``forced: <method>`` versions, averaged over the cases; NaN with < 3 fills."""
    from scipy.stats import spearmanr

    real = {(r["pattern"], r["gap_width_px"], r["position"], r["version"][len("forced: "):]): r["modulus_pcc_mean"]
            for r in table if r["version"].startswith("forced: ")}
    found = {}
    for score in scores:
        cases = {}
        for r in gap_table:
            key = (r["pattern"], r["gap_width_px"], r["position"], r["method"])
            if key in real:
                sign = -1.0 if score == "amplitude_r" else 1.0
                cases.setdefault(key[:3], []).append((sign * r[f"{score}_mean"], real[key]))
        correlations = [spearmanr(*zip(*pairs)).statistic for pairs in cases.values() if len(pairs) >= 3]
        found[score] = float(np.nanmean(correlations)) if correlations else float("nan")
    return found


def simulated_predicts_measured(table, floors: dict | None = None) -> dict:
    """How well the simulated patterns rank the versions (modes and fills) as each measured file does: per
    measured case and gap (width, position), Spearman's correlation between the versions' (not ``gap-free``)
    modulus PCC averaged
    over the simulated cases of that gap and the measured case's own, averaged over its gaps; {measured case:
    correlation}, NaN where fewer than 3 versions are shared or where the case's floor (``floors``: case ->
    floor) is not :func:`stable` (1: simulated validation ranks them as the measured file does)."""
    from scipy.stats import spearmanr

    simulated, measured = {}, {}
    for r in table:
        if r["version"] == "gap-free":  # the reference of a simulated case: not a choice a user makes
            continue
        key = (r["gap_width_px"], r["position"])
        if r["kind"] == "simulated":
            simulated.setdefault(key, {}).setdefault(r["version"], []).append(r["modulus_pcc_mean"])
        else:
            measured.setdefault(r["pattern"], {}).setdefault(key, {})[r["version"]] = r["modulus_pcc_mean"]
    found = {}
    for name, gaps_of in measured.items():
        if not stable((floors or {}).get(name, [])):
            found[name] = float("nan")
            continue
        correlations = []
        for key, versions in gaps_of.items():
            shared = [v for v in versions if v in simulated.get(key, {})]
            if len(shared) >= 3:
                correlations.append(spearmanr([np.mean(simulated[key][v]) for v in shared],
                                              [versions[v] for v in shared]).statistic)
        found[name] = float(np.nanmean(correlations)) if correlations else float("nan")
    return found


def verdicts(table, models, floors: dict | None = None) -> list[dict]:
    """Per case, the recommended mode (``auto: M``) against free pixels: modulus PCC of each, their
    difference and the larger of the two spreads of the starts; against PyNX's recipe (``recipe``, NaN
    without it); and whether the case's reference is ``stable`` (:func:`stable` of its floor in ``floors``)."""
    by_case = {}
    for r in table:
        by_case.setdefault((r["pattern"], r["gap_width_px"], r["position"]), {})[r["version"]] = r
    found = []
    for (pattern, width, position), members in by_case.items():
        for name in models:
            auto, free = members.get(f"auto: {name}"), members.get("free")
            if auto is None or free is None:
                continue
            found.append({"pattern": pattern, "gap_width_px": width, "position": position, "model": name,
                          "photon_share": free["photon_share"], "mode": auto.get("mode", ""),
                          "auto": auto["modulus_pcc_mean"], "free": free["modulus_pcc_mean"],
                          "difference": auto["modulus_pcc_mean"] - free["modulus_pcc_mean"],
                          "spread": max(auto["modulus_pcc_std"], free["modulus_pcc_std"]),
                          "stable": stable((floors or {}).get(pattern, [])),
                          "recipe": members[PYNX_RECIPE]["modulus_pcc_mean"] if PYNX_RECIPE in members
                          else float("nan")})
    return found


def _cell(mean, std=None) -> str:
    if mean is None or not np.isfinite(mean):
        return "—"
    return f"{mean:.3f}" if std is None else f"{mean:.3f} ± {std:.3f}"


def opening_table(table, floors: dict, models) -> list[str]:
    """The report's first table (Markdown lines): per case, modulus PCC of zero, free, the best forced
    baseline, each model forced, in its interval and in the recommended mode (with the mode it chose)."""
    by_case = {}
    for r in table:
        by_case.setdefault((r["pattern"], r["gap_width_px"], r["position"]), {})[r["version"]] = r
    header = ["case", "gap (px)", "position", "photons in gap", "hidden (lambda > 0.9)", "gap-free (floor)", "zero",
              "free", PYNX_RECIPE, "zero-mask", "best baseline, forced"]
    for name in models:
        header += [f"{name}, forced", f"{name}, interval", f"{name}, narrowed", f"**{name}, auto** (mode)"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * 4 + "---:|" * (len(header) - 4)]
    for (pattern, width, position), members in by_case.items():
        any_row = next(iter(members.values()))
        floor = floors.get(pattern)
        free_text = _cell(members[GAP_FREE]["modulus_pcc_mean"], members[GAP_FREE]["modulus_pcc_std"]) \
            if GAP_FREE in members else "—"
        if floor:
            free_text += f" ({np.mean(floor):.3f})"
        baselines = {v: r for v, r in members.items() if v.startswith("forced: ") and v[8:] not in models}
        best = max(baselines, key=lambda v: baselines[v]["modulus_pcc_mean"]) if baselines else None
        hidden = any_row.get("hidden_share")
        cells = [pattern, str(width), position, f"{100 * any_row['photon_share']:.0f} %",
                 "—" if hidden is None else f"{100 * float(hidden):.0f} %", free_text,
                 *(_cell(members[v]["modulus_pcc_mean"], members[v]["modulus_pcc_std"]) if v in members else "—"
                   for v in ("zero", "free", PYNX_RECIPE, "zero-mask")),
                 (f"{_cell(baselines[best]['modulus_pcc_mean'], baselines[best]['modulus_pcc_std'])} ({best[8:]})"
                  if best else "—")]
        for name in models:
            for version in (f"forced: {name}", f"interval: {name}", f"narrowed: {name}", f"auto: {name}"):
                r = members.get(version)
                text = _cell(r["modulus_pcc_mean"], r["modulus_pcc_std"]) if r else "—"
                cells.append(f"{text} ({r['mode']})" if r and version.startswith("auto") else text)
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def report_markdown(table, gap_table, *, floors: dict, models, crop_px: int, sequence: str, starts: int,
                    figure_name: str, curves_name: str, choices=(), psf: bool = False) -> str:
    """The real-space report: the opening table, the verdicts of the recommended mode against free pixels,
    every version in detail, the fills in reciprocal space and how well each score predicts real space."""
    from braggsynth.phase.phasing import iterations

    verdict_rows = verdicts(table, models, floors)
    unstable = {name: float(np.mean(floor)) for name, floor in floors.items() if not stable(floor)}
    agreement = rank_agreement(table, gap_table)
    lines = [
        "# Real space first: does filling the gap help the reconstruction?",
        "",
        f"Each case is a {crop_px}^3 crop around the peak, phased with cohere-core (`{sequence}`, "
        f"{iterations(sequence)} iterations, shrink-wrap) from {starts} random starts per version, an artificial "
        "gap plane (normal to the detector columns) through the maximum or off it. A simulated pattern is scored "
        "against its true object (the transform of the exact amplitude of the relaxed atoms); a measured file "
        "against its own gap-free reconstruction (the start of several that agrees best with the others; the floor "
        "in brackets is how well its other starts agree with it: no difference below it means anything, and under "
        f"{reconstruction.STABLE_AGREEMENT} the file gets no verdict). Modulus PCC after registration "
        "(translation, twin, global phase, phase ramp), mean ± standard deviation over the starts; higher is "
        "better. Modes: `zero` (what plain cohere does with zeros in a gap), `free` (what PyNX does), `forced` "
        "(every gap pixel forced to the fill), `interval` (kept inside the model's calibrated 68 % interval), "
        "`narrowed` (that interval narrowed voxel by voxel by how hidden its Fourier component is), "
        f"`{PYNX_RECIPE}` (`mask_interp=8,2` kept within 0.5-1.2 of it, with `psf=True`, as the SIXS scan's author "
        "phased it), `zero-mask` (PyNX's `zero_mask=auto`: zeros for 60 % of HIO, then free), `auto` (the "
        "default of `braggsynth phase`: free when under "
        f"{100 * reconstruction.FREE_BELOW:.0f} % of the gap's power lies in modes at least half hidden from the "
        "data on the support of a short phasing, else narrowed; it never reads the gap's pixels). Every "
        "reconstruction but the PyNX recipe's, the measured files' references included, was phased "
        f"{'with' if psf else 'without'} "
        "partial coherence modelled (`braggsynth phase --psf`, PyNX's `psf=True`).",
        "",
        *opening_table(table, floors, models),
        "",
        "Does simulated validation predict the measured files? Spearman correlation between the versions' "
        "modulus PCC averaged over the simulated patterns and each measured file's, per gap, mean over the gaps "
        "(1: the same ranking): " + (", ".join(
            f"{name} {_cell(value) if name not in unstable else 'not measured (its reference is unstable)'}"
            for name, value in simulated_predicts_measured(table, floors).items()) or "no measured file") + ".",
        *([] if not unstable else [
            "",
            "**Unstable references**: " + ", ".join(f"{name} (floor {value:.3f})" for name, value in unstable.items())
            + f". Their gap-free starts agree under {reconstruction.STABLE_AGREEMENT} with the start taken as the "
            "reference: the gap-free phasing of this crop finds different objects from different starts, so their "
            "scores are given but carry no verdict (a larger crop, `real_space.crop_px`, may steady it: the raw "
            "SIXS scan's starts agree at 0.91-0.92 at 64^3)."]),
        "",
        "## The recommended mode against free pixels",
        "",
        "| case | gap (px) | position | model | chose | auto | free | difference | spread of starts | verdict | "
        f"{PYNX_RECIPE} |",
        "|---|---:|---|---|---|---:|---:|---:|---:|---|---:|",
    ]
    for v in verdict_rows:
        if not v["stable"]:
            word = "no verdict: unstable reference"
        elif v["difference"] < -v["spread"]:
            word = "**below free pixels**"
        elif v["difference"] > max(v["spread"], 0.0):
            word = "above free pixels"
        else:
            word = "as free pixels, within the spread"
        lines.append(f"| {v['pattern']} | {v['gap_width_px']} | {v['position']} | {v['model']} | {v['mode']} | "
                     f"{v['auto']:.3f} | {v['free']:.3f} | {v['difference']:+.3f} | {v['spread']:.3f} | {word} | "
                     f"{_cell(v['recipe'])} |")
    lines += ["", "Why each choice: " if choices else ""] + [f"- {c}" for c in choices] + [
        "",
        f"![central slices]({figure_name})",
        "",
        f"![modulus error against iteration]({curves_name})",
        "",
        "## Every version",
        "",
        "Final modulus error and its relative drop over the last 200 iterations, from the end of one ER block to "
        "the end of the next in the default recipe (near 0: converged).",
        "",
        "| case | gap (px) | position | version | starts | modulus PCC | phase RMS (rad) | final error "
        "| last-200 drop |",
        "|---|---:|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in table:
        lines.append(f"| {r['pattern']} | {r['gap_width_px']} | {r['position']} | {r['version']} | {r['samples']} | "
                     f"{_cell(r['modulus_pcc_mean'], r['modulus_pcc_std'])} | "
                     f"{_cell(r['phase_rms_rad_mean'], r['phase_rms_rad_std'])} | {_cell(r['error_mean'])} | "
                     f"{_cell(r['error_drop_mean'])} |")
    lines += [
        "",
        "## The fills in reciprocal space",
        "",
        "Over the gap's voxels against the counts: PCC of log(I + 1) (higher is better, as the evaluation scores "
        "fills) and the amplitude R-factor sum|sqrt(I_fill) - sqrt(I)| / sum sqrt(I) (lower is better; it "
        f"weighs the bright voxels). `{phasing.GAP_FILL}` is the free version's own |F|^2.",
        "",
        f"How well each predicts the real-space ranking of the forced fills (Spearman correlation with their "
        f"modulus PCC, mean over the cases; 1 is a perfect prediction): log PCC {_cell(agreement['pcc'])}, "
        f"amplitude R {_cell(agreement['amplitude_r'])}.",
        "",
        "| case | gap (px) | position | method | log PCC | amplitude R |",
        "|---|---:|---|---|---:|---:|",
    ]
    for r in gap_table:
        lines.append(f"| {r['pattern']} | {r['gap_width_px']} | {r['position']} | {r['method']} | "
                     f"{_cell(r['pcc_mean'], r['pcc_std'])} | {_cell(r['amplitude_r_mean'], r['amplitude_r_std'])} |")
    lines.append("")
    return "\n".join(lines)


def write_report(report_path, table_path, figure_path, curves_path, found, *, cases, models, crop_px: int,
                 sequence: str, starts: int, psf: bool = False) -> None:
    """Write what :func:`real_space_check` ``found``: the Markdown report (:func:`report_markdown`), a CSV of
    every reconstruction's row, the central slices and the error curves of the first case (atomically)."""
    import csv
    from pathlib import Path

    from braggsynth import io
    from braggsynth.figures import error_curves, real_space_slices

    rows, gap_rows, examples, curves, title = found
    with io.atomic_path(table_path) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(dict.fromkeys(k for r in rows for k in r)), restval="")
        writer.writeheader()
        writer.writerows(rows)
    real_space_slices(examples, figure_path, title=title)
    error_curves(curves, curves_path, title=f"{title}: start 0 of each version")
    choices = sorted({f"{r['pattern']}, {r['gap_width_px']} px {r['position']}, {r['version']}: {r['choice']}"
                      for r in rows if "choice" in r and r["start"] == 0})
    text = report_markdown(summary(rows), summary(gap_rows, key="method", scores=("pcc", "amplitude_r")),
                           floors={case.name: case.floor for case in cases}, models=models, crop_px=crop_px,
                           sequence=sequence, starts=starts, figure_name=Path(figure_path).name,
                           curves_name=Path(curves_path).name, choices=choices, psf=psf)
    with io.atomic_path(report_path) as tmp:
        Path(tmp).write_text(text)
