# Trialsite: the two commands (make run, make test) and the benchmark (make bench).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000

# One stamp per set installed, named by the checksum of its files: the runtime (requirements.txt) and the
# runtime plus the tools (requirements.txt and requirements-dev.txt). Installing the tools installs the runtime too.
RUNTIME_STAMP := $(VENV)/.installed-runtime-$(shell cat requirements.txt | cksum | cut -d' ' -f1)
DEV_STAMP := $(VENV)/.installed-dev-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)

.PHONY: run test bench lint venv venv-dev browser axe clean

venv: $(RUNTIME_STAMP)
venv-dev: $(DEV_STAMP)

define make_venv
@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11) and "Python 3.11 is required (found %s)" % sys.version.split()[0])'
test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
$(BIN)/python -m pip install --quiet --upgrade pip
endef

$(RUNTIME_STAMP): requirements.txt
	$(make_venv)
	$(BIN)/python -m pip install --quiet -r requirements.txt
	rm -f $(VENV)/.installed-runtime-* && touch $(RUNTIME_STAMP)

$(DEV_STAMP): requirements.txt requirements-dev.txt
	$(make_venv)
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	rm -f $(VENV)/.installed-* && touch $(DEV_STAMP) $(RUNTIME_STAMP)

## make run: install the runtime, migrate, load the BPD protocol and demo data, serve on http://127.0.0.1:$(PORT)
run: venv
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py load_ctcae
	$(BIN)/python manage.py collectstatic --noinput -v0
	$(BIN)/python manage.py seed_demo --demo
	@echo "Trialsite on http://127.0.0.1:$(PORT)/  (Ctrl-C to stop)"
	$(BIN)/python manage.py runserver 127.0.0.1:$(PORT)

# The suite runs in one process per core (pytest-xdist, at most 4), a test file per process at a time (module and class
# fixtures such as the seeded demo are built once); each process has its own test database (test_<name>_gw0, ...).
# PYTEST_PARALLEL= runs it in one process.
PYTEST_PARALLEL ?= -n auto --maxprocesses 4 --dist loadfile

## make test: lint, migration check, architecture check, types, the whole suite (incl. browser journeys)
## (mypy checks the pure rule modules listed in pyproject.toml's [tool.mypy] files)
test: venv-dev browser axe
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/python -m pytest $(PYTEST_PARALLEL) $(PYTEST_ARGS)

lint: venv-dev
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/lint-imports && $(BIN)/mypy

## make browser: Debian's Chromium for the Playwright journeys (installed when missing and we are root)
browser:
	@bash scripts/ensure-chromium

## make axe: axe-core (the accessibility checks the every-page journey injects) from the npm registry into .cache/axe
## (git-ignored); pinned, installed once, never fetched at run time and never from a CDN
AXE_VERSION := 4.10.3
AXE_JS := .cache/axe/node_modules/axe-core/axe.min.js
axe: $(AXE_JS)

$(AXE_JS):
	@command -v npm >/dev/null || { echo "make axe: npm is missing (the every-page journey needs axe-core from the npm registry): apt-get install npm" >&2; exit 1; }
	npm install --silent --no-save --no-audit --no-fund --prefix .cache/axe axe-core@$(AXE_VERSION)
	@test -f $(AXE_JS) && echo "axe-core $(AXE_VERSION) in $(AXE_JS)"

## make bench: the figures in docs/benchmarks.md
bench: venv-dev
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .cache/axe db.sqlite3 test_db.sqlite3* staticfiles .pytest_cache .ruff_cache .mypy_cache
