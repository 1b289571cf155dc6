"""Rule simulated_patches: patches of a simulated recording, with a gap plane through each centre."""

from braggsynth import dataset, io, patches, seeds
from braggsynth.cli import setup_logging

log = setup_logging(snakemake.log[0])
settings, seed, wildcards = snakemake.params.patches, snakemake.params.seed, snakemake.wildcards
recording = io.read_detector_pattern(snakemake.input[0])
rng = seeds.rng(seed, "simulated_patches", wildcards.shape, int(wildcards.sample), int(wildcards.pattern))
made = patches.make_patches(
    recording["counts"], rng, expected=recording["expected"], count=snakemake.params.patch_count, patch_size=settings["size"],
    gap_widths_px=settings["gap_widths_px"], cross_probability=settings["cross_probability"],
)
log.info("%d patches of %d^3", len(made["input"]), settings["size"])
io.write_patch_shard(
    snakemake.output[0], made, source_id=dataset.source_id(wildcards.shape, wildcards.sample), origin="simulated",
    shape_name=wildcards.shape, element=snakemake.params.element,
    record=io.provenance({"patches": settings, "count": snakemake.params.patch_count}, seed),
)
