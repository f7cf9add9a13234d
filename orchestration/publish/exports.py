"""The Parquet directory ``published/``: every published table, the province workbooks and
``manifest.json``, swapped in as a whole, and the recovery of a swap a crash interrupted (the
order of the renames is explained in ``orchestration/publish/publish.py``)."""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path

from orchestration.base.settings import DBT_MANIFEST_PATH
from orchestration.base.warehouse_connection import connect, sql_text
from orchestration.publish import parquet_files, publish_changes
from orchestration.publish.atomic_files import (
    PUBLIC_DIR_MODE,
    PUBLIC_FILE_MODE,
    TEMP_PREFIX,
    fsync_dir,
    fsync_path,
    remove_path,
    remove_stale_temps,
    temp_path,
)
from orchestration.publish.builds import live_build_id
from orchestration.publish.forms import FORMS_DIR_NAME, write_forms

EXPORT_DIR_NAME = "published"
EXPORT_MANIFEST_NAME = "manifest.json"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as reader:
        while chunk := reader.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def export_parquet(published_file: Path, directory: Path, previous: Path | None = None) -> str:
    """Write every table of ``published_file`` as Parquet, the province workbooks and
    ``manifest.json``; its build id. ``previous``, the live export directory, lends the
    workbooks that did not change (``orchestration/publish/forms.py``)."""
    listed = _manifest(previous) if previous is not None else None
    kept = (previous, listed) if previous is not None and listed is not None else None
    directory.mkdir(parents=True)
    entries = []
    keys = parquet_files.table_keys(DBT_MANIFEST_PATH)
    con = connect(":memory:")
    try:
        con.execute(f"attach {sql_text(str(published_file))} as p (read_only)")
        row = con.execute("select build_id, built_at from p.main.build_info").fetchone()
        build_id = str(row[0]) if row else ""
        built_at = row[1] if row else datetime.now(UTC)
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
        forms = write_forms(con, "p", directory / FORMS_DIR_NAME, build_id, built_at, kept)
        con.execute("detach p")
    finally:
        con.close()
    for entry in (*entries, *forms):
        path = directory / entry["file"]
        os.chmod(path, PUBLIC_FILE_MODE)
        fsync_path(path)
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
    fsync_dir(directory)
    return build_id


def _manifest(directory: Path) -> dict | None:
    try:
        manifest = json.loads((directory / EXPORT_MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def _manifest_build_id(directory: Path) -> str | None:
    manifest = _manifest(directory)
    return manifest.get("build_id") if manifest is not None else None


def recover_exports(warehouse_dir: Path) -> None:
    """Finish a directory swap a crash interrupted (``publish.py``'s docstring), then tidy up."""
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
        fsync_dir(warehouse_dir)
    remove_stale_temps(warehouse_dir)


def swap_exports(staged: Path, live_dir: Path) -> None:
    old = None
    if live_dir.exists():
        old = temp_path(live_dir.parent, "old", suffix="")
        os.rename(live_dir, old)
    os.rename(staged, live_dir)
    fsync_dir(live_dir.parent)
    if old is not None:
        remove_path(old)
