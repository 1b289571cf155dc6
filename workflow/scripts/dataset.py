"""Rule dataset: assemble the patch shards into one chunked HDF5 split by source, with its card."""

from braggsynth import io
from braggsynth.cli import setup_logging
from braggsynth.data import dataset, shards

log = setup_logging(snakemake.log[0])
seed, fractions = snakemake.params.seed, snakemake.params.split_fractions
files = [*shards.files_in(snakemake.input.simulated), *snakemake.input.measured]
counts = dataset.assemble(files, snakemake.output.dataset, split_fractions=fractions, seed=seed,
                          record=io.provenance({"split_fractions": fractions}, seed))
log.info("patches per split: %s", counts)
empty = [split for split, fraction in fractions.items() if fraction > 0 and counts.get(split, 0) == 0]
if empty:
    message = (f"dataset: the {', '.join(empty)} split is empty with {len(files)} patch files; "
               "add particles (shapes.*.count) or change dataset.split_fractions")
    log.error(message)
    raise SystemExit(message)
dataset.write_card(dataset.dataset_card(snakemake.output.dataset), snakemake.output.card_json,
                   snakemake.output.card_markdown)
