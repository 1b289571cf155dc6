from pathlib import Path

import pytest
import yaml
from conftest import REPO, copy_workflow, snakemake

from braggsynth.config import ConfigError, check_config, check_detector_frame, load_schema, schema_error

SCHEMA = load_schema(REPO / "workflow" / "schemas" / "config.schema.yaml")
CUBE = {"kind": "cube", "size_nm": [3, 4]}
SMALL_GRID = {"grid": [64, 64, 64]}  # a 128^3 grid around 111 reaches the forward beam for 3 nm cubes


def with_defaults(shapes):
    config = {"seed": 1, "shapes": shapes, "relax": {}}
    for spec in shapes.values():
        spec.setdefault("element", "Au")
        spec.setdefault("count", 1)
        if spec.get("kind") == "winterbottom":
            spec.setdefault("substrate_misfit", 0.03)
    return config


def test_default_config_is_valid():
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    assert schema_error(config, SCHEMA) is None


@pytest.mark.parametrize("recipe", ["pretrain.yaml", "pretrain_wide.yaml"])
def test_pretraining_recipes_are_valid(recipe):
    config = yaml.safe_load((REPO / "config" / recipe).read_text())
    assert schema_error(config, SCHEMA) is None


@pytest.mark.parametrize(
    "shapes, expected",
    [
        ({"c": {**CUBE, "colour": "red"}}, "shapes.c: unknown key ('colour' was unexpected)"),
        ({"c": {**CUBE, "count": "two"}}, "shapes.c.count: 'two' is not of type 'integer'"),
        ({"c": {**CUBE, "size_nm": [-1, 4]}}, "shapes.c.size_nm[0]: -1 is less than or equal to the minimum of 0"),
        ({"c": {**CUBE, "element": "Fe"}}, "shapes.c.element: 'Fe' is not one of Au, Ag, Cu, Ni, Pd, Pt"),
        ({"c": {**CUBE, "kind": "sphere"}}, "shapes.c.kind: 'sphere' is not one of cube, octahedron"),
        ({"c": {"kind": "wulff", "size_nm": [3, 4]}}, "shapes.c: 'surface_energies' is a required property"),
        ({"9c": CUBE}, "'9c' does not match"),
    ],
)
def test_schema_errors_name_the_key(shapes, expected):
    message = schema_error({"shapes": shapes}, SCHEMA)
    assert expected in message
    assert "\n" not in message


@pytest.mark.parametrize(
    "spec, expected",
    [
        ({**CUBE, "size_nm": [5, 4]}, "shapes.s.size_nm: minimum 5 is larger than maximum 4"),
        ({**CUBE, "facets": [{"hkl": [1, 1, 1], "distance": 1.0}]}, "shapes.s.facets: not used by kind 'cube'"),
        ({"kind": "facets", "size_nm": [3, 4], "facets": [
            {"hkl": [1, 0, 0], "distance": 1, "family": False}, {"hkl": [0, 1, 0], "distance": 1, "family": False},
            {"hkl": [0, 0, 1], "distance": 1, "family": False}, {"hkl": [-1, -1, 0], "distance": 1, "family": False}]},
         "shapes.s.facets: the planes do not close a polyhedron: it is open along"),
        ({"kind": "winterbottom", "size_nm": [3, 4], "surface_energies": [{"hkl": [1, 1, 1], "energy": 1.0}],
          "interface": {"hkl": [1, 1, 1], "energy": -1.5}},
         "shapes.s.interface.energy: |-1.5| must be smaller than the smallest surface energy (1.0)"),
        ({"kind": "wulff", "size_nm": [3, 4], "surface_energies": [
            {"hkl": [1, 1, 1], "energy": 1.0}, {"hkl": [-1, 1, 1], "energy": 1.2}]},
         "shapes.s.surface_energies[1].hkl: family [-1, 1, 1] is listed twice"),
    ],
)
def test_semantic_errors_name_the_key(spec, expected):
    config = with_defaults({"s": spec})
    assert schema_error(config, SCHEMA) is None
    with pytest.raises(ConfigError) as error:
        check_config(config)
    assert expected in str(error.value)


@pytest.mark.workflow
def test_malformed_config_fails_before_any_job(tmp_path):
    workdir = copy_workflow(tmp_path, {"shapes": {"good": CUBE, "bad": {**CUBE, "size_nm": [-2, 4]}}})
    result = snakemake(workdir, check=False)
    assert result.returncode != 0
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("Config error")]
    assert lines == ["Config error in config.yaml: shapes.bad.size_nm[0]: -2 is less than or equal to the minimum of 0"]
    assert not (workdir / "results").exists()


