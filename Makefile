# Developer entry points. `make test` is the README's test command and what .ci/run runs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean system-deps

DEMO_PRD ?= examples/prd/marketplace_payouts.md
DEMO_OUT ?= build/marketplace_payouts

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

system-deps:
	@scripts/ensure-system-deps.sh

## demo: install into .venv, generate the example PRD's service (4 nodes, verified) into build/, run its tests
## (-p no:asyncio: the generated service needs only pytest; .venv's pytest-asyncio would only warn)
demo: $(STAMP)
	$(BIN)/agents generate $(DEMO_PRD) --out $(DEMO_OUT) --force
	cd $(DEMO_OUT) && $(abspath $(BIN))/python -m pytest -q -p no:cacheprovider -p no:asyncio

## test: install into .venv what the tests need, check style and types, run the whole suite
test: system-deps $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -n 2 --dist loadgroup

## lint: only the static checks (style, types, the layers contract of docs/architecture.md)
lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

## bench: run the benchmarks and print their tables (about 10 minutes; each script also takes --quick)
## The scripts after the logging one exit 1 when a target is missed; every script still runs, then make fails.
bench: $(STAMP)
	$(BIN)/python bench/bench_logging.py
	status=0; \
	$(BIN)/python bench/bench_template_cache.py || status=1; \
	$(BIN)/python bench/bench_persistence.py --big || status=1; \
	$(BIN)/python bench/bench_render.py || status=1; \
	$(BIN)/python bench/bench_parallel.py || status=1; \
	$(BIN)/python bench/bench_monitoring.py || status=1; \
	$(BIN)/python bench/bench_events.py || status=1; \
	$(BIN)/python bench/bench_patterns.py || status=1; \
	$(BIN)/python bench/bench_mixins.py || status=1; \
	exit $$status

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist
