"""The warehouse resource owns the path, the connection settings and the run lock.

- every DuckDB connection a whole run opens (ingest, dbt's metadata, the gate, the publish, the
  summary) is opened through ``orchestration.base.warehouse_connection.connect`` (or, for Great
  Expectations, by duckdb-engine with the same memory limit), and that function gives each one
  the memory limit and no progress bar;
- no module but the settings and the resource reads a path from the environment;
- the run lock is exclusive across processes, re-entrant within one, released when its holder
  dies, and names its holder.
"""

from __future__ import annotations

import inspect
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from dagster import DagsterInstance, asset, materialize

from orchestration.base import run_lock
from orchestration.base.resources import WarehouseResource, build_resources
from orchestration.base.settings import Settings, get_settings
from orchestration.base.warehouse_connection import connect

REPO = Path(__file__).parents[1]
PII_KEY = "00" * 32


def test_connect_applies_the_memory_limit_and_turns_the_progress_bar_off(tmp_path):
    for read_only in (False, True):
        con = connect(tmp_path / "w.duckdb", read_only=read_only, memory_limit="1GB")
        try:
            limit, bar = con.execute(
                "select current_setting('memory_limit'), current_setting('enable_progress_bar')"
            ).fetchone()
        finally:
            con.close()
        assert bar is False
        assert limit.replace(" ", "") in ("1GB", "953.6MiB", "953.6MB"), limit


@pytest.fixture(scope="module")
def recorded_connections(sample_tiny, tmp_path_factory):
    """A whole ``poverty-warehouse run`` in this process, with every ``duckdb.connect`` seen."""
    from orchestration.cli import main

    seen: list[dict] = []
    real_connect = duckdb.connect

    def spy(*args, **kwargs):
        database = kwargs.get("database", args[0] if args else ":memory:")
        caller = inspect.stack()[1]
        seen.append(
            {
                "database": str(database),
                "config": dict(kwargs.get("config") or {}),
                "caller": caller.frame.f_globals.get("__name__", "?"),
                "where": f"{caller.filename}:{caller.lineno}",
            }
        )
        return real_connect(*args, **kwargs)

    out = tmp_path_factory.mktemp("spied")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(duckdb, "connect", spy)
        patch.setenv("POVERTY_PII_KEY", PII_KEY)
        patch.setenv("POVERTY_DUCKDB_MEMORY_LIMIT", "3GB")
        patch.delenv("DAGSTER_HOME", raising=False)
        code = main(
            ["run", "--raw-dir", str(sample_tiny.raw_dir), "--warehouse-dir", str(out)]
            + ["--no-record"]
        )
    return code, out, seen


def test_every_connection_of_a_run_gets_the_warehouse_settings(recorded_connections):
    code, out, seen = recorded_connections
    assert code == 0
    files = [c for c in seen if c["database"] not in (":memory:", "", ":default:")]
    assert {Path(c["database"]).name for c in files} >= {"warehouse.duckdb", "published.duckdb"}
    for connection in files:
        assert connection["caller"] in (
            "orchestration.base.warehouse_connection",
            "duckdb_engine",  # Great Expectations, with the memory limit in its connect_args
        ), connection
        assert connection["config"].get("memory_limit") == "3GB", connection


def test_great_expectations_connections_turn_the_progress_bar_off(tmp_path, monkeypatch):
    """duckdb-engine opens the gate's connection; the engine's connect hook turns the bar off and
    the connect arguments carry the memory limit. Read from the gate's own connection."""
    import sqlalchemy as sa

    from orchestration.gate.gx_duckdb import duckdb_data_context

    monkeypatch.setenv("POVERTY_DUCKDB_MEMORY_LIMIT", "1GB")
    database = tmp_path / "warehouse.duckdb"
    duckdb.connect(str(database)).close()
    real_connect = duckdb.connect

    def interactive_connect(*args, **kwargs):
        # As on a terminal, where DuckDB draws the bar by default (under pytest it does not).
        con = real_connect(*args, **kwargs)
        con.execute("set enable_progress_bar = true")
        return con

    monkeypatch.setattr(duckdb, "connect", interactive_connect)
    settings = sa.text(
        "select current_setting('memory_limit'), current_setting('enable_progress_bar')"
    )
    with (
        duckdb_data_context(database) as (_context, datasource),
        datasource.get_execution_engine().get_connection() as connection,
    ):
        limit, bar = connection.execute(settings).one()
    assert bar is False
    assert limit.replace(" ", "") in ("1GB", "953.6MiB", "953.6MB"), limit


# Variables that name a place on disk. Only the settings read them (the resource gets them from
# the settings), and dbt_child only *writes* them, into the dbt process's own environment.
_PATH_VARIABLES = re.compile(r"POVERTY_\w*(DIR|PATH)\b|DAGSTER_HOME")
_ENV_READ = re.compile(r"os\.environ\b|os\.getenv\(|environ\.get\(")
_ENV_WRITE = re.compile(r"os\.environ\[[^\]]+\]\s*=(?!=)|os\.environ\.(update|setdefault)\(")
_ALLOWED = {"orchestration/base/settings.py", "orchestration/base/resources.py"}


