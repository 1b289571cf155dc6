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

.PHONY: all setup run dry-run report test docs bench pretrain ship pretrain-wide ship-wide clean

all: run

# The package and the workflow's dependencies: what `make` needs.
$(BIN)/snakemake: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $@

# The tools of `make test` and `make docs` besides (pytest, ruff, the tests' references, Sphinx).
$(VENV)/.test-docs: $(BIN)/snakemake
	$(BIN)/python -m pip install --quiet -e ".[test,docs]"
	touch $@

setup: $(BIN)/snakemake

run: setup
	$(CHECK_CONFIG) $(BIN)/snakemake --cores $(CORES) $(CONFIG_ARGS)

dry-run: setup
	$(CHECK_CONFIG) $(BIN)/snakemake -n $(CONFIG_ARGS)

# A self-contained HTML page of the run's figures and tables (after `make`).
report: setup
	$(BIN)/snakemake --report results/report.html

test: $(VENV)/.test-docs
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -n $(CORES) --dist loadfile

# The documentation site (docs/, Sphinx) into docs/_build/html; a warning is an error.
docs: $(VENV)/.test-docs
	$(BIN)/sphinx-build -W --keep-going -b html docs docs/_build/html

# The shipped model's recipe (about 2 hours on 2 cores; rerun after an interruption to resume), then
# `make ship` copies the model and its card into src/braggsynth/models/. It starts from the weights of the
# model shipped at $(INITIAL_COMMIT) (train.initial_model), taken from git so that a rerun starts from the same.
INITIAL_COMMIT := e9e04c6b4acbeaea95cbd6ab28fa81769b41e3cd
# runs/<run>/initial.keras from src/braggsynth/models/<file> at <commit>, once: $(call initial_model,run,commit,file)
initial_model = test -s runs/$(1)/initial.keras || { git show $(2):src/braggsynth/models/$(3) \
	> runs/$(1)/.initial.keras.part && mv runs/$(1)/.initial.keras.part runs/$(1)/initial.keras; }
pretrain: setup
	mkdir -p runs/pretrain
	cp config/pretrain.yaml runs/pretrain/config.yaml
	$(call initial_model,pretrain,$(INITIAL_COMMIT),inpainting.keras)
	cd runs/pretrain && ../../$(BIN)/snakemake -s ../../Snakefile --cores $(CORES) --rerun-incomplete \
		results/dataset/card.md results/realism/report.md results/evaluation/all/report.md \
		results/evaluation/all/real_space.md

ship:
	$(BIN)/python -m braggsynth.report.modelcard runs/pretrain

# The wide-gap model (64^3 windows, EIGER's 38-41 px module gaps): same simulation as `pretrain`, whose
# relaxed particles it links (hard links; files are only ever replaced whole) when that run has them and the
# two recipes agree up to peaks:. Warm start from the wide model shipped at $(INITIAL_WIDE_COMMIT).
INITIAL_WIDE_COMMIT := 9db5c3f6a62e16730615fabe6fba81c50aa435d0
pretrain-wide: setup
	mkdir -p runs/pretrain-wide
	cp config/pretrain_wide.yaml runs/pretrain-wide/config.yaml
	$(call initial_model,pretrain-wide,$(INITIAL_WIDE_COMMIT),inpainting_wide.keras)
	sed -n '/^seed:/,/^peaks:/p' config/pretrain.yaml > runs/pretrain-wide/.narrow && \
		sed -n '/^seed:/,/^peaks:/p' config/pretrain_wide.yaml > runs/pretrain-wide/.wide
	if cmp -s runs/pretrain-wide/.narrow runs/pretrain-wide/.wide && test -d runs/pretrain/results/relaxed \
		&& ! test -d runs/pretrain-wide/results/relaxed; then mkdir -p runs/pretrain-wide/results && \
		cp -al runs/pretrain/results/particles runs/pretrain/results/relaxed runs/pretrain-wide/results/; fi
	rm -f runs/pretrain-wide/.narrow runs/pretrain-wide/.wide
	cd runs/pretrain-wide && ../../$(BIN)/snakemake -s ../../Snakefile --cores $(CORES) --rerun-incomplete \
		results/dataset/card.md results/evaluation/all/report.md

ship-wide:
	$(BIN)/python -m braggsynth.report.modelcard runs/pretrain-wide --to src/braggsynth/models/inpainting_wide.keras \
		--recipe config/pretrain_wide.yaml

bench: setup
	$(BIN)/python benchmarks/bench_particles.py

clean:
	rm -rf results logs benchmarks/*/ .snakemake
