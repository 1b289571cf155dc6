# Realism: the simulated recordings beside every measured file of the run, statistic by statistic, and a
# classifier's accuracy at telling their patches apart.


rule realism:
    input:
        recordings=per_shard("results/detector/{shape}/shard{shard}"),
        measured=measured_intensities(),
    output:
        report=report("results/realism/report.md", caption="../report/realism.rst", category="3 Dataset"),
        table="results/realism/statistics.json",
        figure=report("results/realism/statistics.png", caption="../report/realism.rst", category="3 Dataset"),
    params:
        settings=config["realism"],
        seed=config["seed"],
    log:
        "logs/realism.log",
    benchmark:
        "benchmarks/realism/realism.tsv"
    conda:
        "../../envs/dataset.yaml"
    script:
        "../scripts/realism.py"
