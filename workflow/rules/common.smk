# Shared helpers: configuration checks and the functions that turn config into samples and paths.
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

from snakemake.utils import validate

from braggsynth.config import ConfigError, check_config, load_schema, schema_error

SCHEMA = Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml"
CONFIG_FILES = ", ".join(str(path) for path in workflow.configfiles) or "config"


def fail_config(message):
    """Stop before any job runs, with one line naming the config file and key."""
    sys.exit(f"Config error in {CONFIG_FILES}: {message}")


_problem = schema_error(config, load_schema(SCHEMA))
if _problem:
    fail_config(_problem)
validate(config, schema=str(SCHEMA))  # fills the schema's defaults
try:
    check_config(config)
except ConfigError as error:
    fail_config(error)
config["experimental"] = [entry for entry in config["experimental"]
                          if not entry["optional"] or Path(entry["path"]).is_file()]


def _check_splits():
    """Every split with a positive fraction gets a source: known from the config, before any job runs."""
    from braggsynth.data.dataset import empty_splits, shapes_missing_from_splits, source_id

    fractions = config["dataset"]["split_fractions"]
    particles = (source_id(shape, sample) for shape, sample in particle_samples())
    empty = empty_splits(particles, config["seed"], fractions, experimental_sources=len(config["experimental"]))
    if empty:
        count = sum(spec["count"] for spec in config["shapes"].values())
        fail_config(f"dataset.split_fractions: with seed {config['seed']} no particle of the {count} falls "
                    f"in the {' and '.join(empty)} split; add particles (shapes.*.count), or change "
                    f"dataset.split_fractions or seed")
    missing = shapes_missing_from_splits(particle_samples(), config["seed"], fractions)
    if missing and workflow.is_main_process:
        print(f"Note: with seed {config['seed']} "
              + "; ".join(f"the {split} split has no {' or '.join(shapes)}" for split, shapes in missing.items())
              + " (more particles of those shapes, or another seed, mend it)", file=sys.stderr)


wildcard_constraints:
    shape=r"[A-Za-z][A-Za-z0-9_-]*",
    sample=r"\d\d\d\d+",
    shard=r"\d\d\d\d+",
    pattern=r"\d\d+",
    name=r"[A-Za-z][A-Za-z0-9_-]*",
    model=r"all|gap\d+",


def without(settings, *keys):
    """``settings`` less the keys that do not change a rule's numbers (so they never mark outputs stale)."""
    return {key: value for key, value in settings.items() if key not in keys}


def particle_samples():
    """(shape, sample) of every configured particle, one at a time; samples are zero-padded indices."""
    return ((shape, f"{index:04d}") for shape, spec in config["shapes"].items() for index in range(spec["count"]))


PARTICLES_PER_JOB = config["simulate"]["particles_per_job"]


def shards():
    """(shape, shard) of every shard job; shards are zero-padded indices."""
    from braggsynth.data.shards import shard_count

    return [(shape, f"{index:04d}") for shape, spec in config["shapes"].items()
            for index in range(shard_count(spec["count"], PARTICLES_PER_JOB))]


def per_shard(pattern):
    """``pattern`` with {shape} and {shard} filled in for every shard."""
    return [pattern.format(shape=shape, shard=shard) for shape, shard in shards()]


def shard_job(wildcards):
    """What a shard job simulates: its shape's spec (without the count: raising it adds particles) and
    the shard's samples (one parameter: Snakemake evaluates each parameter function of each job)."""
    from braggsynth.data.shards import shard_samples

    spec = config["shapes"][wildcards.shape]
    return {"spec": without(spec, "count"),
            "samples": shard_samples(int(wildcards.shard), spec["count"], PARTICLES_PER_JOB)}


def _shard_memory_mb():
    """MB per shape that a particle_shard job (LAMMPS) and a pattern_shard job (NUFFT) need."""
    from braggsynth.data.shards import memory_mb

    needs = {shape: memory_mb(spec, config["peaks"]["grid"]) for shape, spec in config["shapes"].items()}
    return ({shape: relax for shape, (relax, _) in needs.items()}, {shape: peak for shape, (_, peak) in needs.items()})


RELAX_MEMORY_MB, PEAK_MEMORY_MB = _shard_memory_mb()


def shard_folder(stage, shape, sample):
    """The shard folder of ``stage`` (particles, relaxed, peaks, detector, patches) holding a sample."""
    from braggsynth.data.shards import shard_of

    return f"results/{stage}/{shape}/shard{shard_of(sample, PARTICLES_PER_JOB)}"


