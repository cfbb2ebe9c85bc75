# household-risk-monitor: every target does its own set-up from a fresh clone.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.DEFAULT_GOAL := help
.PHONY: help install run test test-unit test-kafka lint typecheck check bench bench-full bench-scale bench-scale-pooled bench-reuse bench-late soak clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-11s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP) ## create .venv and install the project with its dev tools

run: $(STAMP) ## the main job: embedded run on the bundled fixtures, summary printed, outputs in out/
	$(BIN)/monitor run --out out

test: $(STAMP) ## the whole suite, with a real Kafka broker started and stopped around it
	scripts/run-tests

test-unit: $(STAMP) ## the tests that need no broker
	$(BIN)/python -m pytest -m "not kafka and not soak" -q

test-kafka: $(STAMP) ## only the real-broker tests
	scripts/run-tests -m kafka

lint: $(STAMP) ## ruff
	$(BIN)/ruff check monitor indicators tests bench

typecheck: $(STAMP) ## mypy on the package
	$(BIN)/mypy

check: $(STAMP) ## validate rules.yaml and the indicator catalogue
	$(BIN)/monitor check

bench: $(STAMP) ## benchmarks, quick size (see BENCHMARKS.md)
	$(BIN)/python -m bench --size quick

bench-full: $(STAMP) ## benchmarks, full size (1M households; takes long)
	$(BIN)/python -m bench --size full

bench-scale: $(STAMP) ## the complete embedded run of 1M households (about 80 min)
	$(BIN)/python -m bench --size scale --only embedded --out bench/results/scale.json

bench-scale-pooled: $(STAMP) ## the same 1M run with monitor run's default --jobs (a pool of processes)
	$(BIN)/python -m bench --size scale-pooled --only embedded --out bench/results/scale-pooled.json

bench-reuse: $(STAMP) ## how many indicator evaluations an incremental engine could skip, and why the rest change
	$(BIN)/python -m bench.reuse --out bench/results/reuse.json

bench-late: $(STAMP) ## what late events cost: rescored from just before them, against a full replay
	$(BIN)/python -m bench.late --out bench/results/late.json

soak: $(STAMP) ## long fault-injection runs (see RELIABILITY.md)
	scripts/run-tests -m soak --run-soak

clean: ## remove outputs, caches and the broker's data (keeps the venv and the jars)
	rm -rf out .pytest_cache .mypy_cache .ruff_cache .kafka/run
