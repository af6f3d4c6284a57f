# The two commands of the README: `make serve` and `make test`.
# Everything the project needs is installed from pyproject.toml into .venv.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.install-stamp

.PHONY: install serve test lint typecheck unit clean

install: $(STAMP)

# pip prints one line per package (no --quiet): a first install takes about a
# minute and should not look hung.
$(STAMP): pyproject.toml
	@echo "== creating $(VENV) and installing tidings with its dependencies"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade --progress-bar off pip
	$(BIN)/python -m pip install --progress-bar off -e ".[dev]"
	touch $(STAMP)
	@echo "== installed; the virtualenv is $(VENV)"

serve: install
	$(BIN)/tidings serve $(ARGS)

lint: install
	$(BIN)/ruff check src tests
	$(BIN)/mypy

unit: install
	$(BIN)/pytest $(PYTEST_ARGS)

test: lint unit

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
