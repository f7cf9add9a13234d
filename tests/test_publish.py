"""Atomic publish: contents, refusal, concurrent readers, crashes, kept builds and rollback."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from gate_fixtures import build_warehouse

from orchestration.lib import publish as publish_module
from orchestration.lib.publish import (
    CONTRACT_MART_TABLES,
    PublishRefusedError,
    code_version,
    list_builds,
    publish,
    rollback,
)
from orchestration.lib.quality_gate import run_gate
from orchestration.settings import REPO_ROOT

CONTRACT_TABLES = {*CONTRACT_MART_TABLES, "build_info", "source_files"}


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    return build_warehouse(tmp_path / "out" / "warehouse.duckdb")


def _gate_and_publish(warehouse: Path, build_id: str, **kwargs) -> publish_module.PublishResult:
    run_gate(warehouse, build_id=build_id, run_id=f"run-{build_id}", data_docs_dir=None)
    return publish(
        warehouse,
        warehouse.parent / "published.duckdb",
        build_id=build_id,
        run_id=f"run-{build_id}",
        code_version="test-version",
        **kwargs,
    )


def _scalar(path: Path, sql: str):
    with duckdb.connect(str(path), read_only=True) as con:
        row = con.execute(sql).fetchone()
    return row[0] if row else None


def test_clean_build_publishes_the_contract_tables(warehouse: Path) -> None:
    result = _gate_and_publish(warehouse, "b1")
    published = warehouse.parent / "published.duckdb"
    with duckdb.connect(str(published), read_only=True) as con:
        tables = {
            r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()
        }
        info = con.execute(
            "select build_id, code_version, standards, rows_read, rows_loaded, rows_quarantined "
            "from build_info"
        ).fetchall()
        types = dict(
            con.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_name = 'build_info'"
            ).fetchall()
        )
        files = con.execute("select count(*), sum(rows_loaded) from source_files").fetchone()
        communes = con.execute("select count(*) from commune_year").fetchone()
    assert tables == CONTRACT_TABLES
    assert info == [("b1", "test-version", "ND07_2021", 543, 540, 3)]
    assert types["rows_read"] == "BIGINT" and types["built_at"].startswith("TIMESTAMP")
    assert files == (3, 540)
    assert communes == (18,)
    assert result.tables["commune_year"] == 18
    assert [b.build_id for b in list_builds(warehouse.parent)] == ["b1"]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        record = con.execute(
            "select build_id, run_id, code_version, validation_passed, seed_checksums "
            "from audit.builds"
        ).fetchall()
    assert record[0][:4] == ("b1", "run-b1", "test-version", True)
    assert isinstance(json.loads(record[0][4]), dict)
    assert not list(warehouse.parent.glob(".publishing-*"))


def test_published_file_has_no_household_rows_names_or_ids(warehouse: Path) -> None:
    _gate_and_publish(warehouse, "b1")
    with duckdb.connect(str(warehouse), read_only=True) as con:
        household_count = con.execute(
            "select count(*) from staging.stg_review_exports__households"
        ).fetchone()[0]
        identities = {
            value
            for (value,) in con.execute(
                """
                select household_code from staging.stg_review_exports__households
                union select head_id_hash from staging.stg_review_exports__households
                """
            ).fetchall()
        }
    published = warehouse.parent / "published.duckdb"
    with duckdb.connect(str(published), read_only=True) as con:
        columns = con.execute(
            "select table_name, column_name, data_type from information_schema.columns"
        ).fetchall()
        for table, column, data_type in columns:
            assert "household_code" not in column and not column.startswith("head_"), column
            assert column not in {"village", "ethnicity", "income_per_capita", "source_row"}
            if data_type == "VARCHAR":
                values = {
                    v
                    for (v,) in con.execute(f'select distinct "{column}" from "{table}"').fetchall()
                }
                assert not values & identities, f"{table}.{column} holds household identity"
        for table in CONTRACT_TABLES:
            rows = con.execute(f'select count(*) from "{table}"').fetchone()[0]
            assert rows < household_count, f"{table} has as many rows as there are households"


def test_publish_refuses_without_a_gate_pass(warehouse: Path) -> None:
    published = warehouse.parent / "published.duckdb"
    with pytest.raises(PublishRefusedError, match="no quality-gate results"):
        publish(warehouse, published, build_id="never-gated", run_id="r", code_version="v")
    with duckdb.connect(str(warehouse)) as con:
        # More assessed than resident households: a critical gate rule (rate ranges are dbt's).
        con.execute(
            "update marts.commune_year set assessed_households = total_households + 1 "
            "where commune_code = '00001'"
        )
    run_gate(warehouse, build_id="b-bad", run_id="r", data_docs_dir=None)
    with pytest.raises(PublishRefusedError, match="critical"):
        publish(warehouse, published, build_id="b-bad", run_id="r", code_version="v")
    assert not published.exists()
    assert not list(warehouse.parent.glob(".publishing-*"))


READER = """
import sys, time
from pathlib import Path
import duckdb

