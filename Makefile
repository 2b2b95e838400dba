# Developer entry points. `make test` is the README's test command and what .ci/run runs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test lint bench clean system-deps

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

system-deps:
	@scripts/ensure-system-deps.sh

## test: install into .venv what the tests need, check style and types, run the whole suite
test: system-deps $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/python -m pytest -n 2 --dist loadgroup

## lint: only the static checks
lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

## bench: run the benchmarks and print their tables
bench: $(STAMP)
	$(BIN)/python bench/bench_logging.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist
