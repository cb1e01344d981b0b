# The README's commands. Each target sets itself up on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CONFIG ?=

.PHONY: install test lint run demo bench docker-check clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,lint]'
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check sftp_watcher tests bench
	$(BIN)/ruff format --check sftp_watcher tests bench
	$(BIN)/mypy

# The service on its embedded defaults: a local folder tree under var/demo,
# SQLite state, .eml files instead of mail, Phonon in dry run. Ctrl-C stops it.
run: $(STAMP)
	$(BIN)/sftp-watcher run --embedded

demo: $(STAMP)
	$(BIN)/sftp-watcher demo

bench: $(STAMP)
	$(BIN)/python -m bench

# Builds the Docker image and smoke-tests it (start, /healthz, SIGTERM exits 0); needs root
# or a Docker engine, and Debian's docker.io and debootstrap where no registry is reachable.
docker-check:
	bash deploy/docker/check.sh

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
