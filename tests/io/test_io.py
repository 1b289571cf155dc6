import h5py
import numpy as np
import pytest

from braggsynth import io
from braggsynth.simulate import shapes


def test_particle_round_trip(tmp_path):
    spec = {"kind": "cube", "element": "Ag", "size_nm": [2, 3]}
    atoms = shapes.build_particle(spec, 2.0)
    io.write_particle(tmp_path / "p.h5", atoms, spec, 5, io.provenance(spec, 5))
    back, attrs = io.read_particle(tmp_path / "p.h5")
    assert np.array_equal(back.positions, atoms.positions)
    assert back.get_chemical_symbols() == atoms.get_chemical_symbols()
    assert attrs["spec"] == spec and attrs["seed"] == 5 and attrs["element"] == "Ag"


def test_interrupted_write_leaves_no_file(tmp_path):
    target = tmp_path / "out.h5"
    with pytest.raises(RuntimeError):
        with io.atomic_h5(target) as h5:
            h5["x"] = np.arange(3)
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_completed_write_replaces_atomically_and_keeps_umask_permissions(tmp_path):
    target = tmp_path / "out.h5"
    with io.atomic_h5(target) as h5:
        h5["x"] = np.arange(3)
    with h5py.File(target) as h5:
        assert list(h5["x"][()]) == [0, 1, 2]
    assert target.stat().st_mode & 0o044  # readable by others, like any file the user writes


def test_unreadable_file_names_itself(tmp_path):
    bad = tmp_path / "broken.h5"
    bad.write_bytes(b"not hdf5")
    with pytest.raises(io.DataFileError, match="broken.h5: cannot be read as HDF5"):
        io.read_relaxed(bad)
    with io.atomic_h5(tmp_path / "empty.h5"):
        pass
    with pytest.raises(io.DataFileError, match="empty.h5: missing dataset"):
        io.read_relaxed(tmp_path / "empty.h5")


def test_a_corrupt_intermediate_names_its_rule_and_the_command_that_remakes_it(tmp_path):
    path = tmp_path / "results" / "peaks" / "cube" / "shard0000" / "0000_00.h5"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\x89HDF\r\n\x1a\n truncated by a full disk")
    with pytest.raises(io.DataFileError) as error:
        io.read_peak(path)
    message = str(error.value)
    assert message.startswith(f"{path}: cannot be read as HDF5 (") and "\n" not in message
    assert message.endswith("; made by rule pattern_shard: remake it with "
                            "`snakemake --force results/peaks/cube/shard0000`")


def test_half_written_part_files_are_removed(tmp_path):
    stale = [tmp_path / "results" / "detector" / "cube" / ".0000_00.h5.abc123.part",
             tmp_path / "results" / "dataset" / ".patches.h5.x.part"]
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"half")
    kept = tmp_path / "results" / "dataset" / "patches.h5"
    kept.write_bytes(b"whole")
    assert sorted(io.remove_partials(tmp_path / "results")) == sorted(stale)
    assert not any(path.exists() for path in stale) and kept.exists()
