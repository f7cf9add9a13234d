"""Atomic publish: contents, comments, old clients, Parquet, refusal, readers, crashes, rollback."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from built_warehouse import COMMUNES, ROWS_READ_PER_YEAR, YEARS, copy_warehouse

from orchestration.base.build_record import code_version
from orchestration.base.settings import REPO_ROOT
from orchestration.gate.validation import run_gate
from orchestration.publish import forms as forms_module
from orchestration.publish import publish as publish_module
from orchestration.publish.builds import list_builds, live_build_id
from orchestration.publish.exports import export_parquet, recover_exports
from orchestration.publish.publish import (
    AUDIT_TABLE_DOCS,
    AUDIT_TABLES,
    AfterPublishError,
    PublishRefusedError,
    mart_models,
    publish,
)
from orchestration.publish.rollback import rollback

DUCKDB_1X_VERSION = "1.2.0"
"""The oldest DuckDB client the README names (1.1 cannot read storage v1.2.0; 1.2.0 to 1.5.6 can):
what BI drivers and the CLI that cannot read 2.0's format run."""
DUCKDB_1X_DIR = REPO_ROOT / ".venv" / "duckdb1x"


@pytest.fixture
def warehouse(tmp_path: Path, built_warehouse: Path) -> Path:
    return copy_warehouse(built_warehouse, tmp_path / "out")


@pytest.fixture(scope="module")
def published_b1(
    tmp_path_factory: pytest.TempPathFactory, built_warehouse: Path
) -> tuple[Path, publish_module.PublishResult]:
    """Build b1 gated and published once, for the tests that only read what it published."""
    warehouse = copy_warehouse(built_warehouse, tmp_path_factory.mktemp("published_b1") / "out")
    return warehouse, _gate_and_publish(warehouse, "b1")


@pytest.fixture(scope="session")
def duckdb_1x() -> Path:
    """A DuckDB 1.x client in its own directory (``make setup-browser`` installs it; else here)."""
    probe = [sys.executable, "-c", "import duckdb; print(duckdb.__version__)"]
    env = {**os.environ, "PYTHONPATH": str(DUCKDB_1X_DIR)}
    found = subprocess.run(probe, env=env, capture_output=True, text=True)
    if found.stdout.strip() != DUCKDB_1X_VERSION:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--upgrade",
                "--target",
                str(DUCKDB_1X_DIR),
                f"duckdb=={DUCKDB_1X_VERSION}",
            ],
            check=True,
        )
    return DUCKDB_1X_DIR


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


def _published_tables(warehouse: Path) -> set[str]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        marts = {
            r[0]
            for r in con.execute(
                "select table_name from duckdb_tables() where schema_name = 'marts'"
            ).fetchall()
        }
    return (set(mart_models()) & marts) | set(AUDIT_TABLES)


def _exports(out: Path) -> dict:
    return json.loads((out / "published" / "manifest.json").read_text(encoding="utf-8"))


