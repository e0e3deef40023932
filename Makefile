# Every target bootstraps .venv on first use, so a fresh clone needs only Python 3.11+ and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help test lint format typecheck demo bench coverage clean

help:
	@echo "make demo       run the demo (a deadline and retries working)"
	@echo "make test       run the whole test suite"
	@echo "make lint       ruff check and format check"
	@echo "make typecheck  mypy --strict on src and tests/typing"
	@echo "make bench      run the benchmarks"
	@echo "make coverage   run the tests with branch coverage"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=25.1"
	$(BIN)/python -m pip install --quiet -e . --group dev
	@touch $(STAMP)

# `make test COVERAGE=1` runs the same suite under branch coverage and reports it (CI does).
test: $(STAMP)
ifdef COVERAGE
	$(BIN)/python -m coverage run -m pytest $(PYTEST_ARGS)
	$(BIN)/python -m coverage report
else
	$(BIN)/python -m pytest $(PYTEST_ARGS)
endif

coverage:
	$(MAKE) test COVERAGE=1

lint: $(STAMP)
	$(BIN)/ruff check src tests examples
	$(BIN)/ruff format --check src tests examples

format: $(STAMP)
	$(BIN)/ruff check --fix src tests examples
	$(BIN)/ruff format src tests examples

typecheck: $(STAMP)
	$(BIN)/mypy

demo: $(STAMP)
	$(BIN)/python examples/demo.py

bench: $(STAMP)
	@echo "The benchmarks arrive with the benchmarks issue; nothing to measure yet."

clean:
	rm -rf $(VENV) build dist .mypy_cache .ruff_cache .coverage
