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
   (:func:`orchestration.publish.exports.recover_exports`): forward when the staged directory's
   ``manifest.json`` names the build ``published.duckdb`` serves, back to the old directory
   otherwise. A crash between steps 1 and 2 leaves the old Parquet files beside the new DuckDB
   file; ``manifest.json`` names its build, so a reader can tell, and the next publish replaces
   both.
3. ``report/.publishing-*.tmp`` → ``report/index.html``: one file, one rename.

This module writes ``published.duckdb`` and runs the sequence; the other jobs have their own
modules: the build's record in ``audit.builds`` (``orchestration/base/build_record.py``, shared
with the gate), ``atomic_files`` (temp, fsync, rename), ``builds`` (the served and the kept
builds), ``exports`` (the Parquet directory) and ``rollback``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from orchestration.base.build_record import BUILD_ID_PATTERN, record_build
from orchestration.base.settings import DBT_MANIFEST_PATH, DBT_PROJECT_DIR
from orchestration.base.warehouse_connection import connect, sql_text, table_exists
from orchestration.publish import parquet_files, publish_changes
from orchestration.publish.atomic_files import (
    PUBLIC_FILE_MODE,
    atomic_copy,
    fsync_dir,
    fsync_path,
    remove_path,
    remove_stale_temps,
    temp_path,
)
from orchestration.publish.builds import (
    BUILDS_DIR_NAME,
    PUBLISHED_FILE_NAME,
    previous_build,
    prune_builds,
)
from orchestration.publish.exports import (
    EXPORT_DIR_NAME,
    export_parquet,
    recover_exports,
    swap_exports,
)

STORAGE_VERSION = "v1.2.0"
"""The oldest DuckDB storage format promised: DuckDB 1.2.0 and later read it (1.1 cannot)."""

MARTS_FOLDER = "marts"
REPORT_DIR_NAME = "report"
REPORT_FILE_NAME = "index.html"

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
    "PublishRefusedError",
    "PublishResult",
    "mart_models",
    "publish",
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


def mart_models(manifest_path: Path = DBT_MANIFEST_PATH) -> dict[str, ModelDocs]:
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
    con.execute(f"comment on table p.main.{_ident(table)} is {sql_text(docs.description)}")
    for column, _ in _columns(con, "p", "main", table):
        text = docs.columns.get(column)
        # An undocumented column is published bare rather than blocking the data; the dbt
        # project's own checks require a description for every mart column.
        if text:
            con.execute(
                f"comment on column p.main.{_ident(table)}.{_ident(column)} is {sql_text(text)}"
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
        con.execute(f"attach {sql_text(str(warehouse_path))} as wh (read_only)")
        _gate_passed(con, build_id)
        con.execute(
            f"attach {sql_text(str(target))} as p (storage_version {sql_text(STORAGE_VERSION)})"
        )
        # A mart in the manifest that the warehouse lacks is not invented; the result names it.
        missing = tuple(m for m in models if not table_exists(con, "marts", m, database="wh"))
        marts = [m for m in models if m not in missing]
        keys = parquet_files.table_keys(DBT_MANIFEST_PATH)
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
        # One transaction for the few hundred comments: each alone committed to the file.
        con.execute("begin transaction")
        for table in marts:
            _comment(con, table, models[table])
        for table, (description, columns) in AUDIT_TABLE_DOCS.items():
            _comment(con, table, ModelDocs(description, columns))
        con.execute("commit")
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


@dataclass
class Prepared:
    """What a publish or rollback serves, written beside its final names, not yet renamed."""

    database: Path
    exports: Path
    report: Path

    def discard(self) -> None:
        for path in (self.database, Path(f"{self.database}.wal"), self.exports, self.report):
            remove_path(path)


def prepare_exports_and_report(prepared: Prepared, warehouse_dir: Path) -> None:
    from orchestration.publish.report.page import write_report

    # Served files are for every reader, whatever umask keeps the working warehouse private.
    os.chmod(prepared.database, PUBLIC_FILE_MODE)
    # The report beside the export, each on its own read-only connection to the prepared file:
    # the export's Parquet writes run in DuckDB, off the interpreter the report's charts need.
    # Leaving the block waits for the report, so nothing writes it once the caller may discard it.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="publish-report") as pool:
        report = pool.submit(write_report, prepared.database, prepared.report)
        export_parquet(prepared.database, prepared.exports, warehouse_dir / EXPORT_DIR_NAME)
        report.result()
    os.chmod(prepared.report, PUBLIC_FILE_MODE)
    fsync_path(prepared.report)


def new_prepared(warehouse_dir: Path) -> Prepared:
    report_dir = warehouse_dir / REPORT_DIR_NAME
    report_dir.mkdir(exist_ok=True)
    remove_stale_temps(report_dir)
    return Prepared(
        database=temp_path(warehouse_dir, "published"),
        exports=temp_path(warehouse_dir, "dir", suffix=""),
        report=temp_path(report_dir, "report", suffix=".html"),
    )


def serve(prepared: Prepared, warehouse_dir: Path) -> None:
    """The renames, in the order the module docstring explains."""
    os.replace(prepared.database, warehouse_dir / PUBLISHED_FILE_NAME)
    fsync_dir(warehouse_dir)


def finish(prepared: Prepared, warehouse_dir: Path) -> None:
    swap_exports(prepared.exports, warehouse_dir / EXPORT_DIR_NAME)
    report_path = warehouse_dir / REPORT_DIR_NAME / REPORT_FILE_NAME
    os.replace(prepared.report, report_path)
    fsync_dir(report_path.parent)


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
    manifest_path: Path = DBT_MANIFEST_PATH,
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
    recover_exports(warehouse_dir)
    builds_dir = warehouse_dir / BUILDS_DIR_NAME
    builds_dir.mkdir(exist_ok=True)
    # Aggregates only, but the kept builds are for the operator who rolls back: owner-only.
    builds_dir.chmod(0o700)
    remove_stale_temps(builds_dir)
    models = mart_models(manifest_path)

    prepared = new_prepared(warehouse_dir)
    try:
        tables, missing = _write_published(
            prepared.database,
            warehouse_path,
            build_id=build_id,
            code_version_text=code_version,
            built_at=started,
            models=models,
            previous=previous_build(warehouse_dir),
        )
        fsync_path(prepared.database)
        prepare_exports_and_report(prepared, warehouse_dir)
        kept_path = builds_dir / f"{build_id}.duckdb"
        atomic_copy(prepared.database, kept_path)
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
        serve(prepared, warehouse_dir)
    except BaseException:
        prepared.discard()
        raise
    try:
        finish(prepared, warehouse_dir)
        prune_builds(warehouse_dir, keep, build_id)
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
