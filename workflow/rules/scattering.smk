# Patterns: the Bragg peak of each relaxed particle by NUFFT, recorded by the detector and cut into patches,
# a shard at a time.


rule pattern_shard:
    input:
        "results/relaxed/{shape}/shard{shard}",
    output:
        peaks=directory("results/peaks/{shape}/shard{shard}"),
        detector=directory("results/detector/{shape}/shard{shard}"),
        patches=directory("results/patches/{shape}/shard{shard}"),
    params:
        job=shard_job,
        patterns=patterns(),
        peaks=peak_settings(),
        detector=config["detector"],
        patches=patch_settings(),
        patch_count=config["patches"]["per_pattern"],
        seed=config["seed"],
    log:
        "logs/pattern_shard/{shape}/{shard}.log",
    benchmark:
        "benchmarks/pattern_shard/{shape}/{shard}.tsv"
    threads: config["peaks"]["threads"]
    resources:
        mem_mb=lambda wildcards: PEAK_MEMORY_MB[wildcards.shape],
    conda:
        "../../envs/scattering.yaml"
    script:
        "../scripts/pattern_shard.py"


set_aside_damaged_shards("pattern_shard", rules.pattern_shard.output)


rule peak_figure:
    input:
        lambda wildcards: shard_folders_drawn("peaks", wildcards.shape),
    output:
        report(
            "results/peaks/{shape}.png",
            caption="../report/peaks.rst",
            category="2 Bragg peaks",
            labels={"shape": "{shape}"},
        ),
    params:
        peaks=lambda wildcards: drawn_pattern_files(wildcards.shape),
    log:
        "logs/peak_figure/{shape}.log",
    conda:
        "../../envs/scattering.yaml"
    script:
        "../scripts/peak_figure.py"