@pytest.mark.workflow
def test_facets_that_do_not_close_fail_before_any_job(tmp_path):
    facets = [{"hkl": h, "distance": 1.0} for h in ([1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1])]
    workdir = copy_workflow(tmp_path, {"shapes": {"slab": {"kind": "facets", "size_nm": [3, 4], "facets": facets}}})
    result = snakemake(workdir, check=False)
    assert result.returncode != 0
    assert ("Config error in config.yaml: shapes.slab.facets: the planes do not close a polyhedron: "
            "it is open along [0.0, 0.0, -1.0]") in result.stderr
    assert not Path(workdir, "results").exists()


def peaks_config(**peaks):
    config = with_defaults({"c": dict(CUBE)})
    config["peaks"] = {"reflection": [1, 1, 1], "oversampling": [2.0, 5.0], "backend": "auto", "max_rotation_deg": 180,
                       "frame": "orthogonal", "oversampling_per_axis": False,
                       **peaks}
    return config


@pytest.mark.parametrize(
    "peaks, expected",
    [
        ({"reflection": [1, 0, 0]}, "peaks.reflection: "),
        ({"oversampling": [4.0, 3.0]}, "peaks.oversampling: minimum 4.0 is larger than maximum 3.0"),
        ({"oversampling": [1.5, 3.0]}, "peaks.oversampling: 1.5 is below 2, the Nyquist limit"),
        ({"backend": "pynx"}, "peaks.backend: "),
        ({"oversampling_rocking": [2.0, 3.0]}, "peaks.oversampling_rocking: needs peaks.oversampling_per_axis: true"),
        ({"oversampling_rocking": [1.8, 3.0], "oversampling_per_axis": True},
         "peaks.oversampling_rocking: 1.8 is below 2, the Nyquist limit"),
    ],
)
def test_peak_settings_errors_name_the_key(peaks, expected):
    with pytest.raises(ConfigError) as error:
        check_config(peaks_config(**peaks))
    assert str(error.value).startswith(expected)
    assert "\n" not in str(error.value)


def test_unknown_backend_is_refused_by_the_schema():
    config = {"shapes": {"c": CUBE}, "peaks": {"backend": "gpu-magic"}}
    assert schema_error(config, SCHEMA) == (
        "peaks.backend: 'gpu-magic' is not one of auto, finufft, cufinufft, direct, pynx")


def test_split_fractions_must_sum_to_one():
    config = peaks_config()
    config.update(detector={"max_counts": [1e4, 1e6], "offset_range_px": [-8, 8], "model": "maxipix",
                            "orientation_probabilities": {"vertical": 1.0}},
                  patches={"size": 32, "gap_widths_px": [6]}, experimental=[],
                  dataset={"split_fractions": {"train": 8, "validation": 1, "test": 1}})
    config["peaks"]["grid"] = [64, 64, 64]  # 128^3 reaches the forward beam for 3 nm cubes
    with pytest.raises(ConfigError, match=r"^dataset.split_fractions: they sum to 10, not 1$"):
        check_config(config)


@pytest.mark.parametrize("key, value, expected", [
    ("rocking_integration", [0.0, 1.5], r"^detector.rocking_integration: \[0.0, 1.5\] is not within \[0, 1\] \(a share "
                                        r"of the rocking step\)$"),
    ("rocking_integration", [0.8, 0.2], r"^detector.rocking_integration: minimum 0.8 is larger than maximum 0.2$"),
    ("lorentzian_fraction", 1.2, r"^detector.lorentzian_fraction: 1.2 is not within \[0, 1\] \(a share of the "
                                 r"photons\)$"),
])
def test_shares_of_the_recording_are_checked(key, value, expected):
    config = peaks_config()
    config.update(detector={"max_counts": [1e4, 1e6], "offset_range_px": [-8, 8], "model": "maxipix",
                            "orientation_probabilities": {"vertical": 1.0}, key: value},
                  patches={"size": 32, "gap_widths_px": [6]}, experimental=[],
                  dataset={"split_fractions": {"train": 0.8, "validation": 0.1, "test": 0.1}})
    config["peaks"]["grid"] = [64, 64, 64]
    with pytest.raises(ConfigError, match=expected):
        check_config(config)


@pytest.mark.parametrize("missing", ["train", "validation", "test"])
def test_split_fractions_must_name_every_split(missing):
    fractions = {name: value for name, value in {"train": 0.8, "validation": 0.1, "test": 0.1}.items()
                 if name != missing}
    config = {"shapes": {"c": CUBE}, "dataset": {"split_fractions": fractions}}
    assert schema_error(config, SCHEMA) == f"dataset.split_fractions: {missing!r} is a required property"
    config["dataset"]["split_fractions"][missing] = 0
    assert schema_error(config, SCHEMA) == f"dataset.split_fractions.{missing}: 0 is less than or equal to the " \
                                           "minimum of 0"


