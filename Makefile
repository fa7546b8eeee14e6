# Two commands matter: `make demo` (CPU demo end to end) and `make test` (what CI runs).
# Both create or reuse .venv and install the pinned environment (envs/requirements.txt) first.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.memgen-installed
CORES ?= 2
# pytest-xdist workers of `make test` (0: one process); a module's tests stay on one worker.
TEST_WORKERS ?= 2
DEMO_CONFIG := workflow/configs/demo.yaml
export MEMGEN_THREADS ?= 1
# Jobs call `memgen`: put the venv first on PATH for every recipe.
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: install demo test test-slow test-slurm lint bench dry-run report clean-demo help

help:
	@echo "make demo       CPU demo (circle + digits) end to end -> results/demo/"
	@echo "make test       tests (not slow) + snakemake --lint + snakefmt --check + ruff"
	@echo "make test-slow  the slow tests (trained-network patterns, demo signature)"
	@echo "make test-slurm the real-SLURM integration tests, miniature paper runs included (root + apt: starts a private one-node cluster)"
	@echo "make bench      benchmarks (printed ratios; record them in benchmarks/RESULTS.md)"
	@echo "make report     HTML report of the demo run"

install: $(STAMP)

$(STAMP): envs/requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r envs/requirements.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) --configfile $(DEMO_CONFIG) --rerun-incomplete --printshellcmds
	@echo "Figures: results/demo/figures/   Report: make report"

report: $(STAMP)
	$(BIN)/snakemake --cores 1 --configfile $(DEMO_CONFIG) --report results/demo/report.zip

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/snakefmt --check Snakefile workflow/
	$(BIN)/snakemake --lint --configfile $(DEMO_CONFIG)

test: $(STAMP)
	$(BIN)/python -m pytest -q -ra --durations=15 -n $(TEST_WORKERS) --dist loadfile
	$(MAKE) --no-print-directory lint

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -ra -m slow --durations=15

test-slurm: $(STAMP)
	MEMGEN_SLURM_TEST=1 $(BIN)/python -m pytest -q -ra -m slurm tests/test_slurm_cluster.py

bench: $(STAMP)
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

dry-run: $(STAMP)
	$(BIN)/snakemake -n --configfile $(DEMO_CONFIG)

clean-demo:
	rm -rf results/demo
