# The two things a newcomer runs: `make demo` and `make test`. Both build the virtual
# environment in .venv first (Python >= 3.11 and make are all they need).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: venv demo test lint golden

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

demo: venv
	scripts/demo

lint: venv
	$(BIN)/ruff check generator controller trainers spec tests bench
	$(BIN)/ruff format --check generator controller trainers spec tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint
	$(BIN)/pytest

golden: venv
	$(BIN)/pytest tests/generator/test_render.py --update-golden
