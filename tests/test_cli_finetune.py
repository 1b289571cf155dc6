"""Fine-tuning from the command line: ``braggsynth finetune`` and ``inpaint --finetune``."""

from __future__ import annotations

import numpy as np
from conftest import gap_pcc, read_filled
from synthetic_patches import fringe_volume

from braggsynth import io
from braggsynth.cli import main
from braggsynth.simulate import detector


def test_finetuning_on_a_simulated_scan_raises_the_held_back_pcc(tmp_path, capsys):
    """``braggsynth finetune SCAN OUT.keras`` from the shipped model, then ``inpaint --model OUT.keras``."""
    from braggsynth.inpaint import inpaint
    from braggsynth.learn.model import load_model

    rng = np.random.default_rng(5)
    truth = rng.poisson(fringe_volume((64, 96, 96), rng, max_counts=1e5)).astype(np.float32)
    mask = detector.gap_planes(truth.shape, "vertical", (0, 50), 6)
    io.write_cxi_intensity(tmp_path / "scan.cxi", np.where(mask, 0, truth), mask)
    assert main(["finetune", str(tmp_path / "scan.cxi"), str(tmp_path / "tuned.keras"), "--steps", "30",
                 "--windows", "128", "--held-back", "32"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    before, after = (float(v) for v in last.split("held-back PCC ")[1].split(" on ")[0].split(" -> "))
    assert after > before + 0.005, last
    assert "on 32 windows (128 training windows, 30 steps from inpainting.keras)" in last
    assert main(["inpaint", str(tmp_path / "scan.cxi"), str(tmp_path / "filled.cxi"), "--model",
                 str(tmp_path / "tuned.keras")]) == 0
    filled, filled_mask, _, attrs = read_filled(tmp_path / "filled.cxi")
    assert attrs["inpainting_model"].endswith("tuned.keras") and np.array_equal(filled_mask, mask)
    shipped = inpaint(np.where(mask, 0, truth), mask, load_model(), progress=False)
    print("whole gap PCC: shipped", gap_pcc(shipped, truth, mask), "fine-tuned", gap_pcc(filled, truth, mask))
    assert gap_pcc(filled, truth, mask) > gap_pcc(shipped, truth, mask)


def test_inpaint_finetunes_a_small_scan_with_a_central_gap_first(tmp_path, capsys, tiny_model_path):
    """``inpaint --finetune`` on a 64^3 scan with a gap through its centre (no window is clear of it): the
    model is fine-tuned on the scan and kept only if its held-back score rises."""
    from synthetic_patches import central_gap_scan

    scan, gap = central_gap_scan()
    io.write_cxi_intensity(tmp_path / "scan.cxi", scan, gap)
    assert main(["inpaint", str(tmp_path / "scan.cxi"), str(tmp_path / "plain.cxi"), "--model", tiny_model_path]) == 0
    capsys.readouterr()
    assert main(["inpaint", str(tmp_path / "scan.cxi"), str(tmp_path / "tuned.cxi"), "--model", tiny_model_path,
                 "--finetune", "--finetune-steps", "40"]) == 0
    line = next(line for line in capsys.readouterr().err.splitlines() if "held-back PCC" in line)
    assert "training windows, 40 steps)" in line
    before, after = (float(value) for value in line.split("held-back PCC ")[1].split(" on ")[0].split(" -> "))
    plain, tuned = read_filled(tmp_path / "plain.cxi")[0], read_filled(tmp_path / "tuned.cxi")[0]
    if line.startswith("fine-tuned tiny.keras on the scan: held-back PCC"):  # kept: it scored higher
        assert after >= before and not np.array_equal(plain, tuned)  # (the line rounds to 4 digits)
    else:
        assert line.startswith("fine-tuning did not help") and after <= before and np.array_equal(plain, tuned)
