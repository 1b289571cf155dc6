"""A run's config as the workflow reads it, the settings a benchmark's ``--set KEY=VALUE`` changes, and the name
of a measured file in a benchmark's tables.

Imported by the benchmarks run as scripts (``python benchmarks/NAME.py``, whose folder is on the path).
"""

from __future__ import annotations

from pathlib import Path

import yaml

SCHEMA = Path(__file__).resolve().parents[1] / "workflow" / "schemas" / "config.schema.yaml"


def validated_config(path) -> dict:
    """The YAML config at ``path`` with the schema's defaults filled in, as the workflow fills them."""
    from snakemake.utils import validate

    config = yaml.safe_load(Path(path).read_text())
    validate(config, schema=str(SCHEMA))
    return config


def set_settings(settings: dict, entries, what: str = "setting") -> None:
    """Change ``settings`` in place by ``KEY=VALUE`` entries (YAML values); a key it lacks stops the script,
    naming ``what`` it is and the known keys."""
    for entry in entries:
        key, _, value = entry.partition("=")
        if key not in settings:
            raise SystemExit(f"--set {entry}: no {what} {key!r} (known: {', '.join(sorted(settings))})")
        settings[key] = yaml.safe_load(value)


def detector_settings(config_path: Path, changes) -> tuple[dict, int]:
    """The ``detector:`` settings of a config with the schema's defaults (as the workflow fills them), changed
    by ``KEY=VALUE`` entries; and the config's seed."""
    config = validated_config(config_path)
    set_settings(config["detector"], changes, "detector setting")
    return config["detector"], config["seed"]


def record_peak(peak: Path, settings: dict, seed: int, folder: Path) -> Path:
    """The peak file ``<shape>/<shard>/<sample>_<pattern>.h5`` recorded as rule pattern_shard records it (same
    seeds) with the ``detector:`` ``settings``, into ``folder/<shape>/<shard>/`` under the same name: its path."""
    from braggsynth.data import shards

    shape, (sample, pattern) = peak.parents[1].name, peak.stem.split("_")
    target = folder / shape / peak.parent.name
    target.mkdir(parents=True, exist_ok=True)
    shards.record(peak.parent, shape, [sample], [pattern], settings, seed, target, threads=2)
    return target / peak.name


def measured_name(path) -> str:
    """A measured file's name in a table: its folder's for a run's ``results/measured/<name>/intensity.h5``, else
    its stem up to the first underscore (the scan: ``S1398`` of ``S1398_pynx_norm_128_300_294_1_1_1.cxi``)."""
    path = Path(path)
    return path.parent.name if path.name == "intensity.h5" else path.stem.split("_")[0]
