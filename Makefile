# Two commands for a new machine with Python 3.11 and make:
#   make demo   the example DAG against the local AEP emulator: run summary and exported files
#   make test   lint, type-check and the whole test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DESTINATION ?= amazon_s3
# The Airflow release line the venv is built on: constraints/airflow-$(AIRFLOW_LINE).txt.
AIRFLOW_LINE ?= 3.3
CONSTRAINTS := constraints/airflow-$(AIRFLOW_LINE).txt

.PHONY: install system-deps test unit lint demo demo-daily emulator bench docs docs-check clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip uv

# The emulator is its own distribution (aep_emulator/pyproject.toml): named first, its folder is
# what the `emulator` extra's `aep-emulator` resolves to, never a package index.
INSTALL := $(BIN)/uv pip install --quiet --python $(BIN)/python -c $(CONSTRAINTS) -e ./aep_emulator

$(STAMP): $(BIN)/python pyproject.toml aep_emulator/pyproject.toml $(CONSTRAINTS)
	$(INSTALL) -e '.[dev,emulator,docs,openlineage]'
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/mypy benchmarks
	$(MAKE) --no-print-directory docs-check

# From Debian, when missing and apt-get can install them: chromium for the browser tests
# (tests/ui; Playwright never downloads a browser), postgresql and redis-server for the
# distributed suite (tests/distributed). Elsewhere those tests skip, saying why.
system-deps:
	@MISSING=; \
	[ -x /usr/bin/chromium ] || MISSING="$$MISSING chromium"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || MISSING="$$MISSING postgresql"; \
	command -v redis-server >/dev/null || [ -x /usr/bin/redis-server ] || MISSING="$$MISSING redis-server"; \
	if [ -n "$$MISSING" ] && command -v apt-get >/dev/null; then \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO="sudo -n"; fi; \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq $$MISSING \
			|| echo "$$MISSING could not be installed: the tests that need them will be skipped"; \
	fi

test: system-deps lint
	$(BIN)/pytest

unit: $(STAMP)
	$(BIN)/pytest tests/unit

demo: $(STAMP)
	$(BIN)/python -m aep_emulator.demo --destination $(DESTINATION)

# Two days of the daily pattern in a real Airflow: monitor the flow, assets start the loads.
demo-daily: $(STAMP)
	$(BIN)/python -m aep_emulator.demo_daily

emulator: $(STAMP)
	$(BIN)/aep-emulator --host 127.0.0.1 --port 8765

bench: system-deps $(STAMP)
	$(INSTALL) -e '.[dev,emulator,docs,bench]'
	$(BIN)/python benchmarks/run_all.py

# docs/bad-input.md from the bad-input catalogue and the destination pages' generated blocks
# from the catalog, then the HTML site in docs/_build/html.
docs: $(STAMP)
	AEP_WRITE_DOCS=1 $(BIN)/pytest -q tests/integration/test_bad_input.py -k docs_table
	AEP_WRITE_DOCS=1 $(BIN)/pytest -q tests/unit/test_destination_docs.py
	$(BIN)/sphinx-build -W --keep-going -b html docs docs/_build/html

# The Sphinx build alone, from scratch, warnings as errors (part of lint, so of make test).
docs-check: $(STAMP)
	$(BIN)/sphinx-build -W --keep-going -E -q -b html docs docs/_build/html

# The README's screenshots (docs/images/), taken by the browser tests from a live Airflow.
.PHONY: screenshots
screenshots: $(STAMP)
	@test -x /usr/bin/chromium || { echo "screenshots need Debian's chromium: apt-get install chromium"; exit 1; }
	AEP_WRITE_SCREENSHOTS=1 $(BIN)/pytest -q tests/ui

# The sdists and the wheels of both distributions in $(DIST): the provider's (airflow_provider_aep
# only) and the emulator's (aep_emulator/). One folder, because they are released together: the
# provider's `emulator` extra names the emulator's version, so `twine upload dist/*` publishes
# the pair. Each wheel is built from its sdist, so the sdist is complete; then all four are
# checked as a package index reads them (twine check: metadata, README rendering).
# tests/integration/test_wheel.py builds them so, into a scratch DIST, and installs the wheels.
DIST ?= dist
.PHONY: dist
dist: $(STAMP)
	rm -rf $(DIST)
	$(BIN)/uv build --quiet --python $(BIN)/python --out-dir $(DIST)
	$(BIN)/uv build --quiet --python $(BIN)/python --out-dir $(DIST) aep_emulator
	$(BIN)/twine check --strict $(DIST)/*

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info aep_emulator/*.egg-info

# Every Airflow line the package claims, newest patch of each, each in its venv (.venv-X.Y, or
# .venv when it is on that line) built with uv and constraints/airflow-X.Y.txt: the provider
# info under that Airflow's schema, tests/unit, the demo and the deferral test (.ci/matrix).
# `make test` runs the oldest and the newest line (MATRIX_CI_LINES).
MATRIX_LINES ?= 3.0 3.1 3.2 3.3
MATRIX_CI_LINES ?= 3.0 $(AIRFLOW_LINE)
.PHONY: test-matrix test-matrix-ci
test-matrix: $(STAMP)
	PYTHON=$(PYTHON) .ci/matrix $(MATRIX_LINES)
# On the main venv's line only what make test's own pytest run does not cover.
test-matrix-ci: $(STAMP)
	PYTHON=$(PYTHON) MATRIX_MAIN_VENV_LEGS="provider-info demo" .ci/matrix $(MATRIX_CI_LINES)
test: test-matrix-ci
.PHONY: clean-matrix
clean-matrix:
	rm -rf .venv-3.* .matrix-logs
clean: clean-matrix
