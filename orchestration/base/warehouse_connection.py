"""The one way to open a DuckDB file of this project: the warehouse's settings on every connection.

Every connection to ``warehouse.duckdb`` or ``published.duckdb`` gets the same two settings:

- a memory limit (``POVERTY_DUCKDB_MEMORY_LIMIT``, read by ``orchestration.base.settings``): without
  one DuckDB takes up to 80 % of the machine's memory; with it, it spills to disk;
- no progress bar: DuckDB draws one on stderr for long statements, which garbles the command's
  own progress display and the logs. DuckDB 2.0 refuses it as a connection option, so it is set
  on the connection once open.

No Dagster import: the pure helpers of every stage use it as they are, the warehouse
resource (``orchestration/base/resources.py``) wraps it with the run lock.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb

from orchestration.base.settings import duckdb_memory_limit


def connect(
    path: str | os.PathLike[str],
    read_only: bool = False,
    memory_limit: str | None = None,
) -> duckdb.DuckDBPyConnection:
    """Open ``path`` with the warehouse's settings (memory limit, no progress bar)."""
    con = duckdb.connect(
        str(Path(path)),
        read_only=read_only,
        config={"memory_limit": memory_limit or duckdb_memory_limit()},
    )
    try:
        con.execute("set enable_progress_bar = false")
    except BaseException:
        con.close()
        raise
    return con


def table_exists(
    con: duckdb.DuckDBPyConnection, schema: str, table: str, *, database: str | None = None
) -> bool:
    """Whether ``schema.table`` (a table or a view) exists, in the attached ``database`` when
    given, else in any database of the connection."""
    row = con.execute(
        """
        select count(*) from information_schema.tables
        where table_schema = $schema and table_name = $table
            and ($database is null or table_catalog = $database)
        """,
        {"schema": schema, "table": table, "database": database},
    ).fetchone()
    return bool(row and row[0])


def rows_as_dicts(cursor: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """The rows of an executed statement, each as ``{column: value}``."""
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def insert_rows(
    con: duckdb.DuckDBPyConnection, table: str, rows: Sequence[Sequence[object]]
) -> None:
    """Insert ``rows`` (tuples in the table's column order) into ``table`` in one statement.

    ``executemany`` runs its statement once per row, about 0.5 ms each: 0.3 s for the 691 files
    of one national review year. Here each column goes in as one list and ``unnest`` lines them
    up again.
    """
    if not rows:
        return
    columns = [list(column) for column in zip(*rows, strict=True)]
    unnested = ", ".join(f"unnest(${number})" for number in range(1, len(columns) + 1))
    con.execute(f"insert into {table} select {unnested}", columns)


def sql_text(value: str) -> str:
    """``value`` as a SQL string literal (a path to ATTACH, a comment's text)."""
    return "'" + value.replace("'", "''") + "'"