published, ready, go = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
snapshot = "select (select build_id from build_info), (select max(note) from target_progress)"
con = duckdb.connect(published, read_only=True)
before = con.execute(snapshot).fetchone()
ready.touch()
deadline = time.time() + 60
while not go.exists() and time.time() < deadline:
    time.sleep(0.02)
during = con.execute(snapshot).fetchone()
con.close()
fresh = duckdb.connect(published, read_only=True)
after = fresh.execute(snapshot).fetchone()
fresh.close()
print(repr((before, during, after)))
"""


def test_reader_keeps_a_consistent_snapshot_during_publish(warehouse: Path) -> None:
    _gate_and_publish(warehouse, "b1")
    published = warehouse.parent / "published.duckdb"
    ready, go = warehouse.parent / "ready", warehouse.parent / "go"
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(published), str(ready), str(go)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.time() + 60
        while not ready.exists() and time.time() < deadline:
            time.sleep(0.02)
        assert ready.exists(), reader.stderr.read() if reader.poll() is not None else "no reader"
        with duckdb.connect(str(warehouse)) as con:
            con.execute("update marts.target_progress set note = 'second build'")
        _gate_and_publish(warehouse, "b2")  # the reader holds published.duckdb open meanwhile
        go.touch()
        out, err = reader.communicate(timeout=60)
    finally:
        if reader.poll() is None:
            reader.kill()
    assert reader.returncode == 0, err
    before, during, after = eval(out)  # the reader prints a repr of plain tuples
    assert before == ("b1", None)
    assert during == ("b1", None)  # old snapshot, not a mix of b1 and b2
    assert after == ("b2", "second build")


KILLER = """
import os, signal, sys
from pathlib import Path
from orchestration.lib import publish as publish_module

warehouse, published = Path(sys.argv[1]), Path(sys.argv[2])
real_replace = os.replace

def replace_or_die(source, destination):
    if Path(destination).name == "published.duckdb":
        os.kill(os.getpid(), signal.SIGKILL)
    return real_replace(source, destination)

os.replace = replace_or_die
publish_module.publish(warehouse, published, build_id="b2", run_id="r2", code_version="v")
"""


def test_publish_killed_before_the_rename_leaves_the_last_good_file(warehouse: Path) -> None:
    _gate_and_publish(warehouse, "b1")
    published = warehouse.parent / "published.duckdb"
    before = published.read_bytes()
    run_gate(warehouse, build_id="b2", run_id="r2", data_docs_dir=None)
    killed = subprocess.run(
        [sys.executable, "-c", KILLER, str(warehouse), str(published)],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=120,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert published.read_bytes() == before
    assert _scalar(published, "select build_id from build_info") == "b1"
    assert [b.build_id for b in list_builds(warehouse.parent)] == ["b1"]  # no phantom b2
    assert list(warehouse.parent.glob(".publishing-*"))  # the killed run's leftover
    _gate_and_publish(warehouse, "b3")
    assert not list(warehouse.parent.glob(".publishing-*"))
    assert _scalar(published, "select build_id from build_info") == "b3"


def test_publish_crashing_before_the_rename_cleans_up(
    warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _gate_and_publish(warehouse, "b1")
    published = warehouse.parent / "published.duckdb"
    before = published.read_bytes()

    def crash(*_args, **_kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(publish_module.os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        _gate_and_publish(warehouse, "b2")
    monkeypatch.undo()
    assert published.read_bytes() == before
    assert not list(warehouse.parent.glob(".publishing-*"))


def test_keeps_the_last_builds_and_rolls_back(warehouse: Path) -> None:
    for number in range(1, 5):
        _gate_and_publish(warehouse, f"b{number}", keep=3)
        time.sleep(0.01)  # distinct modification times
    kept = [b.build_id for b in list_builds(warehouse.parent)]
    assert kept == ["b4", "b3", "b2"]
    restored = rollback(warehouse.parent, "b2")
    assert restored == warehouse.parent / "published.duckdb"
    assert _scalar(restored, "select build_id from build_info") == "b2"
    with pytest.raises(FileNotFoundError, match="b1"):
        rollback(warehouse.parent, "b1")


def test_code_version_names_the_commit() -> None:
    version = code_version()
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True
    ).stdout.strip()
    assert version.removesuffix("-dirty") == head
