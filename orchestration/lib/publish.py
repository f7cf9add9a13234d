"""Atomic publish of the validated marts to ``published.duckdb``, with rollback copies.

Why it is built this way (see ``../shared/contracts/published-warehouse.md``):

- BI tools hold ``published.duckdb`` open read-only. The new build is written to a temporary file
  in the SAME directory, checkpointed, closed and fsynced, then ``os.replace``-d onto the published
  name: one atomic rename on POSIX. A reader that opened the old file keeps its inode and a
  consistent snapshot; a new connection sees the new build (long-lived readers must reconnect).
- A crash at any point before the rename leaves the last good file untouched; a stale temporary
  file is removed by the next publish.
- The published file holds aggregates only. The tables are copied by name from the contract, and
  a last scan refuses any column that could carry household identity.
- The last ``keep`` published files stay under ``<warehouse_dir>/builds/<build_id>.duckdb`` so a
  bad build can be rolled back with one atomic replace, and auditors can open what was served.
- Publishing requires the gate's pass for the same ``build_id`` in ``audit.validation_results``:
  the publish function cannot be called around the gate by mistake.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import duckdb

from orchestration.settings import DBT_PROJECT_DIR, REPO_ROOT

CONTRACT_MART_TABLES = (
    "commune_year",
    "district_year",
    "province_year",
    "commune_year_deprivation",
    "province_year_deprivation",
    "territory_year",
    "plans",
    "target_progress",
)
SOURCE_FILES_COLUMNS = (
    "review_year",
    "dataset",
    "file_name",
    "sha256",
    "size_bytes",
    "rows_read",
    "rows_loaded",
    "rows_quarantined",
    "status",
)
FORBIDDEN_COLUMN_FRAGMENTS = ("household_code", "head_", "id_number", "citizen", "raw_record")
FORBIDDEN_COLUMNS = ("village", "ethnicity", "income_per_capita", "source_row")
"""Column names that would mean household rows or identity leaked into the published file."""

BUILDS_DIR_NAME = "builds"
TEMP_PREFIX = ".publishing-"

__all__ = [
    "PublishRefusedError",
    "PublishResult",
    "BuildFile",
    "code_version",
    "list_builds",
    "publish",
    "rollback",
    "seed_checksums",
]


class PublishRefusedError(RuntimeError):
    """The build may not be published (gate not passed, or identity columns found)."""


@dataclass(frozen=True)
class PublishResult:
    build_id: str
    published_path: Path
    kept_path: Path
    tables: dict[str, int]
    duration_s: float
    published_at: datetime


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


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        _fsync_path(directory)


def _temp_path(directory: Path, stem: str) -> Path:
    fd, name = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{stem}-", suffix=".tmp", dir=directory)
    os.close(fd)
    os.unlink(name)  # DuckDB must create the file itself
    return Path(name)


def _remove_stale_temps(directory: Path) -> None:
    """Leftovers of a publish that was killed before its rename."""
    for path in directory.glob(f"{TEMP_PREFIX}*"):
        with contextlib.suppress(OSError):
            path.unlink()


def _atomic_copy(source: Path, destination: Path) -> None:
    """Copy into a temp file beside ``destination``, fsync, then rename over it."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    temp = _temp_path(destination.parent, destination.stem)
    try:
        with open(source, "rb") as reader, open(temp, "wb") as writer:
            while chunk := reader.read(1 << 20):
                writer.write(chunk)
            writer.flush()
            os.fsync(writer.fileno())
        os.replace(temp, destination)
        _fsync_dir(destination.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()


def _gate_passed(con: duckdb.DuckDBPyConnection, build_id: str) -> bool:
    recorded = con.execute(
        """
        select count(*) from duckdb_tables()
        where database_name = 'wh' and schema_name = 'audit' and table_name = 'validation_results'
        """
    ).fetchone()
    if not recorded or not recorded[0]:
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
    return True


def _write_published(
    target: Path,
    warehouse_path: Path,
    *,
    build_id: str,
    code_version_text: str,
    built_at: datetime,
) -> dict[str, int]:
    tables: dict[str, int] = {}
    con = duckdb.connect(str(target))
    try:
        con.execute("set enable_progress_bar = false")
        quoted = str(warehouse_path).replace("'", "''")
        con.execute(f"attach '{quoted}' as wh (read_only)")
        _gate_passed(con, build_id)
        for table in CONTRACT_MART_TABLES:
            con.execute(f"create table main.{table} as select * from wh.marts.{table}")
        con.execute(
            """
            create table main.build_info as
            with files as (
                select * from wh.audit.source_files where status <> 'replaced'
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
            select ?::varchar as build_id, ?::timestamptz as built_at,
                ?::varchar as code_version, (select standards from standards) as standards,
                coalesce(sum(rows_read), 0)::bigint as rows_read,
                coalesce(sum(rows_loaded), 0)::bigint as rows_loaded,
                coalesce(sum(rows_quarantined), 0)::bigint as rows_quarantined
            from files
            """,
            [build_id, built_at, code_version_text],
        )
        columns = ", ".join(SOURCE_FILES_COLUMNS)
        con.execute(
            f"""
            create table main.source_files as
            select {columns} from wh.audit.source_files
            order by review_year, dataset, file_name, first_seen_at
            """
        )
        con.execute("detach wh")
        leaked = [
            (table, column)
            for table, column in con.execute(
                "select table_name, lower(column_name) from information_schema.columns"
            ).fetchall()
            if column in FORBIDDEN_COLUMNS
            or any(fragment in column for fragment in FORBIDDEN_COLUMN_FRAGMENTS)
        ]
        if leaked:
            raise PublishRefusedError(f"identity columns would be published: {leaked}")
        for table in (*CONTRACT_MART_TABLES, "build_info", "source_files"):
            count = con.execute(f"select count(*) from main.{table}").fetchone()
            tables[table] = int(count[0]) if count else 0
        con.execute("checkpoint")
    finally:
        con.close()
    return tables


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
    """Append the build's record to ``audit.builds`` (also for a build the gate blocked)."""
    with duckdb.connect(str(warehouse_path)) as con:
        con.execute("set enable_progress_bar = false")
        con.execute(BUILDS_DDL)
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


def _prune_builds(builds_dir: Path, keep: int) -> None:
    for old in list_builds(builds_dir.parent)[max(keep, 1) :]:
        with contextlib.suppress(OSError):
            old.path.unlink()


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
) -> PublishResult:
    """Publish the validated marts of ``warehouse_path`` atomically onto ``published_path``.

    Raises :class:`PublishRefusedError` (leaving the published file untouched) when the gate has
    no pass recorded for ``build_id``.
    """
    started = datetime.now(UTC)
    warehouse_path = Path(warehouse_path).resolve()
    published_path = Path(published_path).resolve()
    directory = published_path.parent
    directory.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(directory)
    builds_dir = directory / BUILDS_DIR_NAME
    builds_dir.mkdir(exist_ok=True)
    _remove_stale_temps(builds_dir)

    temp = _temp_path(directory, "published")
    try:
        tables = _write_published(
            temp,
            warehouse_path,
            build_id=build_id,
            code_version_text=code_version,
            built_at=started,
        )
        _fsync_path(temp)
        os.replace(temp, published_path)
        _fsync_dir(directory)
    finally:
        for leftover in (temp, Path(f"{temp}.wal")):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
    # Kept only once it was really served: a crash before the rename leaves no phantom build.
    kept_path = builds_dir / f"{build_id}.duckdb"
    _atomic_copy(published_path, kept_path)
    _prune_builds(builds_dir, keep)
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
    return PublishResult(
        build_id=build_id,
        published_path=published_path,
        kept_path=kept_path,
        tables=tables,
        duration_s=(published_at - started).total_seconds(),
        published_at=published_at,
    )


def list_builds(warehouse_dir: Path) -> list[BuildFile]:
    """Kept published builds, newest first."""
    builds_dir = Path(warehouse_dir) / BUILDS_DIR_NAME
    if not builds_dir.is_dir():
        return []
    found = []
    for path in builds_dir.glob("*.duckdb"):
        stat = path.stat()
        found.append(
            BuildFile(
                build_id=path.stem,
                path=path,
                size_bytes=stat.st_size,
                modified_at=datetime.fromtimestamp(stat.st_mtime, UTC),
            )
        )
    return sorted(found, key=lambda b: (b.modified_at, b.build_id), reverse=True)


def rollback(warehouse_dir: Path, build_id: str) -> Path:
    """Serve a kept build again: copy it beside ``published.duckdb`` and rename it over it."""
    warehouse_dir = Path(warehouse_dir)
    source = warehouse_dir / BUILDS_DIR_NAME / f"{build_id}.duckdb"
    if not source.is_file():
        kept = ", ".join(b.build_id for b in list_builds(warehouse_dir)) or "none"
        raise FileNotFoundError(f"no kept build {build_id!r} (kept: {kept})")
    published_path = warehouse_dir / "published.duckdb"
    _atomic_copy(source, published_path)
    return published_path
