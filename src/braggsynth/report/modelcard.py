"""The card of a shipped model, and the step that ships one into the package.

A card says what a model is (architecture, prefill, parameters), what it was
trained on (the dataset card's counts), how (the recipe and the training
settings, time and stop reason; the commit), how well it does (the PCC per
gap width of every method in its evaluation report) and under which licence.
It is written as JSON (read by tests and programs) and Markdown (read by
people) beside the model file, with the same stem.

``python -m braggsynth.report.modelcard RUN_FOLDER`` ships the model a pretraining
run (``make pretrain``, ``runs/pretrain``) trained: it writes the weights of
``results/model/all/best.keras`` as a float32 model (portable to any CPU or
GPU, whatever precision trained it) to :data:`braggsynth.models.SHIPPED_MODEL`,
and its card.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
from pathlib import Path

from braggsynth import io

LICENCE = "BSD-3-Clause"


def _commit(folder) -> str:
    try:
        result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, timeout=10)
    except OSError:
        return "unknown"
    return result.stdout.strip() if result.returncode == 0 else "unknown"


def read_metrics(csv_path, method: str = "model") -> dict:
    """PCC per scope and gap width from an evaluation's ``metrics.csv``: {scope: {width: {method: pcc}}}.

    The crop protocol's rows give their binned PCC (its published figure of
    merit); the ``method`` of the card's own model is renamed ``this model``.
    """
    table = {}
    with open(csv_path, newline="") as handle:
        for row in csv.DictReader(handle):
            if row["gap_width_px"] == "all":
                continue
            value = row.get("pcc_binned") or row["pcc_mean"]
            name = "this model" if row["method"] == method else row["method"]
            if name == "shipped":
                continue
            table.setdefault(row["scope"], {}).setdefault(row["gap_width_px"], {})[name] = float(value)
    return table


def read_real_space(csv_path) -> list[dict]:
    """The real-space table of a run (``real_space.csv`` of rule real_space): modulus PCC and phase RMS per
    case and version, mean and standard deviation over the random starts
    (:func:`braggsynth.report.realspace.summary`)."""
    from braggsynth.report.realspace import summary

    with open(csv_path, newline="") as handle:
        rows = [{**row, "photon_share": float(row["photon_share"]),
                 "hidden_share": float(row["hidden_share"]) if row.get("hidden_share") else None}
                for row in csv.DictReader(handle)]
    keys = ("pattern", "kind", "gap_width_px", "position", "photon_share", "hidden_share", "version", "mode", "samples",
            "modulus_pcc_mean", "modulus_pcc_std", "phase_rms_rad_mean", "phase_rms_rad_std")
    return [{key: entry[key] for key in keys if key in entry}
            for entry in summary(rows, scores=("modulus_pcc", "phase_rms_rad"))]


def model_card(*, model, training_state: dict, dataset_card: dict, metrics: dict, recipe: str,
               commit: str, file_name: str = "inpainting.keras", recipe_file: str = "config/pretrain.yaml",
               coverage: dict | None = None, real_space: list | None = None, realism: dict | None = None) -> dict:
    """The card as a JSON-ready dict (see the module docstring); ``coverage``, ``real_space`` and ``realism``
    (the run's realism report, :func:`braggsynth.report.realism.assess` without its per-recording statistics) are
    None where the run measured none (a model without calibration, a run without rule real_space or realism)."""
    from braggsynth.learn.model import prefill_of

    settings = training_state["settings"]
    n = int(model.input_shape[1])
    return {
        "name": "braggsynth residual gap-inpainting U-Net",
        "file": file_name,
        "licence": LICENCE,
        "commit": commit,
        "model": {"parameters": int(model.count_params()), "prefill": prefill_of(model), "patch_size": n,
                  "input": f"(batch, {n}, {n}, {n}, 2): prefilled normalised patch, gap mask",
                  "output": f"(batch, {n}, {n}, {n}, 1): prefill + mask * correction"},
        "training": {"settings": {key: value for key, value in settings.items() if key != "dataset"},
                     "epochs": training_state["epochs_done"], "best_epoch": training_state.get("best_epoch"),
                     "best_val_loss": training_state.get("best_val_loss"),
                     "minutes": round(training_state.get("seconds", 0.0) / 60, 1),
                     "stopped": training_state.get("stopped", "epoch limit")},
        "data": {key: dataset_card[key] for key in ("patches", "sources", "by_split", "by_origin", "by_shape",
                                                    "by_gap_width_px", "seed") if key in dataset_card},
        "recipe": recipe,
        "recipe_file": recipe_file,
        "metrics": metrics,
        "coverage": coverage,
        "real_space": real_space,
        "realism": realism,
    }


def card_markdown(card: dict) -> str:
    """The card for people: what, on what, how, how well, licence."""
    training = card["training"]
    data = card["data"]
    n = card["model"].get("patch_size", 32)
    recipe_file = card.get("recipe_file", "config/pretrain.yaml")
    wide = "wide" in recipe_file
    make = "make pretrain-wide` then `make ship-wide" if wide else "make pretrain` then `make ship"
    widths = sorted(int(w) for w in data.get("by_gap_width_px") or {}) or ["?"]
    lines = [f"# Model card: {card['name']}", "",
             f"`{card['file']}`, {card['model']['parameters']:,} parameters, prefill `{card['model']['prefill']}`; "
             f"licence {card['licence']} (the project's); trained at commit `{card['commit']}`.", "",
             "Input: " + card["model"]["input"] + ". Output: " + card["model"]["output"] + ". "
             "Load it with `braggsynth.learn.model.load_model()` (safe mode); `braggsynth inpaint IN OUT` uses it.", "",
             "## Training data", "",
             f"{data.get('patches', '?')} patches of {n}^3 voxels from {data.get('sources', '?')} sources "
             f"(seed {data.get('seed', '?')}): per split {data.get('by_split')}, per origin {data.get('by_origin')}, "
             f"per shape {data.get('by_shape')}, per gap width (px) {data.get('by_gap_width_px')}.", "",
             "## Recipe", "",
             f"`{make}`, with `{recipe_file}` (below). Trained {training['epochs']} "
             f"epochs in {training['minutes']} minutes (stopped by {training['stopped']}); best validation loss "
             f"{training['best_val_loss']:.6f} at epoch {training['best_epoch']}."
             + _warm_start_text(training, wide), "",
             "```json", json.dumps(training["settings"], indent=1, sort_keys=True), "```", "",
             "```yaml", card["recipe"].rstrip(), "```", "",
             "## Metrics (PCC over the gap voxels, log space; data the model never saw)", ""]
    for scope, by_width in card["metrics"].items():
        methods = list(dict.fromkeys(m for values in by_width.values() for m in values))
        columns = sorted(by_width, key=int)
        lines += [f"### {scope}", "", "| method | " + " | ".join(f"{w} px" for w in columns) + " |",
                  "|---|" + "---:|" * len(columns)]
        for method in methods:
            cells = [f"{by_width[w][method]:.4f}" if method in by_width[w] else "" for w in columns]
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += _coverage_lines(card.get("coverage")) + _real_space_lines(card.get("real_space"))
    lines += _realism_lines(card.get("realism"))
    measured = sorted((card.get("realism") or {}).get("measured", {}))
    lines += ["## Limits", "",
              f"Trained on {n}^3 patches with gap planes of {widths[0]}-{widths[-1]} px; other widths are outside "
              f"what it was trained for, and its windows fill gaps of at most {n - 8} px. Simulated particles are "
              "FCC Au nanocrystals of 6-12 nm at the 111 reflection; measured patches come from "
              + (f"the run's measured files ({', '.join(measured)}: " if measured else "")
              + "the transform of one gold reconstruction (CXIDB I182, via bcdi, CeCILL-B)"
              + (" and the raw SIXS Pt scan of `../shared/data` (MIT))." if "sixs" in measured else ")."), ""]
    return "\n".join(lines)


def _warm_start_text(training: dict, wide: bool = False) -> str:
    start = training["settings"].get("initial_model")
    if not start:
        return " The weights started at random."
    return (f" The weights started from those of `{start['path']}` (SHA-256 `{start['sha256'][:16]}…`, "
            f"train.initial_model), the model shipped before, which `make pretrain{'-wide' if wide else ''}` takes "
            f"from git (`INITIAL{'_WIDE' if wide else ''}_COMMIT` in the Makefile).")


def _coverage_lines(coverage) -> list[str]:
    if not coverage:
        return ["## Uncertainty", "", "No calibrated interval: the `interval` mode of `braggsynth phase` and the "
                "bounds of `braggsynth inpaint` are not available with this model.", ""]
    cells = ", ".join(f"{float(level):.0%} interval: {value:.1%}" for level, value in coverage["levels"].items())
    return ["## Uncertainty", "",
            f"Calibrated intervals of the fill (`{coverage['file']}`, quantiles of its error on the "
            f"{coverage['calibration_patches']:,} patches of the {coverage['calibrated_on']}), and how often the "
            f"truth fell inside them on {coverage['test_patches']:,} test patches never used to calibrate: "
            f"{cells}.", ""]


def _real_space_lines(table) -> list[str]:
    if not table:
        return ["## Real space", "", "Not measured in the run that trained this model.", ""]
    from braggsynth.report.realspace import opening_table

    names = {"model": "this model", "shipped": "model shipped before"}  # the run's names, as the card says them
    renamed = []
    for row in table:
        mode, _, name = row["version"].partition(": ")
        renamed.append({**row, "version": f"{mode}: {names[name]}"} if name in names else row)
    present = {row["version"].partition(": ")[2] for row in renamed}
    lines = opening_table(renamed, {}, tuple(name for name in names.values() if name in present))  # run's models
    return ["## Real space (reconstructions; modulus PCC against the true object, or a measured file's gap-free "
            "reconstruction; mean ± std over starts)", "",
            "The run's `real_space` rule: artificial gap planes through the maximum or off it, phased with "
            "cohere-core in every mode (see the README, \"Real space first\"); higher is better.", "",
            *lines, ""]


def _realism_lines(realism) -> list[str]:
    if not realism:
        return ["## Realism of the training data", "", "Not measured in the run that trained this model.", ""]
    from braggsynth.report.realism import report_markdown

    table = report_markdown(realism).split("\n", 2)[2]  # without its title
    return ["## Realism of the training data (the run's realism report)", "", table.rstrip(), ""]


def ship(run_folder, destination=None, *, model_name: str = "all", recipe_file: str = "config/pretrain.yaml") -> Path:
    """Copy a pretraining run's best model into the package and write its card beside it.

    Parameters
    ----------
    run_folder
        the folder a pretraining ran in (``runs/pretrain``): it holds
        ``results/model/<model_name>/best.keras`` and its checkpoint state,
        ``results/dataset/card.json`` and ``results/evaluation/<model_name>/metrics.csv``.
    destination
        model file to write (default :data:`braggsynth.models.SHIPPED_MODEL`).
    recipe_file
        the recipe's path in the repository, named in the card.

    Returns
    -------
    pathlib.Path
        The model path written; ``.json`` and ``.md`` cards lie beside it.
    """
    from braggsynth.learn.model import build_model, load_model, prefill_of, save_model
    from braggsynth.models import SHIPPED_MODEL

    run = Path(run_folder)
    destination = Path(destination) if destination is not None else SHIPPED_MODEL
    source = run / "results" / "model" / model_name / "best.keras"
    states = sorted((run / "results" / "model" / model_name).glob("checkpoints-*/dataset-*/state.json"),
                    key=lambda p: p.stat().st_mtime)
    if not source.is_file() or not states:
        raise io.DataFileError(f"{run}: no trained model (results/model/{model_name}/best.keras and its checkpoints)")
    metrics_path = run / "results" / "evaluation" / model_name / "metrics.csv"
    if not metrics_path.is_file():
        raise io.DataFileError(f"{metrics_path}: no evaluation of the model; run the pretraining to its end")
    config_files = sorted(run.glob("*.yaml")) or [Path(__file__).parents[3] / "config" / "pretrain.yaml"]
    state = json.loads(states[-1].read_text())
    trained = load_model(source)
    settings = state["settings"]
    portable = build_model(patch_size=int(trained.input_shape[1]), base_filters=settings["base_filters"],
                           depth=settings["depth"], prefill=prefill_of(trained))
    portable.set_weights(trained.get_weights())
    calibration_path = run / "results" / "model" / model_name / "best.calibration.json"
    calibration = json.loads(calibration_path.read_text()) if calibration_path.is_file() else None
    coverage = None if calibration is None else {
        "file": destination.with_suffix(".calibration.json").name, "levels": calibration["coverage_test"],
        "test_patches": calibration["test_patches"], "calibration_patches": calibration["patches"],
        "calibrated_on": calibration["source"]}
    real_space_path = run / "results" / "evaluation" / model_name / "real_space.csv"
    realism_path = run / "results" / "realism" / "statistics.json"
    realism = None
    if realism_path.is_file():
        found = json.loads(realism_path.read_text())
        realism = {key: found[key] for key in ("rows", "measured", "discriminator", "at_flux", "separation",
                                               "recordings") if key in found}
    card = model_card(model=portable, training_state=state,
                      dataset_card=json.loads((run / "results" / "dataset" / "card.json").read_text()),
                      metrics=read_metrics(metrics_path), recipe=config_files[0].read_text(),
                      commit=_commit(Path(__file__).parent), file_name=destination.name, recipe_file=recipe_file,
                      coverage=coverage, real_space=read_real_space(real_space_path) if real_space_path.is_file()
                      else None, realism=realism)
    save_model(portable, destination)
    if calibration is not None:
        with io.atomic_path(destination.with_suffix(".calibration.json")) as tmp:
            Path(tmp).write_text(json.dumps(calibration, indent=1) + "\n")
    for suffix, text in ((".json", json.dumps(card, indent=1) + "\n"), (".md", card_markdown(card))):
        with io.atomic_path(destination.with_suffix(suffix)) as tmp:
            Path(tmp).write_text(text)
    return destination


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m braggsynth.report.modelcard",
                                     description="Ship a pretraining run's model into the package, with its card.")
    parser.add_argument("run_folder", help="folder of the pretraining run (runs/pretrain)")
    parser.add_argument("--to", help="model file to write (default: the shipped model, src/braggsynth/models/"
                                     "inpainting.keras)")
    parser.add_argument("--recipe", default="config/pretrain.yaml", help="the recipe's file in the repository")
    args = parser.parse_args(argv)
    try:
        path = ship(args.run_folder, args.to, recipe_file=args.recipe)
    except OSError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"shipped {path} with its card {path.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
