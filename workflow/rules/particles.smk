# Particles: build FCC particles of each configured shape and relax them with LAMMPS, a shard at a time.


#: Shard folders found damaged at the start and set aside (braggsynth.shards.set_aside_damaged): targets of
#: rule all (final_targets), so that a plain run remakes them, and what reads them, before anything reads them.
DAMAGED_SHARD_FOLDERS = []


def set_aside_damaged_shards(rule, outputs):
    """Before the DAG: move aside the shard folders (``outputs`` of rule ``rule``) whose files no longer match
    their manifests (sizes and HDF5 signatures), so that Snakemake sees them missing, and make them targets."""
    from braggsynth.shards import set_aside_damaged

    if not workflow.is_main_process:
        return  # a job's own Snakemake (cluster, subprocess) leaves the folders of running jobs alone
    if any(Path(".snakemake", "locks").glob("*.lock")):
        print("shard folders not checked: another Snakemake run holds .snakemake/locks", file=sys.stderr)
        return
    remake, lines = set_aside_damaged([folder for output in outputs for folder in per_shard(str(output))], rule)
    DAMAGED_SHARD_FOLDERS.extend(remake)
    for line in lines:
        print(line, file=sys.stderr)


def print_dag_estimate():
    """Above 1e6 particles, one line on what building the DAG costs and the shard size that cuts it."""
    from braggsynth.shards import dag_estimate

    line = dag_estimate([spec["count"] for spec in config["shapes"].values()], PARTICLES_PER_JOB)
    if line and workflow.is_main_process:
        print(line, file=sys.stderr)


print_dag_estimate()


rule particle_shard:
    output:
        particles=directory("results/particles/{shape}/shard{shard}"),
        relaxed=directory("results/relaxed/{shape}/shard{shard}"),
    params:
        job=shard_job,
        relax=relax_settings(),
        seed=config["seed"],
    log:
        "logs/particle_shard/{shape}/{shard}.log",
    benchmark:
        "benchmarks/particle_shard/{shape}/{shard}.tsv"
    threads: config["relax"]["threads"]
    resources:
        mem_mb=lambda wildcards: RELAX_MEMORY_MB[wildcards.shape],
    conda:
        "../../envs/particles.yaml"
    script:
        "../scripts/particle_shard.py"


set_aside_damaged_shards("particle_shard", rules.particle_shard.output)


rule particle_overview:
    input:
        shard_folders_drawn("relaxed"),
    output:
        report("results/particles/overview.png", caption="../report/particles.rst", category="1 Particles"),
    params:
        particles=[f"{shard_folder('relaxed', shape, sample)}/{sample}.h5" for shape, sample in drawn_particles()],
    log:
        "logs/particle_overview.log",
    conda:
        "../../envs/particles.yaml"
    script:
        "../scripts/particle_overview.py"
