"""Serve a kept build again (``poverty-warehouse rollback``), through the same renames as a
publish."""

from __future__ import annotations

from pathlib import Path

from orchestration.publish.atomic_files import atomic_copy
from orchestration.publish.builds import PUBLISHED_FILE_NAME, foreign_builds, list_builds
from orchestration.publish.exports import recover_exports
from orchestration.publish.publish import (
    AfterPublishError,
    finish,
    new_prepared,
    prepare_exports_and_report,
    serve,
)


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
    recover_exports(warehouse_dir)
    prepared = new_prepared(warehouse_dir)
    try:
        atomic_copy(kept[build_id], prepared.database)
        prepare_exports_and_report(prepared, warehouse_dir)
        serve(prepared, warehouse_dir)
    except BaseException:
        prepared.discard()
        raise
    try:
        finish(prepared, warehouse_dir)
    except Exception as error:
        raise AfterPublishError(build_id, error) from error
    return warehouse_dir / PUBLISHED_FILE_NAME
