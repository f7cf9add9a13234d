"""What a dbt build's tables are made from, as one digest, and the last build made from it.

A build is a function of the dbt project's files, the versions of dbt and DuckDB, the
environment the project reads, and its sources. When the digest of all of these equals that of
the last build that succeeded (``audit.dbt_builds``), and every relation that build made is
still there, the dbt asset does not run dbt: the tables are those the same inputs already gave,
and the checks that build evaluated are carried over, each naming its run
(``orchestration/transform/assets.py``). Anything else runs dbt, which detects for itself which
review years to rebuild.

The sources: ``raw.*`` are written only by the ingest, one transaction per dataset and review
year, recorded in ``audit.ingested_years`` with the run that wrote them, so the digest takes
those records and each table's row count (hashing 16.8 M national rows would cost seconds on
every run); every other source (the reference units) is hashed whole. To have dbt run again on
unchanged inputs, delete the row of ``audit.dbt_builds`` (``docs/operations.md``).

The record is deleted before dbt starts and written once its build has succeeded, so a build
that failed or was killed halfway leaves none. The gate reads it too: the same build, its inputs
unchanged, is what lets a gate keep its last outcomes (``orchestration/gate/carry_over.py``).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import duckdb

from orchestration.base.warehouse_connection import table_exists

DBT_BUILDS_DDL = """
create schema if not exists audit;
create table if not exists audit.dbt_builds (
    inputs_sha256 varchar not null,
    run_id varchar not null,
    built_at timestamp not null,
    checks json not null
)
"""

_PROJECT_FILES = ("dbt_project.yml", "profiles.yml", "models", "macros", "seeds", "tests")
_PACKAGES = ("dbt-core", "dbt-duckdb", "duckdb")
_ENVIRONMENT = ("POVERTY_CROSSWALK_CORRECTIONS",)
"""What the project reads from the environment besides the warehouse's path and memory limit,
which do not change what a build computes."""
_WRITTEN_BY_THE_INGEST = "raw"


@dataclass(frozen=True)
class KeptBuild:
    """The last build that succeeded from the same inputs."""

    run_id: str
    built_at: datetime
    checks: list[dict[str, Any]]
    """Each check it evaluated: ``asset_key`` (a path list), ``check_name``, ``passed``,
    ``severity``, ``description``."""


def project_files_digest(project_dir: Path) -> str:
    """sha256 over the names and bytes of the project's own files (models, macros, seeds, tests
    and the two configuration files; never ``target/`` or ``logs/``)."""
    digest = hashlib.sha256()
    for part in _PROJECT_FILES:
        root = project_dir / part
        paths = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in paths:
            digest.update(f"{path.relative_to(project_dir).as_posix()}\0".encode())
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def manifest_sources(manifest: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The sources (schema, table) a model, seed or test of dbt's ``manifest`` reads (some are
    declared for lineage only, such as the audit tables the gate reads): what the digest takes."""
    return sorted(
        {
            (source["schema"], source.get("identifier") or source["name"])
            for node in manifest["nodes"].values()
            for source_id in node.get("depends_on", {}).get("nodes", [])
            if (source := manifest["sources"].get(source_id))
        }
    )


def build_inputs_digest(
    con: duckdb.DuckDBPyConnection, project_dir: Path, sources: Iterable[tuple[str, str]]
) -> str | None:
    """The digest of everything a build reads (module docstring), or None when the raw sources
    cannot be described (``audit.ingested_years`` missing: a warehouse an older version built)."""
    digest = hashlib.sha256()
    digest.update(project_files_digest(project_dir).encode())
    for package in _PACKAGES:
        digest.update(f"\n{package}={metadata.version(package)}".encode())
    for name in _ENVIRONMENT:
        digest.update(f"\n{name}={os.environ.get(name, '')}".encode())
    sources = sorted(set(sources))
    for schema, table in sources:
        digest.update(f"\n{schema}.{table}:".encode())
        if not table_exists(con, schema, table):
            digest.update(b"missing")
            continue
        quoted = f'"{schema}"."{table}"'
        if schema == _WRITTEN_BY_THE_INGEST:
            (rows,) = con.execute(f"select count(*) from {quoted}").fetchone()
            digest.update(str(rows).encode())
        else:
            rows, content = con.execute(
                f"select count(*), coalesce(sum(hash(*columns(*))::HUGEINT), 0) from {quoted}"
            ).fetchone()
            digest.update(f"{rows} {content}".encode())
    if any(schema == _WRITTEN_BY_THE_INGEST for schema, _ in sources):
        if not table_exists(con, "audit", "ingested_years"):
            return None
        for row in con.execute(
            "select dataset, review_year, inputs_sha256, run_id from audit.ingested_years "
            "order by all"
        ).fetchall():
            digest.update(("\n" + "\0".join(map(str, row))).encode())
    return digest.hexdigest()


def kept_build(
    con: duckdb.DuckDBPyConnection, inputs: str, relations: Sequence[tuple[str, str]]
) -> KeptBuild | None:
    """The last build recorded with the digest ``inputs``, if every one of ``relations`` (the
    tables and views it made) is still in the warehouse."""
    if not table_exists(con, "audit", "dbt_builds"):
        return None
    row = con.execute(
        "select run_id, built_at, checks from audit.dbt_builds where inputs_sha256 = ?", [inputs]
    ).fetchone()
    if row is None:
        return None
    present = set(
        con.execute("select table_schema, table_name from information_schema.tables").fetchall()
    )
    if any(tuple(relation) not in present for relation in relations):
        return None
    run_id, built_at, checks = row
    return KeptBuild(run_id=run_id, built_at=built_at, checks=json.loads(checks))


def forget_builds(con: duckdb.DuckDBPyConnection) -> None:
    """Delete the record before dbt starts: a build that fails or is killed leaves none."""
    if table_exists(con, "audit", "dbt_builds"):
        con.execute("delete from audit.dbt_builds")


def record_build(
    con: duckdb.DuckDBPyConnection,
    inputs: str,
    run_id: str,
    checks: Sequence[Mapping[str, Any]],
) -> None:
    """The build that just succeeded, made from ``inputs``, with the checks it evaluated."""
    con.execute(DBT_BUILDS_DDL)
    con.execute("begin transaction")
    con.execute("delete from audit.dbt_builds")
    con.execute(
        "insert into audit.dbt_builds values (?, ?, ?, ?)",
        [
            inputs,
            run_id,
            datetime.now(UTC).replace(tzinfo=None),
            json.dumps(list(checks), sort_keys=True, default=str),
        ],
    )
    con.execute("commit")
