# Training set: patches of measured files, joined to the simulated ones in the assembled dataset.
# The measured jobs need no simulation and run first (priority): a file with fewer positions than its share of
# patches (patches.experimental_fraction) fails in the first minutes, not after the simulation.


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
    priority: 1
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
    priority: 1
    conda:
        "../../envs/dataset.yaml"
    script:
        "../scripts/measured_patches.py"


rule dataset:
    input:
        simulated=per_shard("results/patches/{shape}/shard{shard}"),
        measured=measured_patches(),
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
