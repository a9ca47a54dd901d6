# Two commands for a new machine with Python 3.11 and make:
#   make demo   the example DAG against the local AEP emulator: run summary and exported files
#   make test   lint, type-check and the whole test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DESTINATION ?= amazon_s3

.PHONY: install test unit lint demo emulator bench docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip uv

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[dev,emulator]'
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/mypy benchmarks

test: lint
	$(BIN)/pytest

unit: $(STAMP)
	$(BIN)/pytest tests/unit

demo: $(STAMP)
	$(BIN)/python -m aep_emulator.demo --destination $(DESTINATION)

emulator: $(STAMP)
	$(BIN)/aep-emulator --host 127.0.0.1 --port 8765

bench: $(STAMP)
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[dev,emulator,bench]'
	$(BIN)/python benchmarks/run_all.py

docs: $(STAMP)
	AEP_WRITE_DOCS=1 $(BIN)/pytest -q tests/integration/test_bad_input.py -k docs_table

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
