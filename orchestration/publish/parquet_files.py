"""The published tables as Parquet files that describe themselves, rows sorted by each key.

Why it is built this way: Parquet readers (pandas, polars, pyarrow, Spark, Superset) never see
the DuckDB COMMENTs, so each file carries the same texts itself: the table's description as
file key-value metadata (``description``, next to ``table``) and each column's as field metadata
(``description``), which pyarrow, pandas and polars keep. DuckDB's COPY writes key-value metadata
but no field metadata, so the rows stream from DuckDB to pyarrow's writer as Arrow record
batches: column buffers, never one Python object per row, and memory bounded by the batch.
Rows are sorted by the table's key (the ``key`` of a mart's ``model_rules`` test in dbt's
YAML), so two builds' files compare line by line and readers can skip row groups by key.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from orchestration.base.model_rules import model_keys

BATCH_ROWS = 122_880
ROW_GROUP_ROWS = 122_880
"""DuckDB's own row group size: the files compress as DuckDB's COPY wrote them."""
AUDIT_KEYS = {
    "build_info": ("build_id",),
    "source_files": ("review_year", "dataset", "file_name"),
    "validation_summary": ("severity", "suite", "table_name", "expectation", "column_name"),
    "publish_changes": ("change_kind", "table_name", "key", "column_name"),
}
"""The keys of the tables the publish writes itself (the marts' keys come from dbt's YAML)."""


def table_keys(manifest_path: Path) -> dict[str, tuple[str, ...]]:
    """Each model's key, from its ``model_rules`` test in dbt's manifest."""
    try:
        manifest = json.loads(Path(manifest_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return dict(AUDIT_KEYS)
    return {**model_keys(manifest), **AUDIT_KEYS}


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def order_clause(
    con: duckdb.DuckDBPyConnection, database: str, table: str, key, schema: str = "main"
) -> str:
    """``order by`` the key's columns the table has, then every other column (a total order)."""
    columns = [
        name
        for (name,) in con.execute(
            "select column_name from duckdb_columns() where database_name = ? "
            "and schema_name = ? and table_name = ? order by column_index",
            [database, schema, table],
        ).fetchall()
    ]
    ordered = [c for c in key if c in columns] + [c for c in columns if c not in key]
    return "order by " + ", ".join(_ident(c) for c in ordered)


def write_parquet(
    con: duckdb.DuckDBPyConnection,
    database: str,
    table: str,
    path: Path,
    key: tuple[str, ...] = (),
) -> int:
    """Write ``database.main.table`` to ``path`` with its COMMENTs as metadata; its row count."""
    row = con.execute(
        "select comment from duckdb_tables() where database_name = ? and schema_name = 'main' "
        "and table_name = ?",
        [database, table],
    ).fetchone()
    description = (row[0] if row else None) or ""
    comments = dict(
        con.execute(
            "select column_name, comment from duckdb_columns() where database_name = ? "
            "and schema_name = 'main' and table_name = ?",
            [database, table],
        ).fetchall()
    )
    reader = con.sql(
        f"select * from {database}.main.{_ident(table)} {order_clause(con, database, table, key)}"
    ).to_arrow_reader(BATCH_ROWS)
    fields = [
        field.with_metadata({"description": comments[field.name]})
        if comments.get(field.name)
        else field
        for field in reader.schema
    ]
    schema = pa.schema(
        fields,
        metadata={
            "table": table,
            "description": description,
            "sorted_by": json.dumps(list(key)),
        },
    )
    rows = 0
    pending: list[pa.RecordBatch] = []
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        # DuckDB hands over small batches; one row group per batch would compress poorly.
        for batch in reader:
            pending.append(pa.RecordBatch.from_arrays(batch.columns, schema=schema))
            rows += batch.num_rows
            if sum(b.num_rows for b in pending) >= ROW_GROUP_ROWS:
                writer.write_table(pa.Table.from_batches(pending, schema=schema))
                pending = []
        if pending or rows == 0:
            writer.write_table(pa.Table.from_batches(pending, schema=schema))
    return rows
