# The inpainting model: training and evaluation against classic baselines.


rule train:
    input:
        "results/dataset/patches.h5",
        initial_model(),
    output:
        model="results/model/{model}/best.keras",
        history="results/model/{model}/history.csv",
        curve=report(
            "results/model/{model}/learning_curve.png",
            caption="../report/learning_curve.rst",
            category="4 Training",
            labels={"model": "{model}"},
        ),
    params:
        settings=training_settings,
        checkpoints=checkpoint_folder,
        seed=config["seed"],
    log:
        "logs/train/{model}.log",
    benchmark:
        "benchmarks/train/{model}.tsv"
    threads: 2
    resources:
        mem_mb=4000,
    conda:
        "../../envs/model.yaml"
    script:
        "../scripts/train.py"


rule evaluate:
    input:
        model="results/model/{model}/best.keras",
        dataset="results/dataset/patches.h5",
        patterns=folders_of(held_out_patterns()),
        measured=measured_intensities(),
        shipped=shipped_model(),
        shipped_wide=shipped_wide_model(),
    output:
        report=report(
            "results/evaluation/{model}/report.md",
            caption="../report/evaluation.rst",
            category="5 Evaluation",
            labels={"model": "{model}", "file": "report"},
        ),
        metrics=report(
            "results/evaluation/{model}/metrics.csv",
            caption="../report/evaluation.rst",
            category="5 Evaluation",
            labels={"model": "{model}", "file": "metrics table"},
        ),
        figure=report(
            "results/evaluation/{model}/slices.png",
            caption="../report/evaluation_slices.rst",
            category="5 Evaluation",
            labels={"model": "{model}", "file": "slices"},
        ),
        calibration="results/model/{model}/best.calibration.json",
        **shipped_calibration(),
    params:
        patterns=held_out_patterns(),
        settings=without(config["evaluate"], "held_out_patterns", "shipped", "wide_gaps_px"),
        wide_gaps=config["evaluate"]["wide_gaps_px"],
        gap_widths=model_gap_widths,
        training_gap_widths=config["patches"]["gap_widths_px"],
        patch_size=config["patches"]["size"],
        seed=config["seed"],
    log:
        "logs/evaluate/{model}.log",
    benchmark:
        "benchmarks/evaluate/{model}.tsv"
    threads: 2
    resources:
        mem_mb=6000,
    conda:
        "../../envs/model.yaml"
    script:
        "../scripts/evaluate.py"


rule real_space:
    input:
        models=["results/model/{model}/best.keras", *shipped_model()],
        calibrations=["results/model/{model}/best.calibration.json", *shipped_calibration().values()],
        metrics="results/evaluation/{model}/metrics.csv",
        shards=folders_of(path for pair in real_space_patterns() for path in pair),
        measured=real_space_measured(),
    output:
        report=report(
            "results/evaluation/{model}/real_space.md",
            caption="../report/real_space.rst",
            category="0 Real space first",
            labels={"model": "{model}", "file": "real-space table"},
        ),
        table="results/evaluation/{model}/real_space.csv",
        figure=report(
            "results/evaluation/{model}/real_space.png",
            caption="../report/real_space.rst",
            category="0 Real space first",
            labels={"model": "{model}", "file": "real-space slices"},
        ),
        curves=report(
            "results/evaluation/{model}/real_space_errors.png",
            caption="../report/real_space.rst",
            category="0 Real space first",
            labels={"model": "{model}", "file": "error against iteration"},
        ),
    params:
        patterns=real_space_patterns(),
        settings=without(config["real_space"], "patterns", "measured"),
        seed=config["seed"],
    log:
        "logs/real_space/{model}.log",
    benchmark:
        "benchmarks/real_space/{model}.tsv"
    threads: 2
    resources:
        mem_mb=3000,
    conda:
        "../../envs/model.yaml"
    script:
        "../scripts/real_space.py"
