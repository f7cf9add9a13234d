"""The build's one record in ``audit.builds``: its id, the code and seeds it was built with.

Shared by the gate and the publish: the gate names the build (``new_build_id``) and creates the
record when it validates it (blocked builds included); the blocking check and the publish find
the build of their run (``build_id_for_run``), and the publish completes the record just before
the rename that serves the build.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from orchestration.base.settings import DBT_PROJECT_DIR, REPO_ROOT
from orchestration.base.warehouse_connection import connect, table_exists

BUILD_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
"""What a build id looks like: no dot, no slash, so it never names a path outside ``builds/``."""


def new_build_id(run_id: str) -> str:
    """A build id that sorts by time and names its run: ``20250101T120000Z-1a2b3c4d``."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    short = "".join(ch for ch in run_id if ch.isalnum())[:8] or "local"
    return f"{stamp}-{short}"


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


def build_id_for_run(warehouse_path: Path, run_id: str | Sequence[str]) -> str | None:
    """The latest build the gate recorded for a run (how the check and the publish find it).

    ``run_id`` may be a run's lineage (the run, its parent, ..., the run it re-executes): a
    run re-executed from failure, or one that re-runs only the check and the publish, did not
    validate itself and uses the latest build its lineage recorded.
    """
    run_ids = [run_id] if isinstance(run_id, str) else list(run_id)
    if not run_ids:
        return None
    with connect(warehouse_path, read_only=True) as con:
        if not table_exists(con, "audit", "validation_results"):
            return None
        row = con.execute(
            """
            select build_id from audit.validation_results
            where list_contains(?, run_id) order by validated_at desc limit 1
            """,
            [run_ids],
        ).fetchone()
    return row[0] if row else None
