"""Rule measured_patches: patches of a measured peak; its own masked voxels never become targets."""

from braggsynth import io, seeds
from braggsynth.cli import setup_logging
from braggsynth.data import measured, patches

log = setup_logging(snakemake.log[0])
settings, seed, name = snakemake.params.patches, snakemake.params.seed, snakemake.wildcards.name
intensity, mask = io.read_measured(snakemake.input[0])
# patches only from the half of the file that the evaluation never scores
excluded = ~measured.fit_region(intensity.shape)
if mask is not None:
    excluded |= mask
made = patches.make_patches(
    intensity, seeds.rng(seed, "measured_patches", name), count=snakemake.params.patch_count,
    patch_size=settings["size"], gap_widths_px=settings["gap_widths_px"],
    cross_probability=settings["cross_probability"], excluded=excluded,
)
log.info("%d patches of %d^3 from %s", len(made["input"]), settings["size"], name)
io.write_patch_shard(snakemake.output[0], made, source_id=f"experimental/{name}", origin="experimental",
                     shape_name="experimental", element="unknown",
                     record=io.provenance({"patches": settings, "count": snakemake.params.patch_count}, seed))
