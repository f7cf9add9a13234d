"""The build ``published.duckdb`` serves and the builds kept under ``builds/`` for rollback.

A kept build is ``builds/<build id>.duckdb`` whose ``build_info`` names that build: any other file
there (copied by hand, another warehouse's) is never listed, served or pruned.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from orchestration.base.build_record import BUILD_ID_PATTERN
from orchestration.base.warehouse_connection import connect, sql_text
from orchestration.publish.atomic_files import remove_path

PUBLISHED_FILE_NAME = "published.duckdb"
BUILDS_DIR_NAME = "builds"


@dataclass(frozen=True)
class BuildFile:
    build_id: str
    path: Path
    size_bytes: int
    modified_at: datetime


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
        con.execute(f"attach {sql_text(str(path))} as b (read_only)")
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
        con.execute(f"attach {sql_text(str(path))} as p (read_only)")
        row = con.execute("select build_id from p.main.build_info").fetchone()
        return str(row[0]) if row else None
    except duckdb.Error:
        return None
    finally:
        con.close()


def prune_builds(warehouse_dir: Path, keep: int, live: str) -> None:
    for old in list_builds(warehouse_dir)[max(keep, 1) :]:
        if old.build_id != live:
            remove_path(old.path)


def previous_build(warehouse_dir: Path) -> tuple[str, Path] | None:
    """The build served until this publish and its file (the kept copy, else the served one)."""
    live = live_build_id(warehouse_dir)
    if live is None:
        return None
    kept = warehouse_dir / BUILDS_DIR_NAME / f"{live}.duckdb"
    return live, kept if kept.is_file() else warehouse_dir / PUBLISHED_FILE_NAME
