# braggsynth: `make` sets up .venv and runs the default pipeline; `make test` runs the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CORES ?= 2
# `make run CONFIGFILE=mine.yaml`: the run of a config file of your own, checked first (Snakemake's own reading of
# a --configfile names neither the file nor the line of a YAML error).
CONFIGFILE ?=
CONFIG_ARGS = $(if $(CONFIGFILE),--configfile "$(CONFIGFILE)")
CHECK_CONFIG = $(if $(CONFIGFILE),$(BIN)/python -m braggsynth.config "$(CONFIGFILE)" &&)

.PHONY: all setup run dry-run report test bench pretrain ship pretrain-wide ship-wide clean

all: run

$(BIN)/snakemake: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

setup: $(BIN)/snakemake

run: setup
	$(CHECK_CONFIG) $(BIN)/snakemake --cores $(CORES) $(CONFIG_ARGS)

dry-run: setup
	$(CHECK_CONFIG) $(BIN)/snakemake -n $(CONFIG_ARGS)

# A self-contained HTML page of the run's figures and tables (after `make`).
report: setup
	$(BIN)/snakemake --report results/report.html

test: setup
	$(BIN)/python -m pytest -q

# The shipped model's recipe (about 2 hours on 2 cores; rerun after an interruption to resume), then
# `make ship` copies the model and its card into src/braggsynth/models/. It starts from the weights of the
# model shipped at $(INITIAL_COMMIT) (train.initial_model), taken from git so that a rerun starts from the same.
INITIAL_COMMIT := b97ab5c248b84eb26035a4ef46285cbc8fcda74d
pretrain: setup
	mkdir -p runs/pretrain
	cp config/pretrain.yaml runs/pretrain/config.yaml
	test -s runs/pretrain/initial.keras || { git show $(INITIAL_COMMIT):src/braggsynth/models/inpainting.keras \
		> runs/pretrain/.initial.keras.part && mv runs/pretrain/.initial.keras.part runs/pretrain/initial.keras; }
	cd runs/pretrain && ../../$(BIN)/snakemake -s ../../Snakefile --cores $(CORES) --rerun-incomplete \
		results/dataset/card.md results/evaluation/all/report.md

ship:
	$(BIN)/python -m braggsynth.modelcard runs/pretrain

# The wide-gap model (64^3 windows, EIGER's 38-41 px module gaps): same simulation as `pretrain`.
pretrain-wide: setup
	mkdir -p runs/pretrain-wide
	cp config/pretrain_wide.yaml runs/pretrain-wide/config.yaml
	cd runs/pretrain-wide && ../../$(BIN)/snakemake -s ../../Snakefile --cores $(CORES) --rerun-incomplete \
		results/dataset/card.md results/evaluation/all/report.md

ship-wide:
	$(BIN)/python -m braggsynth.modelcard runs/pretrain-wide --to src/braggsynth/models/inpainting_wide.keras \
		--recipe config/pretrain_wide.yaml

bench: setup
	$(BIN)/python benchmarks/bench_particles.py

clean:
	rm -rf results logs benchmarks/*/ .snakemake
