"""Shared fixtures. Generator fixtures are named ``sample_*``."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from orchestration.base.admin_units import load_admin_units
from orchestration.base.collector import collect_less_often
from orchestration.base.settings import get_settings
from orchestration.runner import ensure_manifest
from orchestration.sample import SampleSummary, generate_sample

# The suite's processes import what a run's process does, and run pipelines in-process: the
# garbage collector set as the command sets it (orchestration/base/collector.py).
collect_less_often()

# Tests write their exports just before running: files are read at once, not after the settle
# interval a deployment waits for copies to finish (tests/test_sensor.py tests that rule).
os.environ.setdefault("POVERTY_SETTLE_SECONDS", "0")


def pytest_sessionstart(session) -> None:
    """Prepare the dbt manifest before collection (the Dagster definitions load it), as the
    command does: parsed when missing or older than the project. ``make test`` parses first
    already; this keeps a bare ``pytest`` working on a fresh clone."""
    parse_dir = Path(tempfile.gettempdir()) / "poverty-parse"
    ensure_manifest(get_settings(raw_dir=parse_dir, warehouse_dir=parse_dir))


@pytest.fixture(scope="session")
def sample_tiny(tmp_path_factory) -> SampleSummary:
    """The messy tiny sample (seed 2025, 2021-2025), written once per test session.

    Read-only: copy ``sample_tiny.raw_dir`` before changing files. ``expected_mess`` lists every
    injected bad row and file.
    """
    return generate_sample(tmp_path_factory.mktemp("sample_tiny") / "raw", scale="tiny")


@pytest.fixture(autouse=True)
def no_leftover_defs_state_storage():
    """Each test starts without a Dagster defs-state storage left by an earlier one.

    Evaluating a sensor with an ephemeral instance leaves that instance's storage in a context
    variable after the instance is gone; a later ``materialize`` then fails with "Attempted to
    resolve undefined DagsterInstance weakref".
    """
    from dagster._core.storage.defs_state.base import set_defs_state_storage

    with set_defs_state_storage(None):
        yield


@contextlib.contextmanager
def built_once(tmp_path_factory, name: str) -> Iterator[tuple[Path, bool]]:
    """A directory built by the first test process that needs it and only read by the others.

    ``make test`` runs one pytest worker per core (pytest-xdist); each would build its own copy
    of a session fixture. Here the first worker builds it under the run's shared temporary
    directory, holding a lock the others wait on, and they find it built (``True``). A build
    that fails leaves no mark, so the next worker tries again. Without xdist: this session's
    own temporary directory.
    """
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent
    directory, mark = base / name, base / f"{name}.built"
    with (base / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        built = mark.exists()
        if not built:
            shutil.rmtree(directory, ignore_errors=True)
        yield directory, built
        mark.touch()


@pytest.fixture(scope="session")
def built_warehouse(tmp_path_factory) -> Path:
    """The clean province of ``tests/built_warehouse.py``, ingested and built by real dbt once
    per test run (shared by the workers). Read-only: ``copy_warehouse`` it before changing
    anything (a gate run or a publish writes its audit tables into the warehouse)."""
    from built_warehouse import build_warehouse, write_raw_exports

    with built_once(tmp_path_factory, "built_warehouse") as (root, built):
        path = root / "warehouse" / "warehouse.duckdb"
        if not built:
            build_warehouse(write_raw_exports(root / "raw"), path)
        return path


@pytest.fixture(scope="session")
def reference_db(tmp_path_factory) -> Path:
    """A warehouse file holding only the reference units (built once, copied per test)."""
    path = tmp_path_factory.mktemp("units") / "units.duckdb"
    with duckdb.connect(str(path)) as con:
        load_admin_units(con)
    return path


@pytest.fixture
def con(tmp_path, reference_db):
    """A connection to a fresh copy of ``reference_db``: the ingest's rules on their own."""
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(reference_db, path)
    with duckdb.connect(str(path)) as connection:
        yield connection
