"""Writing one dataset's review year: its raw rows, its quarantine rows and its file audit.

``write_year`` replaces the year's rows of the dataset (raw and quarantine) with what the files
hold now; ``write_audit`` records each file's outcome in ``audit.source_files``, keeping history;
``remove_year`` empties a year whose files are all gone. The caller runs them in one transaction.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import astuple
from datetime import datetime

import duckdb

from orchestration.base.headers import normalise_header
from orchestration.base.warehouse_connection import insert_rows
from orchestration.ingest.layout import FileIdentity, file_identity, settled
from orchestration.ingest.readers import FileState
from orchestration.ingest.registry import RAW_COLUMNS, dataset

_PARAMETER = re.compile(r"\$(\w+)")
# Statuses of files whose rows are in the warehouse now (the others are history or not read).
CURRENT = "status not in ('replaced', 'removed')"


def _execute(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, object]) -> None:
    """Run ``sql`` with the named parameters it uses (DuckDB rejects unused ones)."""
    con.execute(sql, {name: params[name] for name in set(_PARAMETER.findall(sql))})


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def write_year(
    con: duckdb.DuckDBPyConnection,
    dataset_name: str,
    review_year: int,
    unit_version: str,
    states: list[FileState],
    run_id: str,
    now: datetime,
) -> None:
    """Replace the year's raw and quarantine rows of this dataset with what the files hold."""
    table = dataset(dataset_name).raw_table
    con.execute(f"delete from {table} where review_year = ?", [review_year])
    con.execute(
        "delete from audit.quarantine where review_year = ? and dataset = ?",
        [review_year, dataset_name],
    )
    read = [s for s in states if s.report.status not in ("duplicate", "ignored")]
    if not read:
        return
    con.execute(
        "create or replace temp table _files (file_index INTEGER, file_name VARCHAR, "
        "sha256 VARCHAR, is_whole_file_quarantined BOOLEAN)"
    )
    insert_rows(
        con,
        "_files",
        [(s.index, s.report.file_name, s.report.sha256, s.problem is not None) for s in read],
    )
    params = {
        "review_year": review_year,
        "unit_version": unit_version,
        "run_id": run_id,
        "now": now,
    }
    raw_names = [name for name, _ in dataset(dataset_name).raw_columns()]
    values = ", ".join(
        column if column.startswith("$") else f"c.{column}" for column in RAW_COLUMNS[dataset_name]
    )
    _execute(
        con,
        f"""
        insert into {table} ({", ".join(raw_names)})
        select {values}, f.file_name, c.source_sheet, c.source_row, f.sha256, $run_id, $now
        from _rows c join _files f on f.file_index = c._file_index
        anti join _bad b on b._file_index = c._file_index and b.source_row = c.source_row
        where not f.is_whole_file_quarantined
        """,
        params,
    )
    for state in read:
        file_params = {
            "year": review_year,
            "dataset": dataset_name,
            "file_name": state.report.file_name,
            "sha": state.report.sha256,
            "run_id": run_id,
            "now": now,
        }
        if state.problem is not None:
            detail = {
                "error": state.problem.message,
                **state.problem.detail,
                "headers": _header_names(state, dataset_name),
            }
            con.execute(
                """
                insert into audit.quarantine values ($year, $dataset, $file_name, $sheet, NULL,
                    [$reason], $detail::JSON, $sha, $run_id, $now)
                """,
                {
                    **file_params,
                    "sheet": state.sheet,
                    "reason": state.problem.reason,
                    "detail": _json(detail),
                },
            )
            continue
        if not state.report.rows_quarantined:
            continue
        con.execute(
            f"""
            insert into audit.quarantine
            select $year, $dataset, $file_name, source_sheet, source_row, reasons, raw_record,
                   $sha, $run_id, $now
            from _bad_rows where _file_index = {state.index}
            order by source_row
            """,
            file_params,
        )


def _header_names(state: FileState, dataset_name: str) -> list[str]:
    """The file's header cells for a whole-file quarantine record: recognised headers as
    written, any other as a placeholder (a header cell may itself be personal data, e.g. a name
    typed into the header row of a broken export)."""
    if state.match is None:
        return []
    known = dataset(dataset_name).headers
    return [
        text if normalise_header(text) in known else f"(unrecognised header, column {i + 1})"
        for i, text in enumerate(state.match.originals)
    ]


