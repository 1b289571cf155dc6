"""Configuration checks that give one line naming the key and the problem.

The JSON schema (``workflow/schemas/config.schema.yaml``) states types,
ranges and defaults; :func:`schema_error` turns the most relevant schema
violation into one line, and :func:`check_config` adds the checks a schema
cannot express (a facet list that does not close a polyhedron, keys that the
shape kind does not use, ranges given backwards).
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from braggsynth import io
from braggsynth.inpaint import MIN_CONTEXT_PX
from braggsynth.simulate import detector, frames, reflections, scattering, shapes

KIND_KEYS = {
    "cube": set(),
    "octahedron": set(),
    "wulff": {"surface_energies"},
    "winterbottom": {"surface_energies", "interface", "substrate_misfit"},
    "facets": {"facets"},
}
COMMON_KEYS = {"kind", "element", "size_nm", "count"}


class ConfigError(ValueError):
    """A configuration value is wrong; the message names the key."""


def key_path(parts) -> str:
    """``['shapes', 'cube', 'size_nm', 0]`` -> ``shapes.cube.size_nm[0]``."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def check_yaml(path) -> None:
    """Exit with one line naming the file when ``path`` is not a YAML mapping of config keys.

    Snakemake's own messages name neither the file nor the place: here a
    syntax error gives the line and column, an empty file (or one of comments
    only) says so, and a top level that is a list or a single value says what
    it is.
    """
    try:
        with open(path) as handle:
            loaded = yaml.safe_load(handle)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"{path}, line {mark.line + 1}, column {mark.column + 1}" if mark else str(path)
        raise SystemExit(f"Config error in {where}: not valid YAML ({error.problem or error.context})") from None
    except yaml.YAMLError as error:
        raise SystemExit(f"Config error in {path}: not valid YAML ({' '.join(str(error).split())})") from None
    except OSError as error:
        raise SystemExit(f"Config error in {path}: cannot be read ({error.strerror})") from None
    if loaded is None:
        raise SystemExit(f"Config error in {path}: the file is empty; it needs at least shapes: (every other key has "
                         f"a default, see workflow/schemas/config.schema.yaml)")
    if not isinstance(loaded, dict):
        kind = "a list" if isinstance(loaded, list) else f"the single value {str(loaded)[:40]!r}"
        raise SystemExit(f"Config error in {path}: the top level is {kind}, not keys (such as seed: and shapes:)")


def load_schema(path) -> dict:
    with open(path) as handle:
        return yaml.safe_load(handle)


def schema_error(config: dict, schema: dict) -> str | None:
    """One line for the most relevant schema violation of ``config``, or None."""
    error = best_match(Draft202012Validator(schema).iter_errors(config))
    if error is None:
        return None
    message = error.message
    if error.validator == "additionalProperties":
        message = message.replace("Additional properties are not allowed", "unknown key")
    elif error.validator == "enum":
        message = f"{error.instance!r} is not one of {', '.join(map(str, error.validator_value))}"
    return f"{key_path(error.absolute_path)}: {message}"


def check_config(config: dict) -> None:
    """Raise ConfigError for problems a schema cannot express (after defaults are set)."""
    check_shapes(config)
    check_peaks(config)
    check_detector_frame(config)
    check_one_reflection(config)
    check_training_set(config)


