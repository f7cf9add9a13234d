"""Atomic publish of the validated marts: ``published.duckdb``, Parquet files, the plan report.

Why it is built this way (the contract is ``published-warehouse.md``, version 2):

- BI tools hold ``published.duckdb`` open read-only. The new build is written to a temporary file
  in the SAME directory, closed and fsynced, then ``os.replace``-d onto the published name: one
  atomic rename on POSIX. A reader that opened the old file keeps its inode and a consistent
  snapshot; a new process sees the new build.
- The file is written through ``ATTACH ... (STORAGE_VERSION 'v1.2.0')`` so that every DuckDB
  client from 1.2.0 on (the CLI, JDBC, ODBC, Node and the BI tools built on them) opens it; DuckDB
  2.0's own format is unreadable to them. Every table and column carries a COMMENT taken from the
  dbt YAML (through dbt's manifest), and 128-bit integers are cast to BIGINT for BI drivers.
- The published tables are every model of dbt's ``marts`` folder (read from the manifest, so a
  mart added to dbt is published without a change here) plus ``build_info``, ``source_files`` and
  ``validation_summary`` derived from the audit tables. A last scan refuses any column that could
  carry household identity.
- Everything a publish serves is prepared before the one rename that serves it: the DuckDB file,
  the Parquet directory, the report, the copy kept for rollback under ``builds/`` and the build's
  row in ``audit.builds``. So a failure before the rename leaves the last good build served and
  nothing half-written, and a failure after it (only renames and removals are left) still has the
  build recorded and kept: the caller can say "published" truthfully (:class:`AfterPublishError`).
- Publishing requires the gate's pass for the same ``build_id`` in ``audit.validation_results``:
  the publish function cannot be called around the gate by mistake.

The order of the renames, and what a crash between them leaves:

1. ``.publishing-*.tmp`` → ``published.duckdb``: the commit point. Before it, the old build is
   served everywhere; ``builds`` may list the new build as kept (not live), which is a validated
   build one can roll back to.
2. ``published/`` → ``.publishing-old-*``, then ``.publishing-dir-*`` → ``published/``: the Parquet
   files and ``manifest.json`` are swapped as a whole. A crash between the two renames leaves no
   ``published/`` directory for a moment; the next publish or rollback finishes the swap
   (:func:`_recover_exports`): forward when the staged directory's ``manifest.json`` names the
   build ``published.duckdb`` serves, back to the old directory otherwise. A crash between steps
   1 and 2 leaves the old Parquet files beside the new DuckDB file; ``manifest.json`` names its
   build, so a reader can tell, and the next publish replaces both.
3. ``report/.publishing-*.tmp`` → ``report/index.html``: one file, one rename.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import duckdb

from orchestration.base.settings import DBT_PROJECT_DIR, REPO_ROOT
from orchestration.base.warehouse_connection import connect, table_exists
from orchestration.publish import parquet_files, publish_changes
from orchestration.publish.forms import FORMS_DIR_NAME, write_forms

STORAGE_VERSION = "v1.2.0"
"""The oldest DuckDB storage format promised: DuckDB 1.2.0 and later read it (1.1 cannot)."""

DEFAULT_MANIFEST_PATH = DBT_PROJECT_DIR / "target" / "manifest.json"
MARTS_FOLDER = "marts"
PUBLISHED_FILE_NAME = "published.duckdb"
EXPORT_DIR_NAME = "published"
EXPORT_MANIFEST_NAME = "manifest.json"
REPORT_DIR_NAME = "report"
REPORT_FILE_NAME = "index.html"
BUILDS_DIR_NAME = "builds"
TEMP_PREFIX = ".publishing-"
PUBLIC_FILE_MODE = 0o644
PUBLIC_DIR_MODE = 0o755
BUILD_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
"""What a build id looks like: no dot, no slash, so it never names a path outside ``builds/``."""

FORBIDDEN_COLUMN_FRAGMENTS = ("household_code", "head_", "id_number", "citizen", "raw_record")
FORBIDDEN_COLUMNS = ("village", "ethnicity", "income_per_capita", "source_row")
"""Column names that would mean household rows or identity leaked into the published file."""

SOURCE_FILES_COLUMNS = (
    "review_year",
    "dataset",
    "file_name",
    "sha256",
    "size_bytes",
    "lines",
    "rows_read",
    "rows_loaded",
    "rows_quarantined",
    "status",
    "status_reason",
)
"""The contract's ``source_files`` columns, in order (NULL where the audit table lacks one)."""
SOURCE_FILES_TYPES = {"review_year": "integer", "size_bytes": "bigint", "lines": "bigint"}

