"""What a build did not load in full: one owner for the list the terminal and the report show.

The terminal summary (``orchestration.progress``) and the plan report
(``orchestration.publish.report``) both read the published file through these functions, so they
name the same files and communes with the same reasons. The working warehouse adds, where it can
be read, the count of quarantined rows by reason (it is owner-only; the report, written for
everyone, goes without it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orchestration.base.warehouse_connection import connect


def _columns(con, table: str) -> set[str]:
    return {
        row[0]
        for row in con.execute(
            "select column_name from duckdb_columns() "
            "where schema_name = 'main' and table_name = ? and database_name = current_database()",
            [table],
        ).fetchall()
    }


def files_not_loaded(con) -> list[dict[str, Any]]:
    """Every file a data engineer must look at: quarantined whole, ignored, with quarantined rows,
    or loaded with a reason (sheets that were not read), by review year and file name."""
    if not {"file_name", "status", "status_reason", "rows_read"} <= _columns(con, "source_files"):
        return []
    cursor = con.execute(
        """
        select review_year, file_name, status, status_reason, rows_read, rows_loaded,
            rows_quarantined
        from source_files
        where status in ('quarantined', 'ignored') or rows_quarantined > 0
            or (status = 'loaded' and status_reason is not null)
        order by review_year, file_name
        """
    )
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def communes_not_reported(con) -> list[dict[str, Any]]:
    """The communes with no loaded survey row, by review year (their counts and rates are NULL)."""
    columns = _columns(con, "commune_year")
    if not {"reporting_status", "commune_code", "review_year"} <= columns:
        return []
    name = "commune_name" if "commune_name" in columns else "null"
    province = "province_name" if "province_name" in columns else "null"
    cursor = con.execute(
        f"""
        select review_year, commune_code, {name} as commune_name, {province} as province_name
        from commune_year where reporting_status = 'not_reported'
        order by review_year, commune_code
        """
    )
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def quarantine_reasons(warehouse_path: Path | None) -> dict[str, str]:
    """Per file, the reasons its rows were quarantined (the working warehouse, owner-only)."""
    if warehouse_path is None or not warehouse_path.exists():
        return {}
    try:
        con = connect(warehouse_path, read_only=True)
    except Exception:  # another process writes it: the summary goes without the reasons
        return {}
    try:
        rows = con.execute(
            """
            with reasons as (
                select source_file, unnest(reasons) as reason
                from audit.quarantine where source_row is not null
            ),
            counted as (
                select source_file, reason, count(*) as row_count from reasons group by all
            )
            select source_file, string_agg(reason || ' ' || row_count, ', ' order by reason)
            from counted
            group by source_file
            """
        ).fetchall()
    except Exception:
        return {}
    finally:
        con.close()
    return dict(rows)
