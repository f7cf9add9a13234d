"""The report's read access to the published file it is about."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from orchestration.base.warehouse_connection import connect


class _Published:
    """Read access to the published file through an ATTACH (not DuckDB's instance cache)."""

    def __init__(self, path: Path) -> None:
        self.con = connect(":memory:")
        quoted = str(path).replace("'", "''")
        self.con.execute(f"attach '{quoted}' as p (read_only)")
        self.con.execute("use p")
        self.columns: dict[str, set[str]] = {}
        for table, column in self.con.execute(
            "select table_name, column_name from duckdb_columns() where database_name = 'p'"
        ).fetchall():
            self.columns.setdefault(table, set()).add(column)

    def has(self, table: str, *columns: str) -> bool:
        return table in self.columns and set(columns) <= self.columns[table]

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        cursor = self.con.execute(sql, list(params))
        names = [d[0] for d in cursor.description]
        # DECIMAL values (a hand-made file, an older build) are numbers like the DOUBLEs.
        return [
            {n: float(v) if isinstance(v, Decimal) else v for n, v in zip(names, row, strict=True)}
            for row in cursor.fetchall()
        ]

    def close(self) -> None:
        self.con.close()