AUDIT_TABLE_DOCS: dict[str, tuple[str, dict[str, str]]] = {
    "build_info": (
        "The build these tables come from (bản dựng), one row.",
        {
            "build_id": "Build identifier (mã bản dựng): UTC time of the gate run and the run id.",
            "built_at": "When the publish wrote this build (UTC).",
            "code_version": "Git commit of the pipeline code (-dirty with local changes).",
            "standards": "Poverty standards (chuẩn nghèo) of the published review years.",
            "rows_read": "Data rows read from the source files (dòng đọc được).",
            "rows_loaded": "Rows loaded into the warehouse (dòng đã nạp).",
            "rows_quarantined": "Rows set aside with a reason (dòng bị cách ly).",
            "files_quarantined": "Files set aside whole (tệp bị cách ly).",
            "communes_not_reported": (
                "Commune-years with no loaded survey row (xã chưa báo cáo): NULL counts and rates."
            ),
            "previous_build_id": (
                "The published build this one was compared with in publish_changes (NULL: the "
                "first publish of the directory)."
            ),
        },
    ),
    "source_files": (
        "Every input file seen (tệp nguồn), one row per file in its latest state, with how it "
        "was read (the full history stays in the working warehouse's audit.source_files).",
        {
            "review_year": "Review year (năm rà soát) of the file's folder.",
            "dataset": "Dataset of the file (households, commune_totals, difficult_areas).",
            "file_name": "File name relative to the raw directory.",
            "sha256": "SHA-256 of the file's bytes as loaded (hashed again after loading).",
            "size_bytes": "File size in bytes.",
            "lines": "Physical lines of a CSV, rows of an XLSX sheet (NULL when not counted).",
            "rows_read": "Data rows read (dòng đọc được).",
            "rows_loaded": "Rows loaded (dòng đã nạp).",
            "rows_quarantined": "Rows quarantined (dòng bị cách ly).",
            "status": "loaded, duplicate, replaced, removed, quarantined or ignored.",
            "status_reason": "Why a file is not loaded in full (lý do), NULL when it is.",
        },
    ),
    "validation_summary": (
        "The quality gate's expectations for this build (kiểm tra chất lượng), one row each.",
        {
            "suite": "Great Expectations suite.",
            "expectation": "Expectation name (what is checked).",
            "severity": "critical (blocks publishing) or warning (cảnh báo).",
            "table_name": "Table the expectation checks.",
            "column_name": "Column the expectation checks (NULL for a table-level check).",
            "success": "Whether the expectation held (đạt).",
            "offending_rows": "Rows that broke the expectation (NULL when not counted).",
            "sample_keys": "JSON list of a few offending rows' keys (codes and years only).",
        },
    ),
    publish_changes.CHANGES_TABLE: publish_changes.DOCS,
}
AUDIT_TABLES = tuple(AUDIT_TABLE_DOCS)

__all__ = [
    "AfterPublishError",
    "BuildFile",
    "PublishRefusedError",
    "PublishResult",
    "code_version",
    "list_builds",
    "live_build_id",
    "mart_models",
    "publish",
    "record_build",
    "rollback",
    "seed_checksums",
]


class PublishRefusedError(RuntimeError):
    """The build may not be published (gate not passed, or identity columns found)."""


class AfterPublishError(RuntimeError):
    """The build WAS published (``published.duckdb`` serves it), but a step after failed.

    The build is recorded in ``audit.builds`` and kept under ``builds/``; what failed is a later
    rename (the Parquet directory or the report) or the pruning of old builds.
    """

    def __init__(self, build_id: str, cause: BaseException) -> None:
        super().__init__(
            f"build {build_id} was published (published.duckdb serves it), but finishing the "
            f"Parquet files or the report failed: {cause}"
        )
        self.build_id = build_id


