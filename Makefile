# The two things a newcomer runs: `make demo` and `make test`. Both build the virtual
# environment in .venv first (Python >= 3.11 and make are all they need).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# Kubeflow Pipelines' SDK pins an older Kubernetes client than the controller needs: the
# pipeline tests run it from an environment of its own, with hpo-gen and its trainers.
KFP_VENV := .venv-kfp
KFP_STAMP := $(KFP_VENV)/.installed-stamp

.PHONY: venv demo test lint golden

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(KFP_STAMP): pyproject.toml
	$(PYTHON) -m venv $(KFP_VENV)
	$(KFP_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(KFP_VENV)/bin/python -m pip install --quiet -e '.[pipelines,trainers]'
	touch $(KFP_STAMP)

venv: $(STAMP)

demo: venv
	scripts/demo

lint: venv
	$(BIN)/ruff check generator controller trainers spec tests bench pipelines
	$(BIN)/ruff format --check generator controller trainers spec tests bench pipelines
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint $(KFP_STAMP)
	$(BIN)/pytest

golden: venv
	$(BIN)/pytest tests/generator/test_render.py --update-golden