def test_clean_build_publishes_every_mart_and_the_audit_tables(
    published_b1: tuple[Path, publish_module.PublishResult],
) -> None:
    warehouse, result = published_b1
    published = warehouse.parent / "published.duckdb"
    with duckdb.connect(str(published), read_only=True) as con:
        tables = {
            r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()
        }
        info = con.execute(
            "select build_id, code_version, standards, rows_read, rows_loaded, rows_quarantined, "
            "files_quarantined, communes_not_reported from build_info"
        ).fetchall()
        types = dict(
            con.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_name = 'build_info'"
            ).fetchall()
        )
        hugeints = con.execute(
            "select count(*) from information_schema.columns where data_type like '%HUGEINT'"
        ).fetchone()
        files = con.execute("select count(*), sum(rows_loaded) from source_files").fetchone()
        file_columns = [
            r[0]
            for r in con.execute(
                "select column_name from information_schema.columns "
                "where table_name = 'source_files' order by ordinal_position"
            ).fetchall()
        ]
        summary = con.execute(
            "select count(*), count(*) filter (where success), min(sample_keys) "
            "from validation_summary"
        ).fetchone()
        communes = con.execute("select count(*) from commune_year").fetchone()
    with duckdb.connect(str(warehouse), read_only=True) as con:
        gate = con.execute(
            "select count(*) from audit.validation_results where build_id = 'b1'"
        ).fetchone()
        record = con.execute(
            "select build_id, run_id, code_version, validation_passed, seed_checksums "
            "from audit.builds"
        ).fetchall()
    assert tables == _published_tables(warehouse)
    assert {"commune_year", "province_year", "target_progress"} <= tables
    # Each review year: 181 survey rows read (one quarantined) and 6 rows each of commune
    # totals and difficult areas; 3 survey files and 2 others.
    assert len(YEARS) * ROWS_READ_PER_YEAR == 543 and len(COMMUNES) == 6
    assert info == [("b1", "test-version", "ND07_2021", 543 + 36, 540 + 36, 3, 0, 0)]
    assert types["rows_read"] == "BIGINT" and types["built_at"].startswith("TIMESTAMP")
    assert hugeints == (0,)
    assert files == (15, 540 + 36)
    assert file_columns == list(publish_module.SOURCE_FILES_COLUMNS)
    assert summary[0] == gate[0] > 0 and summary[1] == summary[0]
    assert isinstance(json.loads(summary[2]), list)
    assert communes == (18,)
    assert result.tables["commune_year"] == 18
    assert [b.build_id for b in list_builds(warehouse.parent)] == ["b1"]
    assert live_build_id(warehouse.parent) == "b1"
    assert record[0][:4] == ("b1", "run-b1", "test-version", True)
    assert isinstance(json.loads(record[0][4]), dict)
    assert (warehouse.parent / "report" / "index.html").is_file()
    assert not list(warehouse.parent.glob(".publishing-*"))


def test_validation_summary_names_each_warning_with_its_offending_rows(warehouse: Path) -> None:
    run_gate(warehouse, build_id="b1", run_id="run-b1", data_docs_dir=None)
    with duckdb.connect(str(warehouse)) as con:
        # A failed warning does not block; the gate wrote its observed text in these two forms.
        # Two expectations of the build: the first warning, and the first critical one turned
        # into a warning (so that the build still publishes).
        first_warning, first_critical = (
            con.execute(
                "select min(expectation) from audit.validation_results "
                "where build_id = 'b1' and severity = ?",
                [severity],
            ).fetchone()[0]
            for severity in ("warning", "critical")
        )
        con.execute(
            """
            update audit.validation_results
            set success = false, severity = 'warning',
                observed = case when expectation = $critical
                    then '7 of 18 row(s) unexpected' else '4 offending row(s)' end,
                offending_keys = '[{"commune_code": "00001", "review_year": 2023}]'
            where build_id = 'b1' and expectation in ($warning, $critical)
            """,
            {"warning": first_warning, "critical": first_critical},
        )
    publish(
        warehouse,
        warehouse.parent / "published.duckdb",
        build_id="b1",
        run_id="run-b1",
        code_version="v",
    )
    with duckdb.connect(str(warehouse.parent / "published.duckdb"), read_only=True) as con:
        failed = con.execute(
            "select expectation, severity, offending_rows, sample_keys from validation_summary "
            "where not success order by offending_rows"
        ).fetchall()
    assert [(row[1], row[2]) for row in failed] == [("warning", 4), ("warning", 7)]
    assert json.loads(failed[0][3]) == [{"commune_code": "00001", "review_year": 2023}]


OLD_CLIENT = """
import json, sys
import duckdb

con = duckdb.connect(sys.argv[1], read_only=True)
out = {"version": duckdb.__version__, "tables": {}, "columns": {}}
for name, comment in con.execute(
    "select table_name, comment from duckdb_tables() "
    "where database_name = current_database() and schema_name = 'main'"
).fetchall():
    rows = con.execute(f'select * from "{name}"').fetchall()
    out["tables"][name] = {"rows": len(rows), "comment": comment, "first": repr(rows[:1])}
for table, column, comment in con.execute(
    "select table_name, column_name, comment from duckdb_columns() "
    "where database_name = current_database() and schema_name = 'main'"
).fetchall():
    out["columns"][f"{table}.{column}"] = comment
# The Parquet files beside it, through the same old client.
for path in sorted(__import__("pathlib").Path(sys.argv[2]).glob("*.parquet")):
    count = con.execute(f"select count(*) from read_parquet('{path}')").fetchone()[0]
    out.setdefault("parquet", {})[path.stem] = count
print(json.dumps(out))
"""