@dataclass(frozen=True)
class ModelDocs:
    """A published table's description and its columns' descriptions, from the dbt YAML."""

    description: str
    columns: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PublishResult:
    build_id: str
    published_path: Path
    kept_path: Path
    export_dir: Path
    report_path: Path
    tables: dict[str, int]
    duration_s: float
    published_at: datetime
    marts_missing: tuple[str, ...] = ()


@dataclass(frozen=True)
class BuildFile:
    build_id: str
    path: Path
    size_bytes: int
    modified_at: datetime


def code_version(repo_root: Path = REPO_ROOT) -> str:
    """The git commit of the code (``-dirty`` with local changes), else the package version."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=repo_root,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=repo_root,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        return f"{commit}-dirty" if dirty else commit
    except (OSError, subprocess.SubprocessError):
        try:
            return metadata.version("poverty-warehouse")
        except metadata.PackageNotFoundError:
            return "unknown"


def seed_checksums(seeds_dir: Path = DBT_PROJECT_DIR / "seeds") -> dict[str, str]:
    """sha256 of each dbt seed CSV: which thresholds and targets the build was computed with."""
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(Path(seeds_dir).glob("*.csv"))
    }


def mart_models(manifest_path: Path = DEFAULT_MANIFEST_PATH) -> dict[str, ModelDocs]:
    """Every model of dbt's ``marts`` folder with its YAML descriptions, by table name."""
    manifest = json.loads(Path(manifest_path).read_text(encoding="utf-8"))
    models: dict[str, ModelDocs] = {}
    for node in manifest.get("nodes", {}).values():
        if node.get("resource_type") != "model" or MARTS_FOLDER not in node.get("fqn", [])[1:-1]:
            continue
        name = node.get("alias") or node["name"]
        models[name] = ModelDocs(
            description=(node.get("description") or "").strip(),
            columns={
                column: (spec.get("description") or "").strip()
                for column, spec in node.get("columns", {}).items()
            },
        )
    return dict(sorted(models.items()))


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        _fsync_path(directory)


def _temp_path(directory: Path, stem: str, suffix: str = ".tmp") -> Path:
    fd, name = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{stem}-", suffix=suffix, dir=directory)
    os.close(fd)
    os.unlink(name)  # DuckDB must create the file itself
    return Path(name)


def _remove_path(path: Path) -> None:
    with contextlib.suppress(OSError):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


def _remove_stale_temps(directory: Path) -> None:
    """Leftovers of a publish that was killed before its renames."""
    if directory.is_dir():
        for path in directory.glob(f"{TEMP_PREFIX}*"):
            _remove_path(path)


