# Two commands on a fresh clone: `make lab` (learn) and `make test` (check everything).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NB_SANITIZE := notebooks/nbval_sanitize.cfg

# Beside a checkout that has ../shared/data (the project's CI machines, which are offline), that folder
# is the data folder unless TUTORIAL_DATA_DIR is already set; elsewhere data/ is used and filled on demand.
SHARED_DATA := $(abspath ../shared/data)
ifeq ($(origin TUTORIAL_DATA_DIR), undefined)
ifneq ($(wildcard $(SHARED_DATA)),)
export TUTORIAL_DATA_DIR := $(SHARED_DATA)
endif
endif

# Idle OpenMP threads sleep instead of spinning: on a 2-core machine a spinning pool can make a small
# torch linear-algebra call 50x slower when anything else is running.
export OMP_WAIT_POLICY ?= PASSIVE

.PHONY: setup lab demo test lint unit nbtest browser notebooks bench report clean

setup: $(STAMP)

# Re-installs only when pyproject.toml changes, so `make setup` is quick when already done.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

lab: setup
	$(BIN)/jupyter lab notebooks/

demo: setup
	$(BIN)/python -m tutorial_lib demo --out reports

lint: setup
	$(BIN)/ruff check tutorial_lib tests

unit: setup
	$(BIN)/python -m pytest -q tests

# Notebooks in fast mode: every cell runs; NBVAL_CHECK_OUTPUT cells compare their stored output.
nbtest: setup
	TUTORIAL_FAST=1 MPLBACKEND=Agg $(BIN)/python -m pytest -q --nbval-lax --nbval-current-env \
		--nbval-sanitize-with $(NB_SANITIZE) -p no:cacheprovider notebooks/

test: lint unit nbtest

# Every widget panel in a real JupyterLab, driven by Playwright with the system's Chromium (also part of
# `unit`; skipped, saying how to install it, where Chromium is missing).
browser: setup
	$(BIN)/python -m pytest -q tests/test_browser.py

# Re-run every notebook at default settings and store its outputs in place.
notebooks: setup
	for nb in notebooks/[0-9]*.ipynb; do \
		TUTORIAL_STATIC_PROGRESS=1 $(BIN)/jupyter nbconvert --to notebook --execute --inplace \
			--ExecutePreprocessor.timeout=1800 \
			--ExecutePreprocessor.store_widget_state=False "$$nb" || exit 1; \
	done

bench: setup
	$(BIN)/python -m tutorial_lib bench clustering --data digits
	$(BIN)/python -m tutorial_lib bench clustering --data mnist
	$(BIN)/python -m tutorial_lib bench segmentation --data mosaic
	$(BIN)/python -m tutorial_lib bench segmentation --data scenes
	$(BIN)/python -m tutorial_lib bench segmentation --data segfolder:../shared/data/nuclei
	$(BIN)/python -m tutorial_lib bench photos
	$(BIN)/python -m tutorial_lib bench report

# bench/RESULTS.md and its plots, from the result files already in bench/results/.
report: setup
	$(BIN)/python -m tutorial_lib bench report

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache reports
