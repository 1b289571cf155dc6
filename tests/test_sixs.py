"""The raw SIXS scan of ../shared/data as a PyNX user has it (a MAXIPIX gap cross 77 rows below the peak,
aliens masked by hand): its gaps and its other masks told apart from the file's own mask, the gaps filled
by ``braggsynth inpaint`` and a crop that holds them phased by ``braggsynth phase``, the outputs laid out
as PyNX and cdiutils read them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from braggsynth.data.scans import read_scan

SIXS = "S1398_pynx_norm_128_300_294_1_1_1.cxi"
BRAGGSYNTH = str(Path(sys.executable).parent / "braggsynth")
DETECTOR = "entry_1/instrument_1/detector_1"
#: The phased crop: 64^3 around a point of the gap cross, 77 rows below the maximum at (64, 177, 131).
CENTRE = (64, 256, 256)


@pytest.fixture(scope="module")
def sixs(shared_data) -> Path:
    path = shared_data / SIXS
    if not path.is_file():
        pytest.skip(f"the raw SIXS scan {path} is not present")
    return path


def test_the_files_mask_gives_two_gaps_to_fill_and_aliens_to_leave(sixs):
    scan = read_scan(sixs)
    assert scan.stripes == [(1, 254, 260), (2, 254, 260)]
    with h5py.File(sixs, "r") as h5:
        file_mask = h5[f"{DETECTOR}/mask"][()] != 0
    assert np.array_equal(scan.mask | scan.masked, file_mask) and not (scan.mask & scan.masked).any()
    assert 0.03 < scan.masked.mean() < 0.06  # the hand-drawn aliens and streaks: 4.2 % of the voxels
    assert np.all(scan.intensity[file_mask] == 0)
    line = scan.describe()
    assert "a 6 px horizontal gap at y = 254-259 and a 6 px vertical gap at x = 254-259 (the file's mask)" in line
    assert "left unfilled and free in phasing" in line
    everything = read_scan(sixs, fill_masked=True)
    assert np.array_equal(everything.mask, file_mask) and not everything.masked.any()


@pytest.fixture(scope="module")
def commands(sixs, tmp_path_factory):
    folder = tmp_path_factory.mktemp("sixs")
    filled = subprocess.run([BRAGGSYNTH, "inpaint", str(sixs), str(folder / "filled.cxi")],
                            capture_output=True, text=True, timeout=900)
    phased = subprocess.run([BRAGGSYNTH, "phase", str(sixs), str(folder / "phased.cxi"), "--gaps", "free",
                             "--crop", "64", "--centre", *map(str, CENTRE), "--starts", "1", "--sequence",
                             "20*ER+60*HIO+20*ER", "--psf"], capture_output=True, text=True, timeout=900)
    return folder, filled, phased


def test_inpaint_fills_the_gaps_of_the_file_as_it_is_and_leaves_the_aliens_masked(sixs, commands):
    folder, filled, _ = commands
    assert filled.returncode == 0, filled.stderr[-2000:]
    scan = read_scan(sixs)
    assert f"filled {int(scan.mask.sum()):,} voxels with inpainting.keras" in filled.stdout
    assert f"{int(scan.masked.sum()):,} masked voxels left unfilled, masked in the output" in filled.stdout
    with h5py.File(folder / "filled.cxi", "r") as h5:  # where PyNX reads the intensity and the mask
        data, mask = h5[f"{DETECTOR}/data"][()], h5[f"{DETECTOR}/mask"][()] != 0
        assert h5["cxi_version"][()] == 160 and np.array_equal(h5["entry_1/data_1/filled"][()] != 0, scan.mask)
        assert h5[f"{DETECTOR}/distance"][()] == pytest.approx(0.84, rel=0.05)  # the geometry carried over
    assert np.array_equal(mask, scan.masked)  # the aliens stay unmeasured; the gaps are measured now
    assert np.array_equal(data[~scan.mask], scan.intensity[~scan.mask])
    gap_near_peak = scan.mask & (np.abs(np.arange(128) - 64)[:, None, None] < 16)
    assert data[gap_near_peak].mean() > 0  # the fill has photons where the rocking curve has them


def test_phase_reads_the_file_and_phases_a_crop_holding_the_gaps_with_partial_coherence(sixs, commands):
    folder, _, phased = commands
    assert phased.returncode == 0, phased.stderr[-2000:]
    assert "phasing (64, 64, 64) around (64, 256, 256)" in phased.stderr
    assert "partial coherence: fitted point spread of RMS widths" in phased.stderr
    scan = read_scan(sixs, require_gap=False)
    with h5py.File(folder / "phased.cxi", "r") as h5:
        crop = tuple(slice(start, stop) for start, stop in h5["entry_1/result_1/crop"][()])
        obj, support = h5["entry_1/data_1/data"][()], h5["entry_1/image_1/support"][()]
        used = h5[f"{DETECTOR}/data"][()]
        record = json.loads(h5["entry_1"].attrs["provenance"])
    assert obj.shape == support.shape == (64, 64, 64) and 0 < support.sum() < support.size
    assert scan.mask[crop].any()  # the crop holds the gap cross
    assert np.all(used[scan.mask[crop] | scan.masked[crop]] == 0)  # free pixels: no value given to them
    assert record["config"]["psf"] is True and len(record["config"]["psf_widths_px"]) == 3


def test_cdiutils_reads_what_the_commands_wrote(commands):
    pytest.importorskip("cdiutils", reason="cdiutils (an optional test dependency) is not installed")
    folder, filled, phased = commands
    assert filled.returncode == phased.returncode == 0
    code = ("import sys, json; from cdiutils.io import load_cxi; "
            "print(json.dumps({p: sorted(load_cxi(p)) for p in sys.argv[1:]}))")
    paths = [str(folder / "filled.cxi"), str(folder / "phased.cxi")]
    result = subprocess.run([sys.executable, "-c", code, *paths], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    keys = json.loads(result.stdout.strip().splitlines()[-1])
    assert all(keys[path] for path in paths)
