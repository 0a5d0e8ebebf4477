# Trialsite: the two commands (make run, make test) and the benchmark (make bench).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
STAMP := $(VENV)/.installed-$(shell cat requirements.txt | cksum | cut -d' ' -f1)

.PHONY: run test bench lint venv browser clean

venv: $(STAMP)

$(STAMP): requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11) and "Python 3.11 is required (found %s)" % sys.version.split()[0])'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	rm -f $(VENV)/.installed-* && touch $(STAMP)

## make run: install, migrate, load the BPD protocol and demo data, serve on http://127.0.0.1:$(PORT)
run: venv
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput -v0
	$(BIN)/python manage.py seed_demo --demo
	@echo "Trialsite on http://127.0.0.1:$(PORT)/  (Ctrl-C to stop)"
	$(BIN)/python manage.py runserver 127.0.0.1:$(PORT)

## make test: lint, migration check, architecture check, the whole suite (incl. browser journeys)
test: venv browser
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/lint-imports
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/lint-imports

## make browser: Debian's Chromium for the Playwright journeys (installed when missing and we are root)
browser:
	@bash scripts/ensure-chromium

## make bench: the figures in docs/benchmarks.md
bench: venv
	$(BIN)/python scripts/bench.py

clean:
	rm -rf $(VENV) db.sqlite3 test_db.sqlite3* staticfiles .pytest_cache .ruff_cache