@pytest.mark.workflow
def test_a_split_left_empty_fails_before_any_job(tmp_path):
    workdir = copy_workflow(tmp_path, {"seed": 1, "shapes": {"cube": {**CUBE, "count": 2}}, "peaks": SMALL_GRID})
    result = snakemake(workdir, "--dry-run", check=False)
    assert result.returncode != 0
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("Config error")]
    assert len(lines) == 1 and lines[0].startswith("Config error in config.yaml: dataset.split_fractions: with "
                                                   "seed 1 no particle of the 2 falls in the ")
    assert lines[0].endswith("split; add particles (shapes.*.count), or change dataset.split_fractions or seed")


@pytest.mark.workflow
def test_a_users_configfile_stands_on_its_own(tmp_path):
    """``--configfile mine.yaml`` with one shape simulates that shape only, not config.yaml's shapes too."""
    workdir = copy_workflow(tmp_path, {"seed": 9, "shapes": {"cube": {**CUBE, "count": 6},
                                                             "octahedron": {"kind": "octahedron", "size_nm": [3, 4]}},
                                       "peaks": SMALL_GRID})
    (workdir / "mine.yaml").write_text(yaml.safe_dump({
        "seed": 9, "shapes": {"mine": {**CUBE, "count": 6}}, "experimental": [], "peaks": SMALL_GRID,
        "dataset": {"split_fractions": {"train": 0.4, "validation": 0.3, "test": 0.3}}}))
    result = snakemake(workdir, "--dry-run", "--configfile", "mine.yaml")
    text = result.stdout + result.stderr
    assert "results/particles/mine/shard0000" in text
    assert "results/particles/cube/" not in text and "results/particles/octahedron/" not in text


def test_patch_size_must_suit_the_model_depth():
    config = peaks_config()
    config.update(detector={"max_counts": [1e4, 1e6], "offset_range_px": [-8, 8], "model": "maxipix",
                            "orientation_probabilities": {"vertical": 1.0}},
                  patches={"size": 24, "gap_widths_px": [6]}, experimental=[], model={"depth": 4},
                  dataset={"split_fractions": {"train": 0.8, "validation": 0.1, "test": 0.1}})
    config["peaks"]["grid"] = [64, 64, 64]  # 128^3 reaches the forward beam for 3 nm cubes
    with pytest.raises(ConfigError, match=r"^patches.size: 24 px is not divisible by 2\*\*model.depth = 16, "):
        check_config(config)
    config["model"]["depth"] = 3
    check_config(config)


@pytest.mark.workflow
def test_a_yaml_syntax_error_names_the_file_and_line(tmp_path):
    workdir = copy_workflow(tmp_path, {"shapes": {"cube": CUBE}})
    (workdir / "config.yaml").write_text("seed: 1\nshapes:\n  cube: {kind: cube, size_nm: [3, 4]\n  oct: {}\n")
    result = snakemake(workdir, "--dry-run", check=False)
    assert result.returncode != 0
    assert ("Config error in config.yaml, line 4, column 3: not valid YAML (expected ',' or '}', but got "
            "'<scalar>')") in result.stderr


def test_a_detector_in_plane_angle_beyond_the_scattering_angle_fails_naming_the_key():
    config = peaks_config(frame="mixed", detector_frame={"energy_kev": [8.0, 12.0], "pixel_size_um": [55.0, 55.0],
                                                         "in_plane_angle_deg": [-40.0, 10.0]})
    config["peaks"]["grid"] = [64, 64, 64]
    with pytest.raises(ConfigError, match=r"^peaks.detector_frame: an in-plane angle of -40.0 degrees is beyond the "
                                          r"scattering angle .* of this reflection at 8.0 keV \(shape c, Au\)$"):
        check_detector_frame(config)
    config["peaks"]["detector_frame"]["in_plane_angle_deg"] = [-10.0, 10.0]
    check_detector_frame(config)


@pytest.mark.parametrize("text, expected", [
    ("", "the file is empty; it needs at least shapes: (every other key has a default, "
         "see workflow/schemas/config.schema.yaml)"),
    ("- seed: 1\n- shapes: {}\n", "the top level is a list, not keys (such as seed: and shapes:)"),
    ("shapes\n", "the top level is the single value 'shapes', not keys (such as seed: and shapes:)"),
])
def test_a_config_file_that_holds_no_keys_is_one_line_naming_it(tmp_path, text, expected):
    from braggsynth.config import check_yaml

    path = tmp_path / "mine.yaml"
    path.write_text(text)
    with pytest.raises(SystemExit) as error:
        check_yaml(path)
    assert str(error.value) == f"Config error in {path}: {expected}"