def check_training_set(config: dict) -> None:
    """Detector, experimental data, patches and dataset settings."""
    low, high = config["detector"]["max_counts"]
    if low > high:
        raise ConfigError(f"detector.max_counts: minimum {low} is larger than maximum {high}")
    for key in ("offset_range_px", "coherence_sigma_px", "lorentzian_fraction", "rocking_integration", "background",
                "smooth_background", "aliens"):
        value = config["detector"].get(key)
        if isinstance(value, list) and value[0] > value[1]:
            raise ConfigError(f"detector.{key}: minimum {value[0]} is larger than maximum {value[1]}")
    for key, share in (("lorentzian_fraction", "of the photons"), ("rocking_integration", "of the rocking step")):
        if max(np.atleast_1d(config["detector"].get(key, 0))) > 1:
            raise ConfigError(f"detector.{key}: {config['detector'][key]} is not within [0, 1] (a share {share})")
    if sum(config["detector"]["orientation_probabilities"].values()) <= 0:
        raise ConfigError("detector.orientation_probabilities: at least one must be positive")
    try:
        detector.detector_models(config["detector"]["model"])
    except ValueError as error:
        raise ConfigError(f"detector.model: {error}") from None
    size = config["patches"]["size"]
    grid = config["peaks"]["grid"]
    if size > min(grid):
        raise ConfigError(f"patches.size: {size} px does not fit in the peaks.grid {grid}")
    depth = config.get("model", {}).get("depth")
    if depth is not None and size % 2**depth:
        raise ConfigError(f"patches.size: {size} px is not divisible by 2**model.depth = {2**depth}, as the U-Net's "
                          f"{depth} poolings need; use a multiple of {2**depth} or a smaller model.depth")
    widest = size - 2 * MIN_CONTEXT_PX
    for width in config["patches"]["gap_widths_px"]:
        if width > widest:
            raise ConfigError(f"patches.gap_widths_px: a {width} px gap leaves fewer than {MIN_CONTEXT_PX} measured "
                              f"px on each side in a {size} px patch (at most {widest} px)")
    names = set()
    for i, entry in enumerate(config["experimental"]):
        if entry["name"] in names:
            raise ConfigError(f"experimental[{i}].name: {entry['name']!r} is used twice")
        names.add(entry["name"])
        path = Path(entry["path"])
        if not path.is_file():
            if not entry["optional"]:
                raise ConfigError(f"experimental[{i}].path: {entry['path']}: no such file")
            continue
        # its job would read it as HDF5: its signature (the first bytes) tells now, without reading the data
        if (entry["object"] or path.suffix.lower() in io.HDF5_SUFFIXES) and not h5py.is_hdf5(path):
            because = ("object: true reads it as HDF5 (CXI)" if entry["object"]
                       else f"its suffix {path.suffix} says it is")
            raise ConfigError(f"experimental[{i}].path: {entry['path']}: not an HDF5 file (no HDF5 signature), "
                              f"but {because}")
    total = sum(config["dataset"]["split_fractions"].values())
    if not np.isclose(total, 1.0):
        raise ConfigError(f"dataset.split_fractions: they sum to {total:g}, not 1")
    start = config.get("train", {}).get("initial_model")
    if start is not None:
        from braggsynth.models import window_of

        if not Path(start).is_file():
            raise ConfigError(f"train.initial_model: {start}: no such file")
        try:
            window = window_of(start)
        except ValueError as error:
            raise ConfigError(f"train.initial_model: {error}") from None
        if window != size:
            raise ConfigError(f"train.initial_model: {start} fills {window}^3 windows, but patches.size is {size}")


def check_peaks(config: dict) -> None:
    peaks = config["peaks"]
    try:
        scattering.reciprocal_vector(peaks["reflection"], 4.0)
    except ValueError as error:
        raise ConfigError(f"peaks.reflection: {error}") from None
    for key in ("oversampling", "oversampling_rocking"):
        if peaks.get(key) is None:
            continue
        low, high = peaks[key]
        if low > high:
            raise ConfigError(f"peaks.{key}: minimum {low} is larger than maximum {high}")
        if low < 2:
            raise ConfigError(f"peaks.{key}: {low} is below 2, the Nyquist limit of the intensity")
    if peaks.get("oversampling_rocking") is not None and not peaks["oversampling_per_axis"]:
        raise ConfigError("peaks.oversampling_rocking: needs peaks.oversampling_per_axis: true (one ratio is "
                          "drawn for every axis without it)")
    problem = scattering.backend_problem(peaks["backend"])
    if problem:
        raise ConfigError(f"peaks.backend: {problem}")