def test_published_file_opens_in_duckdb_1x_with_every_comment(
    published_b1: tuple[Path, publish_module.PublishResult], duckdb_1x: Path
) -> None:
    warehouse, _ = published_b1
    published = warehouse.parent / "published.duckdb"
    read = subprocess.run(
        [sys.executable, "-c", OLD_CLIENT, str(published), str(warehouse.parent / "published")],
        env={**os.environ, "PYTHONPATH": str(duckdb_1x)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert read.returncode == 0, read.stderr
    seen = json.loads(read.stdout)
    assert seen["version"].startswith("1.")
    with duckdb.connect(str(published), read_only=True) as con:
        counts = {
            name: con.execute(f'select count(*) from "{name}"').fetchone()[0]
            for name in _published_tables(warehouse)
        }
        columns = con.execute(
            "select table_name, column_name from duckdb_columns() "
            "where database_name = current_database() and schema_name = 'main'"
        ).fetchall()
    assert {name: t["rows"] for name, t in seen["tables"].items()} == counts
    assert seen["parquet"] == counts
    models = mart_models()
    for name, table in seen["tables"].items():
        expected = models[name].description if name in models else AUDIT_TABLE_DOCS[name][0]
        assert table["comment"] == expected and expected, name
    undocumented = []
    for table, column in columns:
        documented = (
            models[table].columns.get(column)
            if table in models
            else AUDIT_TABLE_DOCS[table][1].get(column)
        )
        if not documented:
            undocumented.append(f"{table}.{column}")
            continue
        assert seen["columns"][f"{table}.{column}"] == documented
    # Every published column is documented: the mart's in dbt's YAML, the audit table's in
    # AUDIT_TABLE_DOCS. A column the YAML does not describe fails here.
    assert undocumented == []
    assert seen["columns"]["commune_year.poverty_rate"]
    assert all(seen["columns"][f"build_info.{c}"] for c in AUDIT_TABLE_DOCS["build_info"][1])


def test_parquet_files_match_the_duckdb_tables(
    published_b1: tuple[Path, publish_module.PublishResult],
) -> None:
    warehouse, _ = published_b1
    out = warehouse.parent
    manifest = _exports(out)
    assert manifest["build_id"] == "b1"
    assert {f["table"] for f in manifest["files"]} == _published_tables(warehouse)
    with duckdb.connect(str(out / "published.duckdb"), read_only=True) as con:
        for entry in manifest["files"]:
            path = out / "published" / entry["file"]
            assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]
            from_parquet = pq.read_table(path)
            cursor = con.execute(f'select * from "{entry["table"]}"')
            names = [d[0] for d in cursor.description]
            rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
            assert from_parquet.num_rows == entry["rows"] == len(rows)
            assert from_parquet.column_names == names
            assert from_parquet.to_pylist() == rows, entry["table"]
    # The province workbooks sit in forms/, each listed with its hash.
    assert sorted(p.name for p in (out / "published").iterdir()) == sorted(
        [f["file"] for f in manifest["files"]] + ["manifest.json", "forms"]
    )
    forms = {
        p.relative_to(out / "published").as_posix() for p in (out / "published").rglob("*.xlsx")
    }
    assert forms == {f["file"] for f in manifest["forms"]} and forms
    for entry in manifest["forms"]:
        path = out / "published" / entry["file"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]


def test_an_unchanged_workbook_is_copied_with_the_new_build_as_a_fresh_write_gives_it(
    warehouse: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The next publish copies each workbook whose rows did not change, its build id and time
    written in, byte for byte the workbook a fresh write of that build gives; a workbook whose
    file no longer has the hash its manifest lists is written again."""
    out = warehouse.parent
    _gate_and_publish(warehouse, "b1")
    written: list[str] = []
    real_write = forms_module._write_workbook

    def counted_write(path: Path, *args) -> None:
        written.append(path.name)
        real_write(path, *args)

    monkeypatch.setattr(forms_module, "_write_workbook", counted_write)
    tampered = sorted((out / "published" / "forms").glob("*.xlsx"))[0]
    tampered.write_bytes(tampered.read_bytes() + b"\0")
    _gate_and_publish(warehouse, "b2")
    manifest = _exports(out)
    assert manifest["build_id"] == "b2" and len(manifest["forms"]) > 1
    assert written == [tampered.name]  # every other workbook was copied
    # A fresh write of every workbook of the same published file: the same bytes.
    export_parquet(out / "published.duckdb", tmp_path / "fresh")
    assert len(written) == 1 + len(manifest["forms"])
    fresh = json.loads((tmp_path / "fresh" / "manifest.json").read_text(encoding="utf-8"))
    assert [(f["file"], f["sha256"]) for f in fresh["forms"]] == [
        (f["file"], f["sha256"]) for f in manifest["forms"]
    ]
    import openpyxl

    copied = openpyxl.load_workbook(out / "published" / manifest["forms"][-1]["file"])
    assert copied.active.cell(3, 1).value == forms_module.BUILD_LINE.format("b2")
    assert copied.properties.description == "build b2"
    built_at = _scalar(out / "published.duckdb", "select built_at from build_info")
    assert copied.properties.created == built_at.astimezone(UTC).replace(tzinfo=None, microsecond=0)


def test_published_file_has_no_household_rows_names_or_ids(
    published_b1: tuple[Path, publish_module.PublishResult],
) -> None:
    warehouse, _ = published_b1
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
        # crosswalk_links is the country's reference crosswalk (10,000+ links, no household
        # data): on a fixture this small it outnumbers the households by construction.
        for table in _published_tables(warehouse) - {"crosswalk_links"}:
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
            "where commune_code = '00694'"
        )
    run_gate(warehouse, build_id="b-bad", run_id="r", data_docs_dir=None)
    with pytest.raises(PublishRefusedError, match="critical"):
        publish(warehouse, published, build_id="b-bad", run_id="r", code_version="v")
    assert not published.exists()
    assert not (warehouse.parent / "published").exists()
    assert list_builds(warehouse.parent) == []
    assert not list(warehouse.parent.glob(".publishing-*"))


READER = """
import sys, time
from pathlib import Path
import duckdb

published, ready, go = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
snapshot = (
    "select (select build_id from build_info), "
    "(select count(*) from target_progress where note = 'second build')"
)
con = duckdb.connect(published, read_only=True)
before = con.execute(snapshot).fetchone()
ready.touch()
deadline = time.time() + 60
while not go.exists() and time.time() < deadline:
    time.sleep(0.02)
during = con.execute(snapshot).fetchone()
cached = duckdb.connect(published, read_only=True)
cached_view = cached.execute(snapshot).fetchone()
cached.close()
attached = duckdb.connect()
attached.execute(f"attach '{published}' as p (read_only)")
attached.execute("use p")
attached_view = attached.execute(snapshot).fetchone()
attached.close()
con.close()
fresh = duckdb.connect(published, read_only=True)
after = fresh.execute(snapshot).fetchone()
fresh.close()
print(repr((before, during, cached_view, attached_view, after)))
"""


def test_reader_keeps_a_consistent_snapshot_during_publish(warehouse: Path) -> None:
    """Also what the README says about DuckDB's instance cache, measured in a separate process."""
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
    before, during, cached_view, attached_view, after = eval(out)  # a repr of plain tuples
    noted = _scalar(warehouse, "select count(*) from marts.target_progress")
    assert noted > 0
    assert before == ("b1", 0)
    assert during == ("b1", 0)  # old snapshot, not a mix of b1 and b2
    assert cached_view == ("b1", 0)  # a new connection while one is open: the cached instance
    assert attached_view == ("b2", noted)  # ATTACH in a new in-memory database
    assert after == ("b2", noted)  # once every connection closed


KILLER = """
import os, signal, sys
from pathlib import Path
from orchestration.publish import publish as publish_module

warehouse, published, target = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
real_replace, real_rename = os.replace, os.rename

def die_at(real):
    def call(source, destination):
        if Path(destination).name == target:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(source, destination)
    return call

os.replace, os.rename = die_at(real_replace), die_at(real_rename)
publish_module.publish(warehouse, published, build_id="b2", run_id="r2", code_version="v")
"""


def _kill_publish_at(warehouse: Path, target: str) -> None:
    run_gate(warehouse, build_id="b2", run_id="r2", data_docs_dir=None)
    killed = subprocess.run(
        [
            sys.executable,
            "-c",
            KILLER,
            str(warehouse),
            str(warehouse.parent / "published.duckdb"),
            target,
        ],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=180,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr


def test_publish_killed_before_the_rename_leaves_the_last_good_build(warehouse: Path) -> None:
    _gate_and_publish(warehouse, "b1")
    out = warehouse.parent
    published = out / "published.duckdb"
    before = published.read_bytes()
    report_before = (out / "report" / "index.html").read_bytes()
    _kill_publish_at(warehouse, "published.duckdb")
    assert published.read_bytes() == before
    assert live_build_id(out) == "b1"
    assert _exports(out)["build_id"] == "b1"
    assert (out / "report" / "index.html").read_bytes() == report_before
    # Recorded and kept before the rename: a validated build one may roll back to, not live.
    assert {b.build_id for b in list_builds(out)} == {"b1", "b2"}
    assert list(out.glob(".publishing-*"))  # the killed run's leftovers
    _gate_and_publish(warehouse, "b3")
    assert not list(out.glob(".publishing-*"))
    assert live_build_id(out) == "b3" and _exports(out)["build_id"] == "b3"


def test_publish_killed_between_the_directory_renames_recovers(warehouse: Path) -> None:
    _gate_and_publish(warehouse, "b1")
    out = warehouse.parent
    _kill_publish_at(warehouse, "published")
    assert live_build_id(out) == "b2"  # killed after the DuckDB file was served
    assert not (out / "published").exists()
    with duckdb.connect(str(warehouse), read_only=True) as con:
        recorded = con.execute("select build_id from audit.builds order by build_id").fetchall()
    assert recorded == [("b1",), ("b2",)]
    recover_exports(out)
    assert _exports(out)["build_id"] == "b2"
    assert not list(out.glob(".publishing-*"))


def test_publish_crashing_before_the_rename_cleans_up(
    warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _gate_and_publish(warehouse, "b1")
    out = warehouse.parent
    before = (out / "published.duckdb").read_bytes()
    real_replace = os.replace

    def disk_full_at_the_rename(source, destination):
        if Path(destination).name == "published.duckdb":
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_replace(source, destination)

    monkeypatch.setattr(publish_module.os, "replace", disk_full_at_the_rename)
    with pytest.raises(OSError, match="No space left"):
        _gate_and_publish(warehouse, "b2")
    monkeypatch.undo()
    assert (out / "published.duckdb").read_bytes() == before
    assert live_build_id(out) == "b1" and _exports(out)["build_id"] == "b1"
    assert not list(out.glob(".publishing-*"))
    assert not list((out / "report").glob(".publishing-*"))


@pytest.mark.parametrize("failing", ["report", "export"])
def test_a_failed_report_or_export_keeps_the_last_publish_and_leaves_nothing(
    warehouse: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    """The report is written beside the export, in a thread: whichever of the two fails, the
    publish fails with that error once the other has finished, and the prepared files of both
    are removed (an export that fails first still waits for the report being written)."""
    from orchestration.publish.report import page

    _gate_and_publish(warehouse, "b1")
    out = warehouse.parent
    before = (out / "published.duckdb").read_bytes()
    report_before = (out / "report" / "index.html").read_bytes()
    finished: list[str] = []
    real_write_report = page.write_report

    def report(published: Path, destination: Path) -> Path:
        if failing == "report":
            raise RuntimeError("the report failed")
        time.sleep(0.5)  # still writing when the export fails
        written = real_write_report(published, destination)
        finished.append("report")
        return written

    def export(published: Path, directory: Path, previous: Path | None = None) -> str:
        directory.mkdir(parents=True)
        (directory / "half-written.parquet").write_bytes(b"PAR1")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(page, "write_report", report)
    if failing == "export":
        monkeypatch.setattr(publish_module, "export_parquet", export)
    with pytest.raises(RuntimeError if failing == "report" else OSError):
        _gate_and_publish(warehouse, "b2")
    monkeypatch.undo()
    assert finished == ([] if failing == "report" else ["report"])
    assert (out / "published.duckdb").read_bytes() == before
    assert (out / "report" / "index.html").read_bytes() == report_before
    assert live_build_id(out) == "b1" and _exports(out)["build_id"] == "b1"
    assert not list(out.glob(".publishing-*"))
    assert not list((out / "report").glob(".publishing-*"))


def test_disk_full_after_the_rename_says_published(
    warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _gate_and_publish(warehouse, "b1")
    out = warehouse.parent
    real_rename = os.rename

    def disk_full_at_the_exports(source, destination):
        if Path(destination).name == "published":
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_rename(source, destination)

    monkeypatch.setattr(publish_module.os, "rename", disk_full_at_the_exports)
    with pytest.raises(AfterPublishError, match="b2 was published") as raised:
        _gate_and_publish(warehouse, "b2")
    monkeypatch.undo()
    assert raised.value.build_id == "b2"
    assert live_build_id(out) == "b2"
    assert "b2" in {b.build_id for b in list_builds(out)}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select count(*) from audit.builds where build_id = 'b2'").fetchone()
    _gate_and_publish(warehouse, "b3")  # the next publish finishes the interrupted swap first
    assert _exports(out)["build_id"] == "b3"


def test_keeps_the_last_builds_and_rolls_back(warehouse: Path) -> None:
    out = warehouse.parent
    for number in range(1, 5):
        _gate_and_publish(warehouse, f"b{number}", keep=3)
        time.sleep(0.01)  # distinct modification times
    kept = [b.build_id for b in list_builds(out)]
    assert kept == ["b4", "b3", "b2"]
    restored = rollback(out, "b2")
    assert restored == out / "published.duckdb"
    assert live_build_id(out) == "b2"
    assert _exports(out)["build_id"] == "b2"
    assert "b2" in (out / "report" / "index.html").read_text(encoding="utf-8")
    with pytest.raises(ValueError, match="b1"):
        rollback(out, "b1")


def test_rollback_accepts_only_listed_build_ids(warehouse: Path) -> None:
    out = warehouse.parent
    _gate_and_publish(warehouse, "b1")
    before = (out / "published.duckdb").read_bytes()
    (out / "builds" / "odd.name.duckdb").write_bytes(before)
    (out / "builds" / "linked.duckdb").symlink_to(out / "warehouse.duckdb")
    for wrong in ("../warehouse", "../published", "linked", "odd.name", "", "b1/../b1"):
        with pytest.raises(ValueError, match="not a kept build id"):
            rollback(out, wrong)
    assert [b.build_id for b in list_builds(out)] == ["b1"]
    assert (out / "published.duckdb").read_bytes() == before


def test_served_files_are_readable_under_a_private_umask(warehouse: Path) -> None:
    previous = os.umask(0o077)  # how a run keeps the working warehouse owner-only
    try:
        _gate_and_publish(warehouse, "b1")
    finally:
        os.umask(previous)
    out = warehouse.parent
    files = [p for p in out.glob("published/**/*") if p.is_file()]
    served = [out / "published.duckdb", out / "report" / "index.html", *files]
    assert len(served) > 3
    for path in served:
        assert path.stat().st_mode & 0o777 == 0o644, path
    for directory in (out / "published", out / "published" / "forms"):
        assert directory.stat().st_mode & 0o777 == 0o755, directory
    assert (out / "builds").stat().st_mode & 0o777 == 0o700


def test_code_version_names_the_commit() -> None:
    version = code_version()
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True
    ).stdout.strip()
    assert version.removesuffix("-dirty") == head
