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
	@$(PY) scripts/run_banner.py
	@exec $(BIN)/honcho --env /dev/null --procfile Procfile start

# Python files django-upgrade looks at (migrations stay as they were written).
UPGRADE_FILES = $(shell find api authflow console portal restore sandbox tests bench scripts \
	-name '*.py' -not -path '*/migrations/*' -not -path '*/__pycache__/*')

test: $(VENV)/.test-installed
	$(PY) scripts/test_prerequisites.py
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@echo "$(BIN)/django-upgrade --target-version 6.1 --check <python files but migrations>"
	@$(BIN)/django-upgrade --target-version 6.1 --check $(UPGRADE_FILES)
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/pytest

# The pre-commit hooks (.pre-commit-config.yaml) on every file: ruff and ruff format
# (fixing), django-upgrade (rewriting), import-linter, mypy. Outside a git checkout, the same
# tools directly.
lint: $(VENV)/.test-installed
	@if git rev-parse --git-dir >/dev/null 2>&1; then \
		$(BIN)/pre-commit run --all-files; \
	else \
		$(BIN)/ruff check --fix . && $(BIN)/ruff format . \
		&& $(BIN)/django-upgrade --target-version 6.1 $(UPGRADE_FILES) \
		&& $(BIN)/lint-imports && $(BIN)/mypy; \
	fi

# Refresh the pinned versions after changing dependencies in pyproject.toml.
lock: $(PY)
	$(PY) -m pip install --quiet --upgrade -e '.[dev]'
	$(PY) -m pip freeze --exclude-editable | grep -v '^-e' > requirements.lock
