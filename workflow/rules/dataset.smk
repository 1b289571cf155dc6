# Training set: detector noise and gaps, patches from simulated and measured peaks, the assembled dataset.


rule detector:
    input:
        "results/peaks/{shape}/{sample}_{pattern}.h5",
    output:
        "results/detector/{shape}/{sample}_{pattern}.h5",
    params:
        detector=config["detector"],
        seed=config["seed"],
    group:
        "simulate"
    log:
        "logs/detector/{shape}/{sample}_{pattern}.log",
    conda:
        "../../envs/dataset.yaml"
    script:
        "../scripts/detector.py"


rule simulated_patches:
    input:
        "results/detector/{shape}/{sample}_{pattern}.h5",
    output:
        "results/patches/{shape}/{sample}_{pattern}.h5",
    params:
        patches=patch_settings(),
        patch_count=config["patches"]["per_pattern"],
        element=lambda wildcards: config["shapes"][wildcards.shape]["element"],
        seed=config["seed"],
    group:
        "simulate"
    log:
        "logs/simulated_patches/{shape}/{sample}_{pattern}.log",
    conda:
        "../../envs/dataset.yaml"
    script:
        "../scripts/simulated_patches.py"


rule measured_intensity:
    input:
        lambda wildcards: experimental_entry(wildcards)["path"],
    output:
        "results/measured/{name}/intensity.h5",
    params:
        entry=experimental_entry,
        seed=config["seed"],
    log:
        "logs/measured_intensity/{name}.log",
    conda:
        "../../envs/dataset.yaml"
    script:
        "../scripts/measured_intensity.py"


rule measured_patches:
    input:
        "results/measured/{name}/intensity.h5",
    output:
        "results/measured/{name}/patches.h5",
    params:
        patches=patch_settings(),
        patch_count=measured_patch_count(),
        seed=config["seed"],
    log:
        "logs/measured_patches/{name}.log",
    conda:
        "../../envs/dataset.yaml"
    script:
        "../scripts/measured_patches.py"


rule dataset:
    input:
        patch_shards(),
    output:
        dataset="results/dataset/patches.h5",
        card_json="results/dataset/card.json",
        card_markdown=report(
            "results/dataset/card.md", caption="../report/dataset_card.rst", category="3 Dataset"
        ),
    params:
        split_fractions=config["dataset"]["split_fractions"],
        seed=config["seed"],
    log:
        "logs/dataset.log",
    benchmark:
        "benchmarks/dataset/dataset.tsv"
    resources:
        mem_mb=1000,
    conda:
        "../../envs/dataset.yaml"
    script:
        "../scripts/dataset.py"


rule dataset_montage:
    input:
        "results/dataset/patches.h5",
    output:
        report("results/dataset/montage.png", caption="../report/montage.rst", category="3 Dataset"),
    params:
        seed=config["seed"],
    log:
        "logs/dataset_montage.log",
    conda:
        "../../envs/dataset.yaml"
    script:
        "../scripts/dataset_montage.py"
