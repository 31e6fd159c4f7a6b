# Two entry points for a fresh machine with only Python 3.11+ and make:
#   make demo   runs the main job on data that ships with the install
#   make test   runs every test (lint included)
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: demo test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# The runtime only.
$(VENV)/.base: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

# Tests need torch; pin the CPU build (an unpinned torch pulls a multi-GB CUDA build).
$(VENV)/.dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q 'torch==2.13.0'
	$(BIN)/python -m pip install -q -e '.[dev,torch]'
	touch $(VENV)/.base $@

demo: $(VENV)/.base
	$(BIN)/relulab demo

test: $(VENV)/.dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest -q

bench: $(VENV)/.dev
	$(BIN)/python benchmarks/activations.py
	$(BIN)/python benchmarks/study.py

clean:
	rm -rf $(VENV) relulab.db relulab-report.html
