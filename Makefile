# Every target installs first (`setup` is quick when nothing changed).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
WAREHOUSE_DIR ?= $(CURDIR)/warehouse
SCALE ?= province
DBT := POVERTY_WAREHOUSE_PATH=$(WAREHOUSE_DIR)/warehouse.duckdb $(BIN)/dbt
# Absolute paths: dbt records seed paths in the manifest as given.
DBT_FLAGS := --project-dir $(CURDIR)/dbt_project --profiles-dir $(CURDIR)/dbt_project
# One test worker per core, each test module on one worker (its module fixtures built once); the
# session fixtures are built once per worker. `make test PYTEST_ARGS=-n0` runs them in one process.
PYTEST_ARGS ?= -n auto --dist loadfile

.PHONY: setup manifest demo test lint format dev bench docs clean

# The project's own modules are compiled to bytecode too, at every target (a few hundredths of a
# second when nothing changed): with PYTHONDONTWRITEBYTECODE set, Python never writes it, and each
# process that imports the definitions (every run, every test worker) compiled them again.
setup: $(STAMP)
	$(BIN)/python -m compileall -q -j 0 orchestration tests > /dev/null || true

# uv (from PyPI, into the venv) installs the same pins as pip, the same versions, with the downloads
# and the bytecode compilation in parallel: a fresh clone's install 57 s with pip, 28 s with uv
# (bytecode is never written later: PYTHONDONTWRITEBYTECODE may be set). Should uv not install,
# pip does, as it did before: each module compiled by compileall on every core (a module that does
# not compile is not an install failure: it is compiled when imported). The venv keeps pip, which
# `setup-browser` and the old-client test use.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	if $(BIN)/python -m pip install --quiet uv==0.13.9 && \
		$(BIN)/uv pip install --quiet --python $(BIN)/python --compile-bytecode -e '.[dev]'; then :; \
	else \
		echo "uv did not install the environment: installing with pip" >&2; \
		$(BIN)/python -m pip install --quiet --upgrade pip && \
		$(BIN)/python -m pip install --quiet --no-compile -e '.[dev]' && \
		{ $(BIN)/python -m compileall -q -j 0 $(VENV)/lib > /dev/null || true; }; \
	fi
	touch $(STAMP)

# The Dagster definitions read dbt's manifest: it must exist before they load. Parsed as the
# command's builds run dbt (through its child, for the warehouse file's name), and kept as the
# first build's starting point: the first `make demo` or test build does not parse again.
manifest: setup
	mkdir -p $(WAREHOUSE_DIR)
	$(BIN)/python -m orchestration.base.dbt_child --warehouse-path $(WAREHOUSE_DIR)/warehouse.duckdb \
		parse $(DBT_FLAGS) --quiet
	$(BIN)/python -m orchestration.base.dbt_parse_state $(WAREHOUSE_DIR)/warehouse.duckdb

# The sample generator has finished writing when the run starts: no settle interval to wait for.
demo: manifest
	$(BIN)/poverty-warehouse generate-sample --if-empty
	$(BIN)/poverty-warehouse run --warehouse-dir $(WAREHOUSE_DIR) --settle-seconds 0

# Every test runs, the browser and old-client ones included: their installs come first. The lint,
# dbt's parse and those installs run side by side (each target's output printed whole when it
# ends): each waits on its own thing (a core, the network, the disk) for part of its time.
# (The sub-make installs first, once: each of the three needs `setup`.)
test:
	$(MAKE) --no-print-directory -j3 --output-sync=target lint manifest setup-browser
	$(BIN)/pytest $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/sqlfluff lint dbt_project/models dbt_project/tests --config dbt_project/.sqlfluff --processes 0

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The UI, the daemon (sensors, schedule, run queue, freshness) and the code server, on the instance
# `poverty-warehouse run` records in (OUT/dagster_home). orchestration/dev.py stops them all on
# Ctrl-C or SIGTERM (docs/operations.md).
DEV_PORT ?= 3000
dev: manifest
	$(BIN)/python -c 'import sys; from pathlib import Path; from orchestration.instance import prepare_dagster_home; prepare_dagster_home(Path(sys.argv[1]))' $(WAREHOUSE_DIR)/dagster_home
	DAGSTER_HOME=$(WAREHOUSE_DIR)/dagster_home POVERTY_WAREHOUSE_DIR=$(WAREHOUSE_DIR) \
		exec $(BIN)/python -m orchestration.dev -h 127.0.0.1 -p $(DEV_PORT) -w workspace.yaml

bench: manifest
	$(BIN)/python tests/benchmarks/run.py --scale $(SCALE)

docs: manifest
	$(DBT) docs generate $(DBT_FLAGS) --static
	@echo "dbt docs: dbt_project/target/static_index.html"

clean:
	rm -rf $(WAREHOUSE_DIR) dbt_project/target dbt_project/logs .cache

.PHONY: setup-browser report

# The browser tests' Chromium comes from Debian (Playwright's own browser download is not
# reachable) and drives through the playwright package; it comes without the packages Debian
# only recommends with it, which the headless browser tests do not use (docs/performance.md has
# what that saves). The old-client test reads the published file with the oldest DuckDB the
# README names (1.2.0) in its own folder, never on the venv's path.
DUCKDB_1X := 1.2.0
setup-browser: setup
	command -v chromium >/dev/null || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium)
	$(BIN)/python -m pip install --quiet playwright==1.65.2
	test -d $(VENV)/duckdb1x/duckdb-$(DUCKDB_1X).dist-info || \
		$(BIN)/python -m pip install --quiet --upgrade --no-warn-conflicts --target $(VENV)/duckdb1x duckdb==$(DUCKDB_1X)

# Rebuild the plan report from the published file; opens nothing.
report: setup
	$(BIN)/python -m orchestration.publish.report $(WAREHOUSE_DIR)