def check_one_reflection(config: dict) -> None:
    """Every shape's smallest particle has grids that reach no other reciprocal-lattice point."""
    peaks = config["peaks"]
    largest = float(peaks["oversampling"][1])
    at_largest = {**peaks, "oversampling": [largest, largest]}
    if peaks.get("oversampling_rocking") is not None:
        rocking = float(peaks["oversampling_rocking"][1])
        at_largest["oversampling_rocking"] = [rocking, rocking]
    for name, spec in config["shapes"].items():
        size, a = float(spec["size_nm"][0]), shapes.lattice_constant(spec["element"])
        outline = shapes.particle_polyhedron(spec, size).vertices
        reflection_vector = scattering.reciprocal_vector(peaks["reflection"], a)

        def draw(rng, outline=outline, reflection_vector=reflection_vector):
            return frames.draw_pattern(rng, outline, reflection_vector, at_largest)

        found = reflections.unavoidable(draw, peaks["reflection"], a, peaks["grid"])
        if found is not None:
            scale, grid = found
            raise ConfigError(
                f"shapes.{name}.size_nm: every {peaks['grid']} grid around reflection {peaks['reflection']} reaches "
                f"another reciprocal-lattice point for a {size:g} nm particle, even at peaks.oversampling "
                f"{largest:g}; use particles of at least {np.ceil(10 * size * scale) / 10:g} nm, "
                f"a peaks.grid of at most {grid} voxels per axis, or a larger peaks.oversampling maximum")


def check_detector_frame(config: dict) -> None:
    """The detector's in-plane angles stay within the scattering angle of the reflection at every energy."""
    peaks = config["peaks"]
    if peaks["frame"] == "orthogonal":
        return
    ranges = peaks["detector_frame"]
    for key in ("energy_kev", "pixel_size_um", "in_plane_angle_deg"):
        low, high = ranges[key]
        if low > high:
            raise ConfigError(f"peaks.detector_frame.{key}: minimum {low} is larger than maximum {high}")
    for name, spec in config["shapes"].items():
        g = scattering.reciprocal_vector(peaks["reflection"], shapes.lattice_constant(spec["element"]))
        for energy in ranges["energy_kev"]:
            for nu in ranges["in_plane_angle_deg"]:
                try:
                    frames.bragg_angles_deg(g, energy, nu)
                except ValueError as error:
                    raise ConfigError(f"peaks.detector_frame: {error} (shape {name}, {spec['element']})") from None


def check_shapes(config: dict) -> None:
    for name, spec in config["shapes"].items():
        where = f"shapes.{name}"
        kind = spec["kind"]
        for key in sorted(set(spec) - COMMON_KEYS - KIND_KEYS[kind]):
            raise ConfigError(f"{where}.{key}: not used by kind {kind!r}")
        low, high = spec["size_nm"]
        if low > high:
            raise ConfigError(f"{where}.size_nm: minimum {low} is larger than maximum {high}")
        if kind in ("wulff", "winterbottom"):
            families = [tuple(np.sort(np.abs(e["hkl"]))) for e in spec["surface_energies"]]
            for i, entry in enumerate(spec["surface_energies"]):
                if not any(entry["hkl"]):
                    raise ConfigError(f"{where}.surface_energies[{i}].hkl: [0, 0, 0] is not a direction")
                if families.index(families[i]) != i:
                    raise ConfigError(f"{where}.surface_energies[{i}].hkl: family {entry['hkl']} is listed twice")
        if kind == "winterbottom":
            if not any(spec["interface"]["hkl"]):
                raise ConfigError(f"{where}.interface.hkl: [0, 0, 0] is not a direction")
            smallest = min(e["energy"] for e in spec["surface_energies"])
            if abs(spec["interface"]["energy"]) >= smallest:
                raise ConfigError(
                    f"{where}.interface.energy: |{spec['interface']['energy']}| must be smaller than the "
                    f"smallest surface energy ({smallest}) for a Winterbottom particle to exist"
                )
        if kind == "facets":
            for i, facet in enumerate(spec["facets"]):
                if not any(facet["hkl"]):
                    raise ConfigError(f"{where}.facets[{i}].hkl: [0, 0, 0] is not a direction")
        try:
            shapes.shape_polyhedron(spec)
        except ValueError as error:
            key = {"facets": "facets", "wulff": "surface_energies", "winterbottom": "interface"}.get(kind, "kind")
            raise ConfigError(f"{where}.{key}: {error}") from None


def main(argv=None) -> None:
    """``python -m braggsynth.config FILE...``: one line naming the file (and the line and column) for a config
    file that is not a YAML mapping of keys; ``make run CONFIGFILE=FILE`` runs it first, since Snakemake reads
    a ``--configfile`` before the workflow and names neither file nor place."""
    import sys

    for path in sys.argv[1:] if argv is None else argv:
        check_yaml(path)


if __name__ == "__main__":
    main()