def drawn_particles():
    """(shape, sample) of the particles the run's figures show: the first few of each shape."""
    first = config["report"]["particles_per_shape"]
    return [(shape, f"{index:04d}") for shape, spec in config["shapes"].items()
            for index in range(min(first, spec["count"]))]


def shard_folders_drawn(stage, shape=None):
    """The ``stage`` shard folders that hold the drawn particles (of one shape, or of all)."""
    return sorted({shard_folder(stage, drawn_shape, sample) for drawn_shape, sample in drawn_particles()
                   if shape in (None, drawn_shape)})


def relax_settings():
    """The minimiser settings that change the result (threads do not)."""
    return without(config["relax"], "threads")


def peak_settings():
    """The peak settings that change the numbers (threads do not; the pattern count adds patterns)."""
    return without(config["peaks"], "threads", "patterns_per_particle")


def patterns():
    return [f"{index:02d}" for index in range(config["peaks"]["patterns_per_particle"])]


def drawn_pattern_files(shape):
    """Every pattern of the shape's drawn particles, in their peaks shard folders."""
    return [f"{shard_folder('peaks', shape, sample)}/{sample}_{pattern}.h5"
            for drawn_shape, sample in drawn_particles() if drawn_shape == shape for pattern in patterns()]


def patch_settings():
    """The patch settings that change every patch (the counts only add or remove patches)."""
    return without(config["patches"], "per_pattern", "experimental_fraction")


def experimental_entry(wildcards):
    return next(entry for entry in config["experimental"] if entry["name"] == wildcards.name)


def measured_patch_count():
    """Patches per measured file so that they make up `experimental_fraction` of all patches."""
    if not config["experimental"]:
        return 0
    particles = sum(spec["count"] for spec in config["shapes"].values())
    simulated = particles * config["peaks"]["patterns_per_particle"] * config["patches"]["per_pattern"]
    fraction = config["patches"]["experimental_fraction"]
    return int(np.ceil(fraction / (1 - fraction) * simulated / len(config["experimental"])))


def measured_patches():
    return [f"results/measured/{entry['name']}/patches.h5" for entry in config["experimental"]]


def model_names():
    if config["train"]["per_gap_width"]:
        return [f"gap{width}" for width in config["patches"]["gap_widths_px"]]
    return ["all"]


def model_gap_widths(wildcards):
    """Gap widths a model trains and is evaluated on (None: every width)."""
    return None if wildcards.model == "all" else [int(wildcards.model.removeprefix("gap"))]


def training_settings(wildcards):
    settings = {**config["model"], **config["train"], "gap_widths": model_gap_widths(wildcards)}
    if not settings["amplitude_weight"]:  # the log-space loss alone, as before the key existed: nothing goes stale
        del settings["amplitude_weight"]
    if settings["initial_model"] is None:  # random initial weights, as before the key existed
        del settings["initial_model"]
    return settings


def initial_model():
    """The model whose weights start the training (train.initial_model), an input of rule train; or none."""
    return [] if config["train"]["initial_model"] is None else [config["train"]["initial_model"]]


def checkpoint_folder(wildcards):
    """Resumable checkpoints, kept apart per settings so that a changed config never resumes a stale run.

    The budgets (train.epochs, train.time_limit_minutes) are left out: a larger one resumes the run where its
    budget stopped it."""
    settings = {key: value for key, value in training_settings(wildcards).items()
                if key not in ("epochs", "time_limit_minutes")}
    digest = hashlib.sha256(json.dumps([settings, config["seed"]], sort_keys=True).encode())
    return f"results/model/{wildcards.model}/checkpoints-{digest.hexdigest()[:12]}"


def measured_intensities():
    """The measured files of the run as CXI intensities, scored by the evaluation on their held-out half."""
    return [f"results/measured/{entry['name']}/intensity.h5" for entry in config["experimental"]]


def shipped_model():
    """The package's shipped model, evaluated beside the trained one (none when switched off, absent, or
    made for patches of another size than the run's)."""
    from braggsynth.models import SHIPPED_MODEL, SHIPPED_PATCH_SIZE

    wanted = config["evaluate"]["shipped"] and config["patches"]["size"] == SHIPPED_PATCH_SIZE
    return [str(SHIPPED_MODEL)] if wanted and SHIPPED_MODEL.is_file() else []


