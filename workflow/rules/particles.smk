# Particles: build FCC particles of each configured shape, relax them with LAMMPS, draw them.


rule build_particle:
    output:
        "results/particles/{shape}/{sample}.h5",
    params:
        spec=shape_spec,
        seed=config["seed"],
    group:
        "simulate"
    log:
        "logs/build_particle/{shape}/{sample}.log",
    conda:
        "../../envs/particles.yaml"
    script:
        "../scripts/build_particle.py"


rule relax_particle:
    input:
        "results/particles/{shape}/{sample}.h5",
    output:
        "results/relaxed/{shape}/{sample}.h5",
    params:
        relax=relax_settings(),
    group:
        "simulate"
    log:
        "logs/relax_particle/{shape}/{sample}.log",
    benchmark:
        "benchmarks/relax_particle/{shape}/{sample}.tsv"
    threads: config["relax"]["threads"]
    resources:
        mem_mb=lambda wildcards, input: 500 + 40 * input.size_mb,
    conda:
        "../../envs/particles.yaml"
    script:
        "../scripts/relax_particle.py"


rule particle_overview:
    input:
        per_particle("results/relaxed/{shape}/{sample}.h5"),
    output:
        report("results/particles/overview.png", caption="../report/particles.rst", category="1 Particles"),
    log:
        "logs/particle_overview.log",
    conda:
        "../../envs/particles.yaml"
    script:
        "../scripts/particle_overview.py"
