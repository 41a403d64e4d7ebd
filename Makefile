# voxgate: `make run` serves the offline voice agent; `make test` runs what CI runs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install dev run test lint typecheck pytest bench bench-webrtc clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# pipecat-ai only for the Smart Turn model file it ships (semantic_vad): voxgate never imports
# pipecat, so none of its dependencies (numba, resampy, ...) are needed
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	$(BIN)/pip install --quiet --no-deps 'pipecat-ai==1.14.0'
	touch $@

$(VENV)/.dev-installed: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[dev,autogen,otel]'
	touch $@

install: $(VENV)/.installed

dev: $(VENV)/.dev-installed

run: install
	$(BIN)/voxgate serve --host $(HOST) --port $(PORT)

lint: dev
	$(BIN)/ruff format --check src tests
	$(BIN)/ruff check src tests

typecheck: dev
	$(BIN)/mypy

pytest: dev
	$(BIN)/python -m pytest -q

test: lint typecheck pytest

bench: install
	$(BIN)/voxgate bench latency

bench-webrtc: install
	$(BIN)/voxgate bench webrtc --sessions 30

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
