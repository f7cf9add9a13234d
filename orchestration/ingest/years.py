"""A dataset's review years ingested two at a time (``ingest_years``), what a raw asset runs.

Each year is ``orchestration.ingest.ingest_dataset`` on its own cursor of the caller's
connection and in its own transaction; ``docs/architecture.md`` says why and when the years go
one after the other instead.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb

from orchestration.ingest import (
    IngestReport,
    RawLayout,
    ensure_schemas,
    ingest_dataset,
    validate_raw_dir,
)
from orchestration.ingest.limits import ReadLimits

INGEST_WORKERS = 2
"""Review years of one dataset ingested at once by ``ingest_years``."""
SMALL_YEAR_BYTES = 256_000_000
"""A year whose files hold more bytes than this is large: ``ingest_years`` then ingests the
dataset's years one after the other (a national review year is ~520 MB, a province's ~32 MB)."""


def ingest_years(
    con: duckdb.DuckDBPyConnection,
    raw_dir: Path,
    dataset_name: str,
    review_years: Sequence[int],
    *,
    run_id: str,
    pii_key: bytes,
    on_file: Callable[[int, int, int, int], None] | None = None,
    limits: ReadLimits | None = None,
    workers: int = INGEST_WORKERS,
) -> list[IngestReport]:
    """``ingest_dataset`` for each review year, ``workers`` years at a time; reports in the order
    of ``review_years``.

    Each year keeps its own transaction, on its own cursor of ``con`` (a cursor has its own temp
    tables and macros), so a year's outcome does not depend on the others: a year that fails
    rolls back alone and its error is raised once every year started has ended. Two years write
    different rows of the same tables, which DuckDB's transactions allow at once.

    Why at once: a small year costs ~50 statements whose planning, not their rows, is much of
    the time, and one year's statements leave the second core idle between their parallel
    scans. A large year (files over ``SMALL_YEAR_BYTES``) keeps both cores busy and fills the
    memory limit the two would share: when any year is large, the years go one after the
    other (``docs/performance.md``).

    ``on_file(year, done, total, rows)`` is called once per file, never by two years at once.
    """
    ensure_schemas(con)
    lock = threading.Lock()

    def progress(year: int) -> Callable[[int, int, int], None] | None:
        if on_file is None:
            return None

        def report(done: int, total: int, rows: int) -> None:
            with lock:
                on_file(year, done, total, rows)

        return report

    # The directory listed once, for every year and the size check below (a national one holds
    # thousands of files; docs/performance.md, twenty-ninth step).
    layout = validate_raw_dir(Path(raw_dir))

    def one(year: int, cursor: duckdb.DuckDBPyConnection) -> IngestReport:
        return ingest_dataset(
            cursor,
            raw_dir,
            dataset_name,
            year,
            run_id=run_id,
            pii_key=pii_key,
            on_file=progress(year),
            limits=limits,
            layout=layout,
        )

    if (
        workers <= 1
        or len(review_years) <= 1
        or _largest_year_bytes(layout, dataset_name, review_years) > SMALL_YEAR_BYTES
    ):
        return [one(year, con) for year in review_years]

    def on_cursor(year: int) -> IngestReport:
        cursor = con.cursor()
        try:
            return one(year, cursor)
        finally:
            cursor.close()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(on_cursor, year) for year in review_years]
    # Every year has ended here (the pool waited); the first failure in year order is raised.
    return [future.result() for future in futures]


def _largest_year_bytes(layout: RawLayout, dataset_name: str, review_years: Sequence[int]) -> int:
    """The bytes of the dataset's largest review year on disk (links not followed)."""
    sizes = [0]
    for year in review_years:
        total = 0
        for entry in layout.files(dataset_name, year):
            with contextlib.suppress(OSError):  # gone since listed: the ingest will say so
                total += entry.path.lstat().st_size
        sizes.append(total)
    return max(sizes)
