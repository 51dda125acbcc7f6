# The two commands of the README: `make run` and `make test`. Everything else is a helper.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python

.PHONY: help run test lint format lock

help:
	@echo "make run    run the demo portal at http://127.0.0.1:8000 (Ctrl-C stops it)"
	@echo "make test   lint and run the whole test suite against PostgreSQL and Redis"

$(PY):
	@scripts/make-venv $(VENV)

# Reinstall only when the dependencies change, so a second `make run` starts at once.
$(VENV)/.run-installed: pyproject.toml requirements.lock | $(PY)
	$(PY) -m pip install --quiet --disable-pip-version-check -c requirements.lock -e .
	@touch $@

$(VENV)/.test-installed: pyproject.toml requirements.lock $(VENV)/.run-installed
	$(PY) -m pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[dev]'
	@touch $@

run: $(VENV)/.run-installed
	$(PY) manage.py migrate --noinput
	@# A demo from before encryption at rest: seal its plaintext blobs (nothing to do after).
	$(PY) manage.py encrypt_blobs
	$(PY) manage.py seed_demo
	@echo "Lifeboat is starting at http://127.0.0.1:8000 (Ctrl-C stops everything)"
	@exec $(BIN)/honcho --env /dev/null --procfile Procfile start

test: $(VENV)/.test-installed
	$(PY) scripts/test_prerequisites.py
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest

lint: $(VENV)/.test-installed
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Refresh the pinned versions after changing dependencies in pyproject.toml.
lock: $(PY)
	$(PY) -m pip install --quiet --upgrade -e '.[dev]'
	$(PY) -m pip freeze --exclude-editable | grep -v '^-e' > requirements.lock
