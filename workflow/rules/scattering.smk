# Bragg peaks: the kinematic sum over the relaxed atoms on a grid around the reflection, by NUFFT.


rule bragg_peak:
    input:
        "results/relaxed/{shape}/{sample}.h5",
    output:
        "results/peaks/{shape}/{sample}_{pattern}.h5",
    params:
        peaks=peak_settings(),
        seed=config["seed"],
    group:
        "simulate"
    log:
        "logs/bragg_peak/{shape}/{sample}_{pattern}.log",
    benchmark:
        "benchmarks/bragg_peak/{shape}/{sample}_{pattern}.tsv"
    threads: config["peaks"]["threads"]
    resources:
        mem_mb=peak_memory_mb,
    conda:
        "../../envs/scattering.yaml"
    script:
        "../scripts/bragg_peak.py"


rule peak_figure:
    input:
        peaks_of_particle,
    output:
        report(
            "results/peaks/{shape}/{sample}.png",
            caption="../report/peaks.rst",
            category="2 Bragg peaks",
            subcategory="{shape}",
            labels={"shape": "{shape}", "particle": "{sample}"},
        ),
    log:
        "logs/peak_figure/{shape}/{sample}.log",
    conda:
        "../../envs/scattering.yaml"
    script:
        "../scripts/peak_figure.py"