def test_an_experimental_file_must_be_hdf5_when_its_job_reads_it_as_hdf5(tmp_path):
    import h5py
    import numpy as np

    from braggsynth.config import check_training_set

    config = peaks_config()
    config.update(detector={"max_counts": [1e4, 1e6], "offset_range_px": [-8, 8], "model": "maxipix",
                            "orientation_probabilities": {"vertical": 1.0}},
                  patches={"size": 32, "gap_widths_px": [6]},
                  dataset={"split_fractions": {"train": 0.8, "validation": 0.1, "test": 0.1}})
    config["peaks"]["grid"] = [64, 64, 64]
    with h5py.File(tmp_path / "scan.cxi", "w") as h5:
        h5["entry_1/data_1/data"] = np.ones((4, 4, 4))
    np.save(tmp_path / "scan.npy", np.ones((4, 4, 4)))
    (tmp_path / "notes.h5").write_text("not HDF5\n")
    entry = {"optional": False, "object": False}
    config["experimental"] = [{**entry, "name": "a", "path": str(tmp_path / "scan.cxi")},
                              {**entry, "name": "b", "path": str(tmp_path / "scan.npy")}]
    check_training_set(config)
    config["experimental"].append({**entry, "name": "c", "path": str(tmp_path / "notes.h5")})
    with pytest.raises(ConfigError, match=r"^experimental\[2\]\.path: .*notes\.h5: not an HDF5 file \(no HDF5 "
                                          r"signature\), but its suffix \.h5 says it is$"):
        check_training_set(config)


def test_a_configfile_of_ones_own_is_checked_in_one_line_before_snakemake_reads_it(tmp_path):
    """``make run CONFIGFILE=F`` runs ``python -m braggsynth.config F`` first: Snakemake's own message for a
    --configfile names neither the file nor the line."""
    import subprocess
    import sys

    (tmp_path / "bad.yaml").write_text("seed: 1\nshapes:\n  cube: {kind: cube, count: [1\n")
    (tmp_path / "empty.yaml").write_text("# nothing yet\n")
    (tmp_path / "good.yaml").write_text("seed: 1\nshapes:\n  cube: {kind: cube, count: 1}\n")
    for name, message in (("bad.yaml", ", line 4, column 1: not valid YAML (expected ',' or ']'"),
                          ("empty.yaml", ": the file is empty; it needs at least shapes:")):
        result = subprocess.run([sys.executable, "-m", "braggsynth.config", str(tmp_path / name)],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 1 and len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert result.stderr.startswith(f"Config error in {tmp_path / name}{message}"), result.stderr
    good = subprocess.run([sys.executable, "-m", "braggsynth.config", str(tmp_path / "good.yaml")],
                          capture_output=True, text=True, timeout=60)
    assert good.returncode == 0 and not good.stderr
    makefile = (Path(__file__).parents[1] / "Makefile").read_text()
    assert '$(BIN)/python -m braggsynth.config "$(CONFIGFILE)" &&' in makefile


def test_a_list_of_detectors_is_valid_and_an_unknown_one_names_the_key():
    assert schema_error({"shapes": {"c": CUBE}, "detector": {"model": ["maxipix", "eiger"]}}, SCHEMA) is None
    problem = schema_error({"shapes": {"c": CUBE}, "detector": {"model": ["maxipix", "pilatus"]}}, SCHEMA)
    assert problem.startswith("detector.model")


def test_an_initial_model_that_is_missing_or_foreign_fails_naming_the_key(tmp_path):
    config = peaks_config()
    config.update(detector={"max_counts": [1e4, 1e6], "offset_range_px": [-8, 8], "model": ["maxipix", "eiger"],
                            "orientation_probabilities": {"vertical": 1.0}},
                  patches={"size": 32, "gap_widths_px": [6]}, experimental=[],
                  dataset={"split_fractions": {"train": 0.8, "validation": 0.1, "test": 0.1}})
    config["peaks"]["grid"] = [64, 64, 64]
    check_config(config)  # a list of detectors
    config["train"] = {"initial_model": str(tmp_path / "none.keras")}
    with pytest.raises(ConfigError, match=r"^train.initial_model: .*none.keras: no such file$"):
        check_config(config)
    foreign = tmp_path / "foreign.keras"
    foreign.write_bytes(b"not a zip")
    config["train"]["initial_model"] = str(foreign)
    with pytest.raises(ConfigError, match=r"^train.initial_model: .*foreign.keras: not a Keras model archive"):
        check_config(config)
    from braggsynth.models import SHIPPED_WIDE_MODEL

    config["train"]["initial_model"] = str(SHIPPED_WIDE_MODEL)
    with pytest.raises(ConfigError, match=r"fills 64\^3 windows, but patches.size is 32$"):
        check_config(config)
