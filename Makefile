# CNN Explorer: `make run` serves the app, `make test` runs every check (lint, unit, AppTest, browser).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q

.PHONY: run test lint unit browser bench clean chromium screenshots

$(PY):
	$(PYTHON) -m venv $(VENV)

# The project installs as a package (editable), so bench/ and tests import explorer without path tricks.
$(VENV)/.installed: requirements.txt pyproject.toml | $(PY)
	$(PIP) install -r requirements.txt
	$(PIP) install --no-deps --no-build-isolation -e .
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt pyproject.toml | $(PY)
	$(PIP) install -r requirements-dev.txt
	$(PIP) install --no-deps --no-build-isolation -e .
	touch $(VENV)/.installed $@

run: $(VENV)/.installed
	$(VENV)/bin/streamlit run app.py

# Debian's chromium drives the browser tests; installed only when missing and we are root.
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null; \
	  else echo "chromium missing: run 'sudo apt-get install -y chromium' for the browser tests"; fi; \
	fi

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

unit: $(VENV)/.installed-dev
	$(PY) -m pytest -m "not browser" -q

browser: $(VENV)/.installed-dev chromium
	$(PY) -m pytest -m browser -q

test: lint unit browser

bench: $(VENV)/.installed-dev
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b | tail -n 1; done

screenshots: browser
	mkdir -p docs/screenshots
	cp tests/screenshots/home.png tests/screenshots/augmentation.png tests/screenshots/convolution.png \
	   tests/screenshots/convolution-presenter.png tests/screenshots/train-finished.png \
	   tests/screenshots/heatmap.png docs/screenshots/

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache tests/screenshots