def shipped_calibration():
    """The shipped model's calibrated intervals, measured by rule evaluate when it evaluates that model."""
    return {"shipped_calibration": "results/evaluation/{model}/shipped.calibration.json"} if shipped_model() else {}


def shipped_wide_model():
    """The package's wide-gap model, scored on EIGER-like gaps (none when switched off or absent)."""
    from braggsynth.models import SHIPPED_WIDE_MODEL

    wanted = config["evaluate"]["shipped"] and config["evaluate"]["wide_gaps_px"]
    return [str(SHIPPED_WIDE_MODEL)] if wanted and SHIPPED_WIDE_MODEL.is_file() else []


def test_particles(wanted):
    """(shape, sample) of the first ``wanted`` test-split particles, in config order."""
    from braggsynth.data.dataset import source_id, split_of

    found = []
    for shape, spec in config["shapes"].items():
        for index in range(spec["count"]):
            if len(found) == wanted:
                return found
            sample = f"{index:04d}"
            if split_of(source_id(shape, sample), config["seed"], config["dataset"]["split_fractions"]) == "test":
                found.append((shape, sample))
    return found


def held_out_patterns():
    """Detector recordings of test-split particles, inpainted whole by the evaluation."""
    return [f"{shard_folder('detector', shape, sample)}/{sample}_00.h5"
            for shape, sample in test_particles(config["evaluate"]["held_out_patterns"])]


def real_space_patterns():
    """(detector recording, peak) files of the held-out patterns the real-space check phases."""
    return [tuple(f"{shard_folder(stage, shape, sample)}/{sample}_00.h5" for stage in ("detector", "peaks"))
            for shape, sample in test_particles(config["real_space"]["patterns"])]


def real_space_measured():
    """The measured files the real-space check phases (every one of the run's, unless switched off)."""
    return measured_intensities() if config["real_space"]["measured"] else []


def folders_of(paths):
    """The shard folders (a rule's inputs) that hold these files."""
    return sorted({str(Path(path).parent) for path in paths})


def final_targets():
    return [
        *DAMAGED_SHARD_FOLDERS,  # found damaged and set aside at the start (particles.smk): a plain run remakes them
        "results/particles/overview.png",
        *[f"results/peaks/{shape}.png" for shape in sorted({shape for shape, _ in drawn_particles()})],
        "results/dataset/card.md",
        "results/dataset/montage.png",
        *(["results/realism/report.md"] if config["experimental"] else []),
        *[f"results/evaluation/{model}/report.md" for model in model_names()],
        *[f"results/evaluation/{model}/real_space.md" for model in model_names()
          if real_space_patterns() or real_space_measured()],
    ]


_check_splits()


onstart:
    from braggsynth.io import remove_partials

    removed = remove_partials("results")
    if removed:
        print(f"removed {len(removed)} half-written .part files left by interrupted jobs", file=sys.stderr)


#: Shard folders found damaged at the start and set aside (braggsynth.data.shards.set_aside_damaged): targets of
#: rule all (final_targets), so that a plain run remakes them, and what reads them, before anything reads them.
DAMAGED_SHARD_FOLDERS = []


def set_aside_damaged_shards(rule, outputs):
    """Before the DAG: move aside the shard folders (``outputs`` of rule ``rule``) whose files no longer match
    their manifests (sizes and HDF5 signatures), so that Snakemake sees them missing, and make them targets."""
    from braggsynth.data.shards import set_aside_damaged

    if not workflow.is_main_process:
        return  # a job's own Snakemake (cluster, subprocess) leaves the folders of running jobs alone
    if any(Path(".snakemake", "locks").glob("*.lock")):
        print("shard folders not checked: another Snakemake run holds .snakemake/locks", file=sys.stderr)
        return
    remake, lines = set_aside_damaged([folder for output in outputs for folder in per_shard(str(output))], rule)
    DAMAGED_SHARD_FOLDERS.extend(remake)
    for line in lines:
        print(line, file=sys.stderr)


def print_dag_estimate():
    """Above 1e6 particles, one line on what building the DAG costs and the shard size that cuts it."""
    from braggsynth.data.shards import dag_estimate

    line = dag_estimate([spec["count"] for spec in config["shapes"].values()], PARTICLES_PER_JOB)
    if line and workflow.is_main_process:
        print(line, file=sys.stderr)


print_dag_estimate()
