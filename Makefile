# hiermovie: `make demo` runs the pipeline on the embedded benchmark, `make test` runs the tests.
# Both create .venv and install the exact versions of constraints.txt first. Stage targets depend on the files the
# previous stage writes (and on their own code), so a rerun redoes only what is stale.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HM := $(BIN)/hiermovie
# run folder (data, stage outputs, report), benchmark size (tiny | demo | full) and seed
RUN ?= runs/demo
SIZE ?= demo
SEED ?= 0
DATA := $(RUN)/data

.PHONY: claims setup demo test test-slow lint format bench bench-backbone bench-recipe table4 gpu-check clean data backbone extract txe ablate tasks export

setup: $(VENV)/.installed

# the exact versions of constraints.txt (pyproject.toml holds the ranges); torch first: its pin resolves
# to the local CPU build, a bare `torch` would pull a multi-GB CUDA build
PIP := $(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt
$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) torch
	$(PIP) -e ".[dev]"
	touch $@

demo: setup
	$(HM) demo --out $(RUN) --size $(SIZE) --seed $(SEED)

test: setup
	$(BIN)/python -m pytest -m "not slow" -q

test-slow: setup
	$(BIN)/python -m pytest -m slow -q

lint: setup
	$(BIN)/ruff check hiermovie tests bench
	$(BIN)/ruff format --check hiermovie tests bench

format: setup
	$(BIN)/ruff format hiermovie tests bench

bench: setup
	$(BIN)/python bench/bench_decode.py
	$(BIN)/python bench/bench_backbone_train.py
	$(BIN)/python bench/bench_extract.py
	$(BIN)/python bench/bench_txe_train.py
	$(BIN)/python bench/bench_queue_faiss.py
	$(BIN)/python bench/bench_txd_decoding.py

# stage 1 measured on the benchmark (docs/backbone.md, "Backbone pretraining on the benchmark"): the hand-made
# floors against the demo backbone on the Kinetics-style val clips
bench-backbone: $(RUN)/backbone/summary.json
	$(BIN)/python bench/bench_kinetics_baselines.py --benchmark $(DATA) --backbone $(RUN)/backbone/checkpoint.pt

# the tiny supervised recipe's time to 0.80 on the Kinetics-style val clips, before and now side by side (~20 min)
bench-recipe: $(DATA)/synth.json
	$(BIN)/python bench/bench_tiny_recipe.py --benchmark $(DATA) --out $(RUN)/bench_tiny_recipe

# Table 4 over backbone seeds, resumable and run in parts (TABLE4_SEEDS="0", then "1", then "2": about
# 40 minutes each on 2 cores); the table printed covers every seed saved in $(RUN)/table4
TABLE4_SEEDS ?= 0 1 2
table4: $(DATA)/synth.json
	$(BIN)/python bench/table4_backbones.py --benchmark $(DATA) --out $(RUN)/table4 --seeds $(TABLE4_SEEDS)

# the paper's claims measured on the measuring-size benchmark (docs/claims.md): table groups, each resumable
# alone, in this order: TABLES=3, then 5, 1, 2, 4 (default: all, in that order); groups share the benchmark,
# backbones, caches and TxEs, made by the first group that needs them. SIZE=full DEVICE=cuda is the same
# pipeline at the full size with the paper's seed counts (`hiermovie claims` defaults). On the eval size,
# fewer seeds than the paper's: 3 per SRL row (a run is ~43 s on 2 cores), 2 per LVU row and Table 2 cell
TABLES ?= all
CLAIMS_SIZE := $(if $(filter command line environment,$(origin SIZE)),$(SIZE),eval)
ifeq ($(CLAIMS_SIZE),full)
CLAIMS_SEEDS ?=
else
CLAIMS_SEEDS ?= --vidsitu-runs 10 --srl-runs 3 --lvu-runs 2 --grid-runs 2
endif
CLAIMS_OUT := runs/claims$(if $(filter eval,$(CLAIMS_SIZE)),,_$(CLAIMS_SIZE))
claims: setup
	$(HM) claims --out $(CLAIMS_OUT) --tables $(TABLES) --size $(CLAIMS_SIZE) --device $(or $(DEVICE),auto) \
		$(if $(REDO_STALE),--redo-stale) $(CLAIMS_SEEDS)

# one prepared script for a GPU machine (docs/performance.md); DEVICE=cpu runs it at toy size
gpu-check: setup
	$(BIN)/python bench/gpu_check.py --device $(or $(DEVICE),cuda) --out $(RUN)/gpu_check

clean:
	rm -rf runs

# ---------------------------------------------------------------- pipeline stages
stage_code = $(wildcard hiermovie/$(1)/*.py hiermovie/$(1)/*/*.py)

data: $(DATA)/synth.json
$(DATA)/synth.json: $(call stage_code,datasets) | setup
	$(HM) synth --out $(DATA) --size $(SIZE) --seed $(SEED) --force

backbone: $(RUN)/backbone/summary.json
$(RUN)/backbone/summary.json: $(DATA)/synth.json $(call stage_code,extract) $(call stage_code,video)
	$(HM) backbone pretrain --method supervised --profile tiny --data $(DATA)/kinetics/train --out $(RUN)/backbone

extract: $(RUN)/cache/manifest.json
$(RUN)/cache/manifest.json: $(RUN)/backbone/summary.json $(call stage_code,extract) $(call stage_code,video)
	$(HM) extract --backbone $(RUN)/backbone/checkpoint.pt --data $(DATA) --out $(RUN)/cache --profile tiny --stride 1

# TxE pretrains on the train splits only (paper sec. 4): VidSitu train clips and LVU train movies
TRAIN_VIDEOS := --data $(DATA) --vidsitu-split train --lvu-split train
txe: $(RUN)/txe/summary.json
$(RUN)/txe/summary.json: $(RUN)/cache/manifest.json $(call stage_code,contextualize) $(call stage_code,cache)
	$(HM) txe pretrain --cache $(RUN)/cache --out $(RUN)/txe --profile tiny $(TRAIN_VIDEOS)

ablate: $(RUN)/ablate/table.md
$(RUN)/ablate/table.md: $(RUN)/cache/manifest.json $(call stage_code,contextualize)
	$(HM) ablate --cache $(RUN)/cache --grid table2 --runs 3 --out $(RUN)/ablate --profile tiny $(TRAIN_VIDEOS)

tasks: $(RUN)/tasks/tables.md
$(RUN)/tasks/tables.md: $(RUN)/txe/summary.json $(call stage_code,tasks) hiermovie/verb_metrics.py
	$(HM) task all --cache $(RUN)/cache --data $(DATA) --txe $(RUN)/txe/checkpoint.pt --out $(RUN)/tasks --profile tiny --runs 5

export: $(RUN)/export/events.parquet
$(RUN)/export/events.parquet: $(RUN)/txe/summary.json
	$(HM) export --cache $(RUN)/cache --txe $(RUN)/txe/checkpoint.pt --format parquet --out $@
