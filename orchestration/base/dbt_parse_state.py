"""dbt's parse of the project, kept between builds: a build starts from the last one's parse.

dbt parses the whole project (2-3 s) unless its target folder holds the previous parse
(``partial_parse.msgpack``) made with the same project files, profile, variables and dbt
version; it checks all of these itself and parses in full when anything differs. Every build here
gets a fresh target folder, so the last parse is kept aside, one file per *profile*, and copied
into the next build's target folder.

The profile includes the warehouse file's path. The dbt child gives dbt the file's name only,
working in the warehouse's directory (``orchestration/base/dbt_child.py``), so one kept parse
serves every warehouse of that name and memory limit (tests, benchmarks, each province's
directory). Only builds and the manifest's preparation (``make manifest``, ``ensure_manifest``),
all given the project's absolute path, write these files: a parse made from a relative project
path breaks the seed paths. No Dagster here: the dbt asset, the manifest's preparation and the
tests' own dbt runs share it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import uuid
from pathlib import Path

from orchestration.base.dbt_child import ParseAhead
from orchestration.base.settings import DBT_PROJECT_DIR, DBT_TARGET_DIR, duckdb_memory_limit

PARTIAL_PARSE_FILE = "partial_parse.msgpack"
STATES_DIR = DBT_TARGET_DIR / "parse-state"
# Parse states kept, the most recently written first (1.2 MB each; tests and benchmarks build
# many throwaway warehouses).
PARSE_STATES_KEPT = 8


def parse_state(warehouse_path: str, memory_limit: str, states_dir: Path = STATES_DIR) -> Path:
    """Where the parse of builds against a warehouse file of this name and memory limit is
    kept."""
    profile = f"{Path(warehouse_path).name}\0{memory_limit}"
    key = hashlib.sha256(profile.encode()).hexdigest()[:16]
    return states_dir / f"{key}.msgpack"


def parse_ahead(
    warehouse_path: str,
    memory_limit: str,
    *,
    project_dir: str = str(DBT_PROJECT_DIR),
    profiles_dir: str = str(DBT_PROJECT_DIR),
) -> ParseAhead:
    """What a warm dbt parses the project with, ahead of a build against ``warehouse_path``:
    the project, the profile's inputs and the kept parse it starts from."""
    return ParseAhead(
        project_dir=project_dir,
        profiles_dir=profiles_dir,
        warehouse_path=warehouse_path,
        memory_limit=memory_limit,
        state=str(parse_state(warehouse_path, memory_limit)),
    )


def use_parse_state(state: Path, target_path: Path) -> bool:
    """Put the kept parse where dbt reads it; False when there is none (pruned, or never
    written)."""
    try:
        shutil.copyfile(state, target_path / PARTIAL_PARSE_FILE)
    except FileNotFoundError:
        return False
    return True


def keep_parse_state(target_path: Path, state: Path) -> None:
    """Keep the parse this build wrote, and only the most recent ``PARSE_STATES_KEPT`` states.

    Written whole under another name, then renamed: a build starting meanwhile (another test
    worker, another warehouse) copies the previous state or this one, never half of one.
    """
    written = target_path / PARTIAL_PARSE_FILE
    if not written.exists():
        return
    state.parent.mkdir(parents=True, exist_ok=True)
    partial = state.with_name(f"{state.name}.{uuid.uuid4().hex[:8]}.tmp")
    shutil.copyfile(written, partial)
    os.replace(partial, state)
    kept = sorted(state.parent.glob("*.msgpack"), key=_written_at, reverse=True)
    for old in kept[PARSE_STATES_KEPT:]:
        old.unlink(missing_ok=True)


def _written_at(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:  # pruned meanwhile by a concurrent build
        return 0.0


def main(argv: list[str]) -> None:
    """``python -m orchestration.base.dbt_parse_state WAREHOUSE_PATH``: keep the parse that
    ``dbt parse`` just left in ``dbt_project/target`` (run through the dbt child, so for that
    file's name) as the first build's starting point. ``make manifest`` runs it."""
    (warehouse_path,) = argv
    keep_parse_state(DBT_TARGET_DIR, parse_state(warehouse_path, duckdb_memory_limit()))


if __name__ == "__main__":
    main(sys.argv[1:])