def test_no_module_but_the_settings_reads_a_path_from_the_environment():
    offenders = []
    for path in sorted((REPO / "orchestration").rglob("*.py")):
        relative = path.relative_to(REPO).as_posix()
        if relative in _ALLOWED:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if _ENV_READ.search(line) and _PATH_VARIABLES.search(line):
                offenders.append(f"{relative}:{number}: {line.strip()}")
            if _ENV_WRITE.search(line):
                offenders.append(f"{relative}:{number}: writes the environment: {line.strip()}")
    assert offenders == []


def test_settings_read_the_environment_without_writing_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("POVERTY_WAREHOUSE_PATH", raising=False)
    monkeypatch.setenv("POVERTY_WAREHOUSE_DIR", "relative/out")
    before = dict(os.environ)
    settings = get_settings(raw_dir="data/raw")
    assert dict(os.environ) == before
    # Relative paths are taken from the current directory, as the docstring says.
    assert settings.warehouse_dir == tmp_path / "relative" / "out"
    assert settings.raw_dir == tmp_path / "data" / "raw"


# -- The run lock ---------------------------------------------------------------------------


def _holder(directory: Path) -> subprocess.Popen:
    """Another process holding ``directory``'s lock until killed."""
    script = (
        "import sys, time\n"
        "from orchestration.base import run_lock\n"
        f"run_lock.acquire({str(directory)!r}, 'a test holder')\n"
        "print('held', flush=True)\n"
        "time.sleep(300)\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    assert process.stdout.readline().strip() == "held"
    return process


def test_the_lock_names_its_holder_and_goes_with_it(tmp_path):
    holder = _holder(tmp_path)
    try:
        with pytest.raises(run_lock.LockHeldError) as held:
            run_lock.acquire(tmp_path)
        assert f"pid {holder.pid}" in str(held.value)
        assert "since 20" in str(held.value) and "a test holder" in str(held.value)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # SIGKILL leaves nothing locked: the kernel drops the lock with its holder.
    with run_lock.hold(tmp_path, "after the holder died"):
        assert f"pid {os.getpid()}" in (tmp_path / ".lock").read_text()


def test_the_lock_waits_when_asked_and_is_reentrant_in_one_process(tmp_path):
    holder = _holder(tmp_path)
    started = time.monotonic()
    try:
        with pytest.raises(run_lock.LockHeldError) as held:
            run_lock.acquire(tmp_path, timeout_s=1.0)
        assert time.monotonic() - started >= 1.0
        assert "waited" in str(held.value)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with run_lock.hold(tmp_path), run_lock.hold(tmp_path, "again, same process"):
        assert run_lock.is_held_here(tmp_path)
    assert not run_lock.is_held_here(tmp_path)


def test_a_dagster_run_takes_the_lock_through_the_resource(tmp_path):
    """A run on any instance holds the warehouse directory's lock while its steps run."""
    settings = Settings(raw_dir=tmp_path / "raw", warehouse_dir=tmp_path / "out")
    seen = {}

    @asset
    def probe(warehouse: WarehouseResource) -> None:
        seen["held"] = run_lock.is_held_here(settings.warehouse_dir)
        with warehouse.get_connection() as con:
            seen["bar"] = con.execute("select current_setting('enable_progress_bar')").fetchone()

    resources = build_resources(settings)
    instance = DagsterInstance.ephemeral()
    assert materialize(
        [probe], resources={"warehouse": resources["warehouse"]}, instance=instance
    ).success
    assert seen == {"held": True, "bar": (False,)}
    seen.clear()
    assert not run_lock.is_held_here(settings.warehouse_dir)

    holder = _holder(settings.warehouse_dir)
    try:
        waiting = WarehouseResource(
            database=str(settings.warehouse_path),
            raw_dir=str(settings.raw_dir),
            warehouse_dir=str(settings.warehouse_dir),
            lock_wait_s=0.5,
        )
        result = materialize(
            [probe], resources={"warehouse": waiting}, instance=instance, raise_on_error=False
        )
        assert not result.success
        assert seen == {}  # the step never ran
        messages = " ".join(str(event.event_specific_data) for event in result.all_events)
        assert f"pid {holder.pid}" in messages, messages
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()


def test_the_dbt_child_dies_with_its_parent(tmp_path):
    """``orchestration.base.dbt_child`` asks for SIGKILL when its parent dies (PR_SET_PDEATHSIG)."""
    import psutil

    # The parent starts the child (a stand-in for dbt: `dbt_child` execs dbt, here the prctl
    # and the environment are what is tested) and is then killed.
    child_script = (
        "import os, sys, time\n"
        "from orchestration.base.dbt_child import die_with_parent\n"
        "die_with_parent()\n"
        "print(os.getpid(), flush=True)\n"
        "time.sleep(300)\n"
    )
    parent_script = (
        "import subprocess, sys, time\n"
        f"child = subprocess.Popen([sys.executable, '-c', {child_script!r}])\n"
        "time.sleep(300)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", parent_script], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    child_pid = int(parent.stdout.readline())
    assert psutil.pid_exists(child_pid)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if psutil.Process(child_pid).status() == psutil.STATUS_ZOMBIE:
                break
        except psutil.NoSuchProcess:
            break
        time.sleep(0.1)
    else:
        os.kill(child_pid, signal.SIGKILL)
        pytest.fail("the child outlived its parent")
