"""``braggsynth phase`` from the command line: the reconstruction it writes, the gap modes, its one-line errors."""

from __future__ import annotations

import subprocess

import h5py
import numpy as np
from conftest import BRAGGSYNTH, one_line_error

from braggsynth import io
from braggsynth.cli import main
from braggsynth.phase import reconstruction

SHORT = "10*ER+30*HIO+10*ER"


def small_scan(tmp_path, gap_px=4):
    """The 32^3 Bragg peak of a strained box (noiseless counts, 1e5 at the maximum) as .npy, with a stripe
    of zeros through every frame (found as a gap) unless ``gap_px`` is 0."""
    z, y, x = np.indices((32, 32, 32)) - 16
    obj = ((abs(z) < 5) & (abs(y) < 6) & (abs(x) < 4)) * np.exp(0.4j * np.sin(z / 3.0))
    intensity = np.abs(np.fft.fftshift(np.fft.fftn(np.fft.ifftshift(obj)))) ** 2
    intensity *= 1e5 / intensity.max()
    if gap_px:
        intensity[:, :, 16 - gap_px // 2:16 - gap_px // 2 + gap_px] = 0
    np.save(tmp_path / "scan.npy", intensity.astype(np.float32))
    return tmp_path / "scan.npy"


def test_phase_writes_the_object_its_support_the_errors_and_a_figure(tmp_path):
    scan = small_scan(tmp_path)
    result = subprocess.run([BRAGGSYNTH, "phase", str(scan), str(tmp_path / "rec.cxi"), "--gaps", "free", "--starts",
                             "2", "--sequence", SHORT, "--figure", str(tmp_path / "rec.png")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "gap mode free" in result.stdout
    assert "kept from 2 starts (the others' modulus PCC against it: " in result.stdout
    with h5py.File(tmp_path / "rec.cxi", "r") as h5:
        obj, support = h5["entry_1/image_1/data"][()], h5["entry_1/image_1/support"][()]
        process = h5["entry_1/image_1/process_1"]
        assert obj.dtype == np.complex64 and obj.shape == (32, 32, 32) and support.shape == obj.shape
        assert np.array_equal(h5["entry_1/image_1/mask"][()], support) and 50 < support.sum() < 32**3 / 4
        assert process["errors"].shape == (50,) and process["start_errors"].shape == (2,)
        assert process.attrs["gap_mode"] == "free" and process.attrs["final_error"] == min(process["start_errors"])
        assert h5["entry_1/instrument_1/detector_1/mask"][()].sum() == 32 * 32 * 4 * io.PIXEL_IS_MISSING
        config = io.read_json_attr(h5["entry_1"], "provenance")["config"]
        hidden = config["unconstrained_modes"]
        (agreement,) = config["start_agreement"]  # of the other start against the one kept
        assert -1 <= agreement <= 1 and f"{agreement:.3f}" in result.stdout
    # what of the gap the data cannot decide, given the reconstruction's support: said and recorded
    assert hidden["gap_px"] == [0, 4] and hidden["orientation"] == "x" and 0 <= hidden["hidden_share"] <= 1
    assert "unconstrained modes of the gap (0 rows, 4 columns):" in result.stderr
    assert (tmp_path / "rec.png").stat().st_size > 10_000


def test_phase_auto_decides_from_the_unconstrained_modes_and_says_why(tmp_path, tiny_model_path):
    scan = small_scan(tmp_path)
    assert main(["phase", str(scan), str(tmp_path / "rec.cxi"), "--model", tiny_model_path, "--sequence", SHORT,
                 "--starts", "1"]) == 0
    with h5py.File(tmp_path / "rec.cxi", "r") as h5:
        process = h5["entry_1/image_1/process_1"]
        mode, reason = process.attrs["gap_mode"], process.attrs["gap_mode_reason"]
        decision = io.read_json_attr(h5["entry_1"], "provenance")["config"]["decision"]
    assert mode in ("free", "narrowed") and "of the gap's power lies in modes at least half hidden" in reason
    assert decision["mode"] == mode and decision["unconstrained_modes"]["gap_px"] == [0, 4]
    assert decision["free_below"] == reconstruction.FREE_BELOW


def test_phase_runs_pynx_recipes_without_a_model(tmp_path):
    scan = small_scan(tmp_path)
    for mode in ("mask-interp", "zero-mask"):
        assert main(["phase", str(scan), str(tmp_path / f"{mode}.cxi"), "--gaps", mode, "--sequence", SHORT,
                     "--starts", "1"]) == 0
        with h5py.File(tmp_path / f"{mode}.cxi", "r") as h5:
            assert h5["entry_1/image_1/process_1"].attrs["gap_mode"] == mode
            assert ("lower_bound" in h5["entry_1/result_1"]) == (mode == "mask-interp")


def test_phase_in_an_interval_writes_its_bounds(tmp_path, tiny_model_path):
    from braggsynth.learn import uncertainty

    rng = np.random.default_rng(0)
    fills = rng.random((8, 32, 32, 32)).astype(np.float32)
    gaps = np.zeros(fills.shape, bool)
    gaps[..., 14:18] = True
    calibration = tmp_path / "tiny.calibration.json"
    uncertainty.write_calibration(uncertainty.calibrate(fills, fills + rng.normal(0, 0.05, fills.shape), gaps),
                                  calibration)
    scan = small_scan(tmp_path)
    assert main(["phase", str(scan), str(tmp_path / "rec.h5"), "--model", tiny_model_path, "--gaps", "interval",
                 "--calibration", str(calibration), "--sequence", SHORT, "--starts", "1"]) == 0
    with h5py.File(tmp_path / "rec.h5", "r") as h5:
        lower, upper = h5["entry_1/result_1/lower_bound"][()], h5["entry_1/result_1/upper_bound"][()]
        gap = h5["entry_1/instrument_1/detector_1/mask"][()].astype(bool)
    assert np.all(lower[gap] < upper[gap]) and np.all(lower[gap] >= 0)


def test_phase_of_a_scan_without_a_gap_says_so(tmp_path, capsys):
    scan = small_scan(tmp_path, gap_px=0)
    assert main(["phase", str(scan), str(tmp_path / "rec.cxi"), "--sequence", SHORT, "--starts", "1"]) == 0
    assert "no gap given or found: phased as it is" in capsys.readouterr().out


def test_phase_errors_are_one_line(tmp_path, tiny_model_path, capsys):
    scan = small_scan(tmp_path)
    line = one_line_error(capsys, ["phase", str(scan), str(tmp_path / "r.cxi"), "--sequence", "3*(20*ER+"])
    assert "algorithm sequence '3*(20*ER+'" in line
    line = one_line_error(capsys, ["phase", str(scan), str(tmp_path / "r.cxi"), "--gaps", "interval",
                                   "--model", tiny_model_path])
    assert "has no calibration of its intervals" in line
    line = one_line_error(capsys, ["phase", str(scan), str(tmp_path / "r.cxi"), "--gpu", "0"], 2)
    assert "--gpu needs --library torch or cp" in line
    assert not (tmp_path / "r.cxi").exists()


def test_inpaint_says_which_mode_phasing_would_choose(tmp_path, tiny_model_path, capsys):
    scan = small_scan(tmp_path, gap_px=6)
    assert main(["inpaint", str(scan), str(tmp_path / "filled.cxi"), "--model", tiny_model_path, "--choose-mode",
                 "--crop", "32"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("the gaps hold ") and "braggsynth phase --gaps auto --crop 32 would choose " in last
    assert "of the gap's power lies in modes at least half hidden" in last
    with h5py.File(tmp_path / "filled.cxi", "r") as h5:
        chosen = io.read_json_attr(h5["entry_1"], "provenance")["config"]["choose_mode"]
    assert chosen["mode"] in last and chosen["unconstrained_modes"]["gap_px"] == [0, 6]
