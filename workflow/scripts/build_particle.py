"""Rule build_particle: draw the particle's size, cut it from the FCC lattice, write it."""

from braggsynth import io, seeds, shapes
from braggsynth.cli import setup_logging

log = setup_logging(snakemake.log[0])
shape, sample = snakemake.wildcards.shape, int(snakemake.wildcards.sample)
spec, seed = snakemake.params.spec, snakemake.params.seed
size_nm = shapes.draw_size_nm(seeds.rng(seed, "build_particle", shape, sample), spec["size_nm"])
atoms = shapes.build_particle(spec, size_nm)
log.info("%s %d: %s %s, %.2f nm, %d atoms", shape, sample, spec["element"], spec["kind"], size_nm, len(atoms))
io.write_particle(snakemake.output[0], atoms, spec, seed, io.provenance({"shape": shape, **spec}, seed))