def write_audit(
    con: duckdb.DuckDBPyConnection,
    dataset_name: str,
    review_year: int,
    states: list[FileState],
    run_id: str,
    now: datetime,
) -> None:
    """Record each file's outcome, keeping history (see ``docs/architecture.md``).

    Set-based: national exports are hundreds of files a year. ``_current`` is the trail as it
    was before this run: a file whose name and bytes are current gets its row updated; a current
    name with new bytes turns ``replaced`` and the new bytes get a row; a current name no longer
    on disk turns ``removed``. The files' identities go with them (``record_identities``).
    """
    # Typed columns in one statement (an Arrow table of the reports would import pandas, 0.3 s
    # of the run's first ingest).
    con.execute(
        """
        create or replace temp table _reports (
            file_name VARCHAR, sha256 VARCHAR, size_bytes BIGINT, rows_read BIGINT,
            rows_loaded BIGINT, rows_quarantined BIGINT, status VARCHAR, status_reason VARCHAR,
            lines BIGINT, title_lines BIGINT, blank_lines BIGINT
        )
        """
    )
    insert_rows(
        con,
        "_reports",
        [
            (
                r.file_name,
                r.sha256,
                r.size_bytes,
                r.rows_read,
                r.rows_loaded,
                r.rows_quarantined,
                r.status,
                r.status_reason,
                r.lines,
                r.title_lines,
                r.blank_lines,
            )
            for r in (state.report for state in states)
        ],
    )
    params = {"year": review_year, "dataset": dataset_name, "run_id": run_id, "now": now}
    current = f"review_year = $year and dataset = $dataset and {CURRENT}"
    same = "a.file_name = r.file_name and a.sha256 is not distinct from r.sha256"
    statements = [
        f"""
        create or replace temp table _current as
        select file_name, sha256 from audit.source_files where {current}
        """,
        f"""
        update audit.source_files
        set status = 'removed', last_seen_at = $now,
            status_reason = 'no longer in the raw directory (run ' || $run_id || ')'
        where {current} and file_name not in (select file_name from _reports)
        """,
        f"""
        update audit.source_files as a
        set rows_read = r.rows_read, rows_loaded = r.rows_loaded,
            rows_quarantined = r.rows_quarantined, status = r.status,
            status_reason = r.status_reason, run_id = $run_id, last_seen_at = $now,
            size_bytes = r.size_bytes, lines = r.lines, title_lines = r.title_lines,
            blank_lines = r.blank_lines
        from _reports as r
        where a.review_year = $year and a.dataset = $dataset and a.{CURRENT} and {same}
        """,
        f"""
        update audit.source_files as a
        set status = 'replaced', last_seen_at = $now,
            status_reason = 're-sent with new bytes (sha256 ' || coalesce(r.sha256, 'none')
                || ', run ' || $run_id || ')'
        from _reports as r
        where a.review_year = $year and a.dataset = $dataset and a.{CURRENT}
            and a.file_name = r.file_name and a.sha256 is distinct from r.sha256
        """,
        """
        insert into audit.source_files by name
        select $year as review_year, $dataset as dataset, r.file_name, r.sha256, r.size_bytes,
               r.rows_read, r.rows_loaded, r.rows_quarantined, r.status, r.status_reason,
               $run_id as run_id, $now as first_seen_at, $now as last_seen_at, r.lines,
               r.title_lines, r.blank_lines
        from _reports as r
        anti join _current as a on a.file_name = r.file_name
            and a.sha256 is not distinct from r.sha256
        order by r.file_name
        """,
        "drop table _reports",
        "drop table _current",
    ]
    for statement in statements:
        _execute(con, statement, params)
    record_identities(con, dataset_name, review_year, states)


def record_inputs(
    con: duckdb.DuckDBPyConnection,
    dataset_name: str,
    review_year: int,
    inputs: str | None,
    run_id: str,
    now: datetime,
) -> None:
    """Record what the year's rows were just made from (``inputs: None``: the year was emptied)."""
    con.execute(
        "delete from audit.ingested_years where review_year = ? and dataset = ?",
        [review_year, dataset_name],
    )
    if inputs is not None:
        con.execute(
            "insert into audit.ingested_years values (?, ?, ?, ?, ?)",
            [review_year, dataset_name, inputs, run_id, now],
        )


def record_identities(
    con: duckdb.DuckDBPyConnection,
    dataset_name: str,
    review_year: int,
    states: list[FileState],
) -> None:
    """Record, with each file's sha256, its identity on the file system when that hash was
    taken, for the files whose identity is the same now that the year is read and whose hash is
    ``settled`` (``layout.settled``): a later run that finds a file with that identity knows its
    bytes without reading them (``inputs.keep_unchanged_year``). Replaces the year's rows."""
    found: dict[str, tuple[str, FileIdentity]] = {}
    for state in states:
        scan = state.scan
        if scan is None or scan.identity is None:
            continue
        try:
            now = file_identity(state.path)
        except OSError:
            continue
        if settled(scan.identity, now, scan.scanned_from_ns):
            found[state.report.file_name] = (scan.sha256, now)
    store_identities(con, dataset_name, review_year, found, whole_year=True)


def store_identities(
    con: duckdb.DuckDBPyConnection,
    dataset_name: str,
    review_year: int,
    found: Mapping[str, tuple[str, FileIdentity]],
    *,
    whole_year: bool,
) -> None:
    """Write ``found`` (file name → sha256 and identity) to ``audit.file_identities``, in place
    of the year's rows (``whole_year``) or of those files' rows only."""
    if not whole_year and not found:
        return
    names = "" if whole_year else f" and file_name in ({', '.join('?' * len(found))})"
    con.execute(
        f"delete from audit.file_identities where review_year = ? and dataset = ?{names}",
        [review_year, dataset_name, *([] if whole_year else found)],
    )
    insert_rows(
        con,
        "audit.file_identities",
        [
            (review_year, dataset_name, name, sha256, *astuple(identity))
            for name, (sha256, identity) in found.items()
        ],
    )


def stored_years(con: duckdb.DuckDBPyConnection, dataset_name: str) -> list[int]:
    """Review years the warehouse holds rows or current files of, for one dataset."""
    table = dataset(dataset_name).raw_table
    return [
        year
        for (year,) in con.execute(
            f"""
            select distinct review_year from (
                select review_year from {table}
                union all
                select review_year from audit.quarantine where dataset = $dataset
                union all
                select review_year from audit.source_files where dataset = $dataset
                    and {CURRENT}
            ) order by review_year
            """,
            {"dataset": dataset_name},
        ).fetchall()
    ]
