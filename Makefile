# Every target bootstraps .venv on first use, so a fresh clone needs only Python 3.11+ and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help test lint format typecheck demo bench bench-quick bench-instructions bench-opcodes coverage clean

help:
	@echo "make demo       stalwart demo: a naive client and stalwart against the same faults"
	@echo "make test       run the whole test suite"
	@echo "make lint       ruff check and format check"
	@echo "make typecheck  mypy --strict on src and tests/typing"
	@echo "make bench      the benchmarks, against tenacity, stamina, backoff, httpx-retries"
	@echo "make bench-quick  every benchmark at a small size (under a minute)"
	@echo "make bench-instructions  CPU instructions per loopback GET, httpx vs stalwart (valgrind)"
	@echo "make bench-opcodes  where the overhead goes: bytecodes per GET, function by function"
	@echo "make coverage   run the tests with branch coverage"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=25.1"
	$(BIN)/python -m pip install --quiet -e '.[cli]' --group dev
	@touch $(STAMP)

# The libraries the benchmarks compare against live in their own dependency group.
BENCH_STAMP := $(VENV)/.bench-installed
$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet --group bench
	@touch $(BENCH_STAMP)

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
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

format: $(STAMP)
	$(BIN)/ruff check --fix src tests benchmarks
	$(BIN)/ruff format src tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

demo: $(STAMP)
	$(BIN)/stalwart demo

bench: $(BENCH_STAMP)
	$(BIN)/python -m benchmarks

bench-quick: $(BENCH_STAMP)
	$(BIN)/python -m benchmarks --quick

bench-instructions: $(STAMP)
	$(BIN)/python -m benchmarks.instructions

bench-opcodes: $(BENCH_STAMP)
	$(BIN)/python -m benchmarks.opcodes

clean:
	rm -rf $(VENV) build dist .mypy_cache .ruff_cache .coverage
