# The two commands of the quick start: `make demo` and `make test`.
# Each creates .venv when missing and installs what it needs from pyproject.toml.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --quiet --disable-pip-version-check

.PHONY: demo test lint typecheck unit bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed-base: pyproject.toml | $(PY)
	$(PIP) install -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(PY)
	$(PIP) install -e '.[test,ray]'
	touch $@

$(VENV)/.installed-bench: pyproject.toml | $(PY)
	$(PIP) install -e '.[test,bench,ray]'
	touch $@

demo: $(VENV)/.installed-base
	$(PY) -m batchbridge demo

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

typecheck: $(VENV)/.installed-test
	$(VENV)/bin/mypy --strict src/batchbridge

unit: $(VENV)/.installed-test
	$(PY) -m pytest

test: lint typecheck unit

bench: $(VENV)/.installed-bench
	$(PY) bench/patterns.py
	$(PY) bench/api.py
	$(PY) bench/dispatch.py --quick
	$(PY) bench/describe.py

clean:
	rm -rf $(VENV) build src/*.egg-info .mypy_cache .pytest_cache .ruff_cache .hypothesis