def _atomic_copy(source: Path, destination: Path) -> None:
    """Copy into a temp file beside ``destination``, fsync, then rename over it."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    temp = _temp_path(destination.parent, destination.stem)
    try:
        with open(source, "rb") as reader, open(temp, "wb") as writer:
            shutil.copyfileobj(reader, writer, 1 << 20)
            writer.flush()
            os.fsync(writer.fileno())
        os.replace(temp, destination)
        _fsync_dir(destination.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _gate_passed(con: duckdb.DuckDBPyConnection, build_id: str) -> None:
    if not table_exists(con, "audit", "validation_results", database="wh"):
        raise PublishRefusedError(f"no quality-gate results recorded for build {build_id}")
    row = con.execute(
        """
        select count(*), count(*) filter (where not success and severity = 'critical')
        from wh.audit.validation_results where build_id = ?
        """,
        [build_id],
    ).fetchone()
    if not row or row[0] == 0:
        raise PublishRefusedError(f"no quality-gate results recorded for build {build_id}")
    if row[1]:
        raise PublishRefusedError(
            f"build {build_id} failed {row[1]} critical expectation(s); not publishing"
        )


def _columns(con: duckdb.DuckDBPyConnection, database: str, schema: str, table: str) -> list:
    return con.execute(
        """
        select column_name, data_type from duckdb_columns()
        where database_name = ? and schema_name = ? and table_name = ?
        order by column_index
        """,
        [database, schema, table],
    ).fetchall()


def _select_list(columns: Iterable[tuple[str, str]]) -> str:
    """Columns as they are, except 128-bit integers (``sum()`` of integers) cast to BIGINT."""
    parts = []
    for name, data_type in columns:
        if data_type in ("HUGEINT", "UHUGEINT"):
            parts.append(f"{_ident(name)}::bigint as {_ident(name)}")
        else:
            parts.append(_ident(name))
    return ", ".join(parts)


def _create_audit_tables(
    con: duckdb.DuckDBPyConnection, *, build_id: str, code_version_text: str, built_at: datetime
) -> None:
    audit_columns = {name for name, _ in _columns(con, "wh", "audit", "source_files")}

    def audit_column(name: str) -> str:
        if name in audit_columns:
            return _ident(name)
        return f"null::{SOURCE_FILES_TYPES.get(name, 'varchar')} as {_ident(name)}"

    con.execute(
        f"""
        create table p.main.source_files as
        select {", ".join(audit_column(c) for c in SOURCE_FILES_COLUMNS)}
        from wh.audit.source_files
        -- Each file once, in its latest state: the file as it is now when it is in the raw
        -- directory, else its last row (removed); the history stays in audit.source_files.
        qualify row_number() over (
            partition by review_year, dataset, file_name
            order by status in ('replaced', 'removed'), last_seen_at desc, first_seen_at desc
        ) = 1
        order by review_year, dataset, file_name
        """
    )
    not_reported = (
        "(select count(*) from wh.marts.commune_year where reporting_status = 'not_reported')"
        if "reporting_status" in {n for n, _ in _columns(con, "wh", "marts", "commune_year")}
        else "0"
    )
    con.execute(
        f"""
        create table p.main.build_info as
        with files as (
            select * from wh.audit.source_files where status not in ('replaced', 'removed')
        ),
        standards as (
            select string_agg(standard_id, ',' order by first_year, standard_id) as standards
            from (
                select standard_id, min(review_year) as first_year
                from wh.marts.commune_year
                where standard_id is not null
                group by standard_id
            )
        )
        select
            ?::varchar as build_id,
            ?::timestamptz as built_at,
            ?::varchar as code_version,
            (select standards from standards) as standards,
            coalesce(sum(rows_read), 0)::bigint as rows_read,
            coalesce(sum(rows_loaded), 0)::bigint as rows_loaded,
            coalesce(sum(rows_quarantined), 0)::bigint as rows_quarantined,
            count(*) filter (where status = 'quarantined')::bigint as files_quarantined,
            {not_reported}::bigint as communes_not_reported
        from files
        """,
        [build_id, built_at, code_version_text],
    )
    # offending_rows: taken from the gate's column when it has one, else read from the observed
    # text the gate writes ("7 of 18 row(s) unexpected", "7 offending row(s)"); NULL otherwise.
    result_columns = {n for n, _ in _columns(con, "wh", "audit", "validation_results")}
    offending = (
        "offending_rows::bigint"
        if "offending_rows" in result_columns
        else (
            "case when success then 0 else try_cast(regexp_extract(observed, "
            "'^\\s*(\\d+) (?:of \\d+ row\\(s\\) unexpected|offending row\\(s\\))', 1) "
            "as bigint) end"
        )
    )
    con.execute(
        f"""
        create table p.main.validation_summary as
        select
            suite,
            expectation,
            severity,
            table_name,
            column_name,
            success,
            {offending} as offending_rows,
            coalesce(offending_keys, '[]') as sample_keys
        from wh.audit.validation_results
        where build_id = ?
        order by severity, suite, table_name, expectation, column_name
        """,
        [build_id],
    )


def _comment(con: duckdb.DuckDBPyConnection, table: str, docs: ModelDocs) -> None:
    con.execute(f"comment on table p.main.{_ident(table)} is {_sql_text(docs.description)}")
    for column, _ in _columns(con, "p", "main", table):
        text = docs.columns.get(column)
        # An undocumented column is published bare rather than blocking the data; the dbt
        # project's own checks require a description for every mart column.
        if text:
            con.execute(
                f"comment on column p.main.{_ident(table)}.{_ident(column)} is {_sql_text(text)}"
            )


def _write_published(
    target: Path,
    warehouse_path: Path,
    *,
    build_id: str,
    code_version_text: str,
    built_at: datetime,
    models: dict[str, ModelDocs],
    previous: tuple[str, Path] | None = None,
) -> tuple[dict[str, int], tuple[str, ...]]:
    tables: dict[str, int] = {}
    con = connect(":memory:")
    try:
        con.execute(f"attach {_sql_text(str(warehouse_path))} as wh (read_only)")
        _gate_passed(con, build_id)
        con.execute(
            f"attach {_sql_text(str(target))} as p (storage_version {_sql_text(STORAGE_VERSION)})"
        )
        # A mart in the manifest that the warehouse lacks is not invented; the result names it.
        missing = tuple(m for m in models if not table_exists(con, "marts", m, database="wh"))
        marts = [m for m in models if m not in missing]
        keys = parquet_files.table_keys(DEFAULT_MANIFEST_PATH)
        for table in marts:
            select = _select_list(_columns(con, "wh", "marts", table))
            name = _ident(table)
            # Rows in the table's key order, as the Parquet files have them.
            order = parquet_files.order_clause(con, "wh", table, keys.get(table, ()), "marts")
            con.execute(
                f"create table p.main.{name} as select {select} from wh.marts.{name} {order}"
            )
        _create_audit_tables(
            con, build_id=build_id, code_version_text=code_version_text, built_at=built_at
        )
        publish_changes.write_publish_changes(
            con, "p", previous[1] if previous else None, previous[0] if previous else None
        )
        for table in marts:
            _comment(con, table, models[table])
        for table, (description, columns) in AUDIT_TABLE_DOCS.items():
            _comment(con, table, ModelDocs(description, columns))
        leaked = [
            (table, column)
            for table, column in con.execute(
                "select table_name, lower(column_name) from duckdb_columns() "
                "where database_name = 'p'"
            ).fetchall()
            if column in FORBIDDEN_COLUMNS
            or any(fragment in column for fragment in FORBIDDEN_COLUMN_FRAGMENTS)
        ]
        if leaked:
            raise PublishRefusedError(f"identity columns would be published: {leaked}")
        for table in (*marts, *AUDIT_TABLES):
            count = con.execute(f"select count(*) from p.main.{_ident(table)}").fetchone()
            tables[table] = int(count[0]) if count else 0
        con.execute("detach p")
        con.execute("detach wh")
    finally:
        con.close()
    return tables, missing


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as reader:
        while chunk := reader.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _export_parquet(published_file: Path, directory: Path) -> str:
    """Write every table of ``published_file`` as Parquet, the province workbooks and
    ``manifest.json``; its build id."""
    directory.mkdir(parents=True)
    entries = []
    keys = parquet_files.table_keys(DEFAULT_MANIFEST_PATH)
    con = connect(":memory:")
    try:
        con.execute(f"attach {_sql_text(str(published_file))} as p (read_only)")
        row = con.execute("select build_id from p.main.build_info").fetchone()
        build_id = str(row[0]) if row else ""
        names = [
            name
            for (name,) in con.execute(
                "select table_name from duckdb_tables() where database_name = 'p' order by 1"
            ).fetchall()
        ]
        for name in names:
            path = directory / f"{name}.parquet"
            rows = parquet_files.write_parquet(con, "p", name, path, keys.get(name, ()))
            entries.append({"table": name, "file": path.name, "rows": rows})
        forms = write_forms(con, "p", directory / FORMS_DIR_NAME, build_id)
        con.execute("detach p")
    finally:
        con.close()
    for entry in (*entries, *forms):
        path = directory / entry["file"]
        os.chmod(path, PUBLIC_FILE_MODE)
        _fsync_path(path)
        entry["sha256"] = _sha256(path)
    manifest = {
        "build_id": build_id,
        "previous_build_id": publish_changes.previous_build_id(published_file),
        "storage": "parquet",
        "files": entries,
        "forms": forms,
    }
    manifest_path = directory / EXPORT_MANIFEST_NAME
    with open(manifest_path, "w", encoding="utf-8") as writer:
        json.dump(manifest, writer, indent=2, ensure_ascii=False)
        writer.write("\n")
        writer.flush()
        os.fsync(writer.fileno())
    os.chmod(manifest_path, PUBLIC_FILE_MODE)
    if (directory / FORMS_DIR_NAME).is_dir():
        os.chmod(directory / FORMS_DIR_NAME, PUBLIC_DIR_MODE)
    os.chmod(directory, PUBLIC_DIR_MODE)
    _fsync_dir(directory)
    return build_id


def _manifest_build_id(directory: Path) -> str | None:
    try:
        return json.loads((directory / EXPORT_MANIFEST_NAME).read_text(encoding="utf-8"))[
            "build_id"
        ]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _recover_exports(warehouse_dir: Path) -> None:
    """Finish a directory swap a crash interrupted (see the module docstring), then tidy up."""
    live_dir = warehouse_dir / EXPORT_DIR_NAME
    if not live_dir.exists():
        live = live_build_id(warehouse_dir)
        staged = sorted(warehouse_dir.glob(f"{TEMP_PREFIX}dir-*"))
        olds = sorted(warehouse_dir.glob(f"{TEMP_PREFIX}old-*"))
        forward = [d for d in staged if live and _manifest_build_id(d) == live]
        if forward:
            os.rename(forward[-1], live_dir)
        elif olds:
            os.rename(olds[-1], live_dir)
        _fsync_dir(warehouse_dir)
    _remove_stale_temps(warehouse_dir)


def _swap_exports(staged: Path, live_dir: Path) -> None:
    old = None
    if live_dir.exists():
        old = _temp_path(live_dir.parent, "old", suffix="")
        os.rename(live_dir, old)
    os.rename(staged, live_dir)
    _fsync_dir(live_dir.parent)
    if old is not None:
        _remove_path(old)


@dataclass
class _Prepared:
    """What a publish or rollback serves, written beside its final names, not yet renamed."""

    database: Path
    exports: Path
    report: Path

    def discard(self) -> None:
        for path in (self.database, Path(f"{self.database}.wal"), self.exports, self.report):
            _remove_path(path)


def _prepare_exports_and_report(prepared: _Prepared, warehouse_dir: Path) -> None:
    from orchestration.publish.report import write_report

    # Served files are for every reader, whatever umask keeps the working warehouse private.
    os.chmod(prepared.database, PUBLIC_FILE_MODE)
    _export_parquet(prepared.database, prepared.exports)
    write_report(prepared.database, prepared.report)
    os.chmod(prepared.report, PUBLIC_FILE_MODE)
    _fsync_path(prepared.report)


def _new_prepared(warehouse_dir: Path) -> _Prepared:
    report_dir = warehouse_dir / REPORT_DIR_NAME
    report_dir.mkdir(exist_ok=True)
    _remove_stale_temps(report_dir)
    return _Prepared(
        database=_temp_path(warehouse_dir, "published"),
        exports=_temp_path(warehouse_dir, "dir", suffix=""),
        report=_temp_path(report_dir, "report", suffix=".html"),
    )


def _serve(prepared: _Prepared, warehouse_dir: Path) -> None:
    """The renames, in the order the module docstring explains."""
    os.replace(prepared.database, warehouse_dir / PUBLISHED_FILE_NAME)
    _fsync_dir(warehouse_dir)


def _finish(prepared: _Prepared, warehouse_dir: Path) -> None:
    _swap_exports(prepared.exports, warehouse_dir / EXPORT_DIR_NAME)
    report_path = warehouse_dir / REPORT_DIR_NAME / REPORT_FILE_NAME
    os.replace(prepared.report, report_path)
    _fsync_dir(report_path.parent)


BUILDS_DDL = """
create schema if not exists audit;
create table if not exists audit.builds (
    build_id varchar not null,
    run_id varchar not null,
    code_version varchar not null,
    dbt_invocation_id varchar,
    seed_checksums varchar,
    validation_passed boolean not null,
    published_at timestamptz,
    published_path varchar,
    kept_path varchar
);
"""


def record_build(
    warehouse_path: Path,
    *,
    build_id: str,
    run_id: str,
    code_version_text: str,
    validation_passed: bool,
    published_at: datetime | None,
    published_path: Path | None,
    kept_path: Path | None,
    dbt_invocation_id: str | None = None,
    seeds_dir: Path = DBT_PROJECT_DIR / "seeds",
) -> None:
    """Write the build's one record in ``audit.builds``, replacing an earlier one of the same id.

    The quality gate creates the record when it validates the build (blocked builds included);
    the publish completes it just before the rename that serves the build, so ``published_at``
    is the time the build was committed to be served.
    """
    with connect(warehouse_path) as con:
        con.execute(BUILDS_DDL)
        con.execute("begin transaction")
        con.execute("delete from audit.builds where build_id = ?", [build_id])
        con.execute(
            "insert into audit.builds values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                build_id,
                run_id,
                code_version_text,
                dbt_invocation_id,
                json.dumps(seed_checksums(seeds_dir), sort_keys=True),
                validation_passed,
                published_at,
                str(published_path) if published_path else None,
                str(kept_path) if kept_path else None,
            ],
        )
        con.execute("commit")


def _prune_builds(warehouse_dir: Path, keep: int, live: str) -> None:
    for old in list_builds(warehouse_dir)[max(keep, 1) :]:
        if old.build_id != live:
            _remove_path(old.path)


def _previous_build(warehouse_dir: Path) -> tuple[str, Path] | None:
    """The build served until this publish and its file (the kept copy, else the served one)."""
    live = live_build_id(warehouse_dir)
    if live is None:
        return None
    kept = warehouse_dir / BUILDS_DIR_NAME / f"{live}.duckdb"
    return live, kept if kept.is_file() else warehouse_dir / PUBLISHED_FILE_NAME


def publish(
    warehouse_path: Path,
    published_path: Path,
    *,
    build_id: str,
    run_id: str,
    code_version: str,
    keep: int = 5,
    dbt_invocation_id: str | None = None,
    seeds_dir: Path = DBT_PROJECT_DIR / "seeds",
    manifest_path: Path = DEFAULT_MANIFEST_PATH,
) -> PublishResult:
    """Publish the validated marts of ``warehouse_path`` atomically as ``published_path``.

    The Parquet files go to ``published/`` and the report to ``report/index.html`` beside it.
    Raises :class:`PublishRefusedError` (everything served stays untouched) when the gate has no
    pass recorded for ``build_id``; any other error before the rename leaves everything served
    untouched too; :class:`AfterPublishError` means the build was published.
    """
    if not BUILD_ID_PATTERN.fullmatch(build_id):
        raise ValueError(f"not a build id: {build_id!r}")
    started = datetime.now(UTC)
    warehouse_path = Path(warehouse_path).resolve()
    published_path = Path(published_path).resolve()
    if published_path.name != PUBLISHED_FILE_NAME:
        raise ValueError(f"the published file must be named {PUBLISHED_FILE_NAME}")
    warehouse_dir = published_path.parent
    warehouse_dir.mkdir(parents=True, exist_ok=True)
    _recover_exports(warehouse_dir)
    builds_dir = warehouse_dir / BUILDS_DIR_NAME
    builds_dir.mkdir(exist_ok=True)
    # Aggregates only, but the kept builds are for the operator who rolls back: owner-only.
    builds_dir.chmod(0o700)
    _remove_stale_temps(builds_dir)
    models = mart_models(manifest_path)

    prepared = _new_prepared(warehouse_dir)
    try:
        tables, missing = _write_published(
            prepared.database,
            warehouse_path,
            build_id=build_id,
            code_version_text=code_version,
            built_at=started,
            models=models,
            previous=_previous_build(warehouse_dir),
        )
        _fsync_path(prepared.database)
        _prepare_exports_and_report(prepared, warehouse_dir)
        kept_path = builds_dir / f"{build_id}.duckdb"
        _atomic_copy(prepared.database, kept_path)
        published_at = datetime.now(UTC)
        record_build(
            warehouse_path,
            build_id=build_id,
            run_id=run_id,
            code_version_text=code_version,
            validation_passed=True,
            published_at=published_at,
            published_path=published_path,
            kept_path=kept_path,
            dbt_invocation_id=dbt_invocation_id,
            seeds_dir=seeds_dir,
        )
        _serve(prepared, warehouse_dir)
    except BaseException:
        prepared.discard()
        raise
    try:
        _finish(prepared, warehouse_dir)
        _prune_builds(warehouse_dir, keep, build_id)
    except Exception as error:
        raise AfterPublishError(build_id, error) from error
    return PublishResult(
        build_id=build_id,
        published_path=published_path,
        kept_path=kept_path,
        export_dir=warehouse_dir / EXPORT_DIR_NAME,
        report_path=warehouse_dir / REPORT_DIR_NAME / REPORT_FILE_NAME,
        tables=tables,
        duration_s=(datetime.now(UTC) - started).total_seconds(),
        published_at=published_at,
        marts_missing=missing,
    )


def _build_files(warehouse_dir: Path) -> list[tuple[BuildFile, str | None]]:
    """Every ``builds/<id>.duckdb`` (regular files named by a build id only), newest first,
    each with why it is not a build of this warehouse (None when it is one)."""
    builds_dir = Path(warehouse_dir) / BUILDS_DIR_NAME
    if not builds_dir.is_dir():
        return []
    found = []
    for path in builds_dir.glob("*.duckdb"):
        if path.is_symlink() or not path.is_file() or not BUILD_ID_PATTERN.fullmatch(path.stem):
            continue
        stat = path.stat()
        build = BuildFile(
            build_id=path.stem,
            path=path,
            size_bytes=stat.st_size,
            modified_at=datetime.fromtimestamp(stat.st_mtime, UTC),
        )
        found.append((build, _not_a_build(path)))
    return sorted(found, key=lambda b: (b[0].modified_at, b[0].build_id), reverse=True)


def _not_a_build(path: Path) -> str | None:
    """Why ``path`` is not a published build of its name (its ``build_info`` names it), or None.

    A file copied into ``builds/`` by hand (another warehouse's file, any DuckDB file, anything
    else named ``*.duckdb``) is never listed, served or pruned.
    """
    con = connect(":memory:")
    try:
        con.execute(f"attach {_sql_text(str(path))} as b (read_only)")
        row = con.execute("select build_id from b.main.build_info").fetchone()
    except duckdb.Error as error:
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        return f"no build_info can be read from it: {first}"
    finally:
        con.close()
    if row is None or str(row[0]) != path.stem:
        return f"its build_info names build {row[0] if row else 'none'}, not {path.stem}"
    return None


def list_builds(warehouse_dir: Path) -> list[BuildFile]:
    """Kept published builds, newest first (files whose ``build_info`` names their build)."""
    return [build for build, problem in _build_files(warehouse_dir) if problem is None]


def foreign_builds(warehouse_dir: Path) -> list[tuple[BuildFile, str]]:
    """Files in ``builds/`` named like a build that are not one, with why (never served)."""
    return [(build, problem) for build, problem in _build_files(warehouse_dir) if problem]


def live_build_id(warehouse_dir: Path) -> str | None:
    """The build ``published.duckdb`` serves now (its ``build_info``), None when there is none.

    Read through an in-memory database that ATTACHes the file: ``duckdb.connect(path)`` would
    reuse a database instance this process may still hold open, and report the build it saw then.
    """
    path = Path(warehouse_dir) / PUBLISHED_FILE_NAME
    if not path.is_file():
        return None
    con = connect(":memory:")
    try:
        con.execute(f"attach {_sql_text(str(path))} as p (read_only)")
        row = con.execute("select build_id from p.main.build_info").fetchone()
        return str(row[0]) if row else None
    except duckdb.Error:
        return None
    finally:
        con.close()


def rollback(warehouse_dir: Path, build_id: str) -> Path:
    """Serve a kept build again: its DuckDB file, Parquet files and report, each renamed in.

    Only a build id that :func:`list_builds` lists is accepted: anything else (a path, another
    file of the directory) is refused with the ids one may choose from.
    """
    warehouse_dir = Path(warehouse_dir).resolve()
    kept = {b.build_id: b.path for b in list_builds(warehouse_dir)}
    if build_id not in kept:
        listed = ", ".join(kept) or "none"
        foreign = {b.build_id: problem for b, problem in foreign_builds(warehouse_dir)}
        why = (
            f": builds/{build_id}.duckdb is not a published build ({foreign[build_id]})"
            if build_id in foreign
            else ""
        )
        raise ValueError(f"{build_id!r} is not a kept build id{why} (kept: {listed})")
    _recover_exports(warehouse_dir)
    prepared = _new_prepared(warehouse_dir)
    try:
        _atomic_copy(kept[build_id], prepared.database)
        _prepare_exports_and_report(prepared, warehouse_dir)
        _serve(prepared, warehouse_dir)
    except BaseException:
        prepared.discard()
        raise
    try:
        _finish(prepared, warehouse_dir)
    except Exception as error:
        raise AfterPublishError(build_id, error) from error
    return warehouse_dir / PUBLISHED_FILE_NAME
