import json
from collections import Counter

import h5py
import numpy as np
import pytest

from braggsynth import io
from braggsynth.data import dataset, patches

S = 16
SOURCES = [  # (source id, origin, shape, element, patches)
    *[(f"cube/{i}", "simulated", "cube", "Au", 5 + i % 3) for i in range(8)],
    *[(f"wulff/{i}", "simulated", "wulff", "Pt", 4) for i in range(6)],
    *[(f"measured/S{i}", "experimental", "measured", "Au", 7) for i in range(4)],
]


def write_shards(folder, sources):
    rng = np.random.default_rng(0)
    z, y, x = np.indices((40, 40, 40)) - 20
    paths = []
    for k, (source_id, origin, shape, element, count) in enumerate(sources):
        counts = rng.poisson(1e4 * (np.sinc(z / 5) * np.sinc(y / 6) * np.sinc(x / (4 + k % 3))) ** 2)
        made = patches.make_patches(counts, rng, count=count, patch_size=S, gap_widths_px=(3, 6))
        path = folder / f"{source_id.replace('/', '_')}.h5"
        io.write_patch_shard(path, made, source_id=source_id, origin=origin, shape_name=shape, element=element)
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def assembled(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shards")
    shards = write_shards(folder, SOURCES)
    output = folder / "dataset.h5"
    counts = dataset.assemble(shards, output, seed=3, split_fractions={"train": 0.6, "validation": 0.2, "test": 0.2})
    return shards, output, counts


def split_tables(path):
    with h5py.File(path) as h5:
        return {name: [s.decode() for s in h5[name]["sources"]["source_id"]] for name in dataset.SPLITS}


def test_no_source_crosses_splits_and_patches_are_copied_exactly(assembled):
    shards, output, counts = assembled
    tables = split_tables(output)
    every = [s for name in dataset.SPLITS for s in tables[name]]
    assert sorted(every) == sorted(s[0] for s in SOURCES) and len(every) == len(set(every))
    assert all(tables[name] for name in dataset.SPLITS), tables  # 18 sources fill every split at this seed
    assert sum(counts.values()) == sum(s[4] for s in SOURCES)
    by_id = {io.read_shard_info(p)["source_id"]: p for p in shards}
    with h5py.File(output) as h5:
        for name in dataset.SPLITS:
            group = h5[name]
            index = group["source_index"][()]
            for row, source_id in enumerate(tables[name]):
                with h5py.File(by_id[source_id]) as shard:
                    for key in ("input", "target", "mask", "gap_width_px"):
                        assert np.array_equal(group[key][()][index == row], shard[key][()]), (name, source_id, key)


def test_chunks_are_one_patch(assembled):
    _, output, _ = assembled
    with h5py.File(output) as h5:
        for name in dataset.SPLITS:
            for key in ("input", "target", "mask"):
                ds = h5[name][key]
                assert ds.chunks == (1, S, S, S) and ds.compression == "gzip", (name, key)


def test_split_depends_only_on_seed_and_source(tmp_path, assembled):
    shards, output, _ = assembled
    more = write_shards(tmp_path, [(f"octahedron/{i}", "simulated", "octahedron", "Cu", 3) for i in range(5)])
    dataset.assemble(shards + more, tmp_path / "bigger.h5", seed=3,
                     split_fractions={"train": 0.6, "validation": 0.2, "test": 0.2})
    before, after = split_tables(output), split_tables(tmp_path / "bigger.h5")
    for name in dataset.SPLITS:
        assert set(before[name]) <= set(after[name])
    ids = [f"pattern/{i}" for i in range(4000)]
    shares = Counter(dataset.split_of(i, 11) for i in ids)
    assert abs(shares["train"] / 4000 - 0.8) < 0.03 and abs(shares["test"] / 4000 - 0.1) < 0.02
    assert Counter(dataset.split_of(i, 12) for i in ids) != shares  # the seed matters


def test_shards_of_one_source_share_a_split_and_duplicates_are_refused(tmp_path, assembled):
    shards, _, _ = assembled
    copy = tmp_path / "copy.h5"
    copy.write_bytes(shards[0].read_bytes())  # a second pattern of the same particle
    dataset.assemble(shards + [copy], tmp_path / "two.h5", seed=1)
    tables = split_tables(tmp_path / "two.h5")
    holding = [name for name in dataset.SPLITS if "cube/0" in tables[name]]
    assert len(holding) == 1
    assert dataset.dataset_card(tmp_path / "two.h5")["sources"] == len(shards)
    with pytest.raises(ValueError, match="a shard is listed twice"):
        dataset.assemble([shards[0], shards[0]], tmp_path / "out.h5", seed=1)
    with pytest.raises(ValueError, match="summing to 1"):
        dataset.assemble(shards, tmp_path / "out.h5", seed=1, split_fractions={"train": 0.9, "test": 0.2})
    (tmp_path / "junk.h5").write_bytes(b"junk")
    with pytest.raises(io.DataFileError, match="junk.h5: cannot be read as HDF5"):
        dataset.assemble([shards[0], tmp_path / "junk.h5"], tmp_path / "out.h5", seed=1)
    assert not (tmp_path / "out.h5").exists()


def test_interrupted_assembly_leaves_nothing(tmp_path, assembled, monkeypatch):
    shards, _, _ = assembled

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(dataset.da, "store", killed)  # the decoded path
    monkeypatch.setattr(dataset, "_copy_chunks", killed)  # the path of chunks copied as bytes
    with pytest.raises(KeyboardInterrupt):
        dataset.assemble(shards, tmp_path / "out.h5", seed=3)
    assert list(tmp_path.iterdir()) == []


def test_card_counts_add_up(tmp_path, assembled):
    _, output, counts = assembled
    card = dataset.dataset_card(output)
    total = sum(s[4] for s in SOURCES)
    assert card["patches"] == total and card["by_split"] == counts and card["sources"] == len(SOURCES)
    for key in ("by_origin", "by_shape", "by_element", "by_gap_width_px"):
        assert sum(card[key].values()) == total, key
        for name in dataset.SPLITS:
            assert sum(card["per_split"][name][key].values()) == counts[name], (key, name)
    assert card["by_origin"] == {"experimental": 28, "simulated": sum(s[4] for s in SOURCES[:14])}
    assert card["by_element"]["Pt"] == 24 and set(card["by_gap_width_px"]) == {"3", "6"}
    dataset.write_card(card, tmp_path / "card.json", tmp_path / "card.md")
    assert json.loads((tmp_path / "card.json").read_text()) == card
    markdown = (tmp_path / "card.md").read_text()
    assert f"| **all** | {len(SOURCES)} | {total} |" in markdown and "| experimental |" in markdown


def test_montage_png_is_written(tmp_path, assembled):
    _, output, _ = assembled
    png = tmp_path / "montage.png"
    dataset.patch_montage(output, png, per_split=4, rng=np.random.default_rng(0))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import matplotlib.image

    image = matplotlib.image.imread(png)
    assert image.shape[0] > 400 and image.shape[1] > 300


def test_chunks_copied_as_bytes_equal_decoded_ones_and_mixed_shards_work(tmp_path, assembled):
    """Shards filtered like the dataset are copied chunk by chunk undecoded; others go through dask decoded."""
    shards, output, _ = assembled
    lzf_shard = tmp_path / "lzf.h5"
    made = {name: h5py.File(shards[0], "r")[name][()] for name in ("input", "target", "expected", "mask",
                                                                   "gap_width_px", "bounds")}
    io.write_patch_shard(lzf_shard, made, source_id="lzf/0", origin="simulated", shape_name="cube", element="Au",
                         compression="lzf", compression_opts=None)
    fractions = {"train": 0.6, "validation": 0.2, "test": 0.2}
    decoded = tmp_path / "decoded.h5"
    dataset.assemble(shards, decoded, seed=3, split_fractions=fractions, compression="lzf")  # no shard is lzf
    mixed = tmp_path / "mixed.h5"
    dataset.assemble([*shards, lzf_shard], mixed, seed=3, split_fractions=fractions)  # one shard is decoded
    with h5py.File(output, "r") as raw, h5py.File(decoded, "r") as dec, h5py.File(mixed, "r") as mix:
        for split in ("train", "validation", "test"):
            for name in ("input", "target", "expected", "mask", "gap_width_px", "source_index", "bounds"):
                assert np.array_equal(raw[split][name][()], dec[split][name][()]), (split, name)
        assert raw["train"]["input"].compression == "gzip" and dec["train"]["input"].compression == "lzf"
        lzf_split = dataset.split_of("lzf/0", 3, fractions)
        table = mix[lzf_split]["sources"][()]
        row = [i for i, entry in enumerate(table) if entry["source_id"].decode() == "lzf/0"][0]
        first = int(table["first"][row])
        assert np.array_equal(mix[lzf_split]["input"][first:first + len(made["input"])], made["input"])
        assert np.all(mix[lzf_split]["source_index"][first:first + len(made["input"])] == row)


def test_the_splits_that_miss_a_shape_are_known_from_the_config():
    """One particle of a shape lies in one split only; two hundred lie in all three."""
    from braggsynth.data.dataset import shapes_missing_from_splits, split_of

    fractions = {"train": 0.8, "validation": 0.1, "test": 0.1}
    particles = [("lone", "0000")] + [("many", f"{i:04d}") for i in range(200)]
    missing = shapes_missing_from_splits(particles, 3, fractions)
    lone = split_of("lone/0000", 3, fractions)
    assert missing == {name: ["lone"] for name in ("train", "validation", "test") if name != lone}
    assert shapes_missing_from_splits(particles[1:], 3, fractions) == {}
