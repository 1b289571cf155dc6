# Particles: build FCC particles of each configured shape and relax them with LAMMPS, a shard at a time.


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
