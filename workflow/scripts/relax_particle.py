"""Rule relax_particle: clamp a Winterbottom interface to its substrate, minimise with LAMMPS, write."""

import time

from braggsynth import io, relax
from braggsynth.cli import setup_logging

log = setup_logging(snakemake.log[0])
atoms, attrs = io.read_particle(snakemake.input[0])
spec, held = attrs["spec"], atoms.info["held"]
start = atoms.positions
if held.any():
    start = relax.substrate_clamp(start, held, spec["interface"]["hkl"], spec["substrate_misfit"])
t0 = time.perf_counter()
result = relax.relax(attrs["element"], start, fixed=held, threads=snakemake.threads, **snakemake.params.relax)
log.info(
    "%d atoms: %.3f -> %.3f eV in %d iterations (%s), %.1f s",
    len(atoms), result.energy_initial, result.energy_final, result.iterations, result.stop_reason,
    time.perf_counter() - t0,
)
io.write_relaxed(
    snakemake.output[0], element=attrs["element"], lattice_constant=float(attrs["lattice_constant"]),
    ideal=atoms.positions, relaxed=result.positions, held=held, relaxation=result, spec=spec,
    record=io.provenance({"spec": spec, "relax": snakemake.params.relax}, int(attrs["seed"])),
)
