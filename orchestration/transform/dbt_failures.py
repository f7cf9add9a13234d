"""The rows a failed dbt data test found: their keys and values, for the terminal and the UI.

dbt reports how many rows break a test's rule; a person needs to know which. Once dbt has exited
(the warehouse file is free again), each failed test is asked of its table once more for its
first offending rows, ordered by the table's key so that every build of the same data names the
same rows:

- a range, not-null or accepted-values test (the one-scan tests count offending rows per column)
  is asked per failing column: the rule in words, the key columns and the column's value, e.g.
  ``commune_year.poverty_rate must lie in [0, 100]: 1 offending row(s): review_year 2023,
  unit_version pre2025, commune_code 00688: poverty_rate = 200``;
- a uniqueness test lists the repeated keys and how often each occurs;
- any other test (an expression, a relationship, a singular test) returns its offending rows
  itself: its compiled SQL is run again, keeping the key columns and the columns the rule names.

No Dagster import.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

SHOWN_ROWS = 3
"""Offending rows named per failing column or test."""
_MAX_COLUMNS = 8
_ROWS = "offending_rows__"
_COUNT = f"count(*) over () as {_ROWS}"
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def model_key(model_id: str, manifest: Mapping[str, Any]) -> list[str]:
    """The model's key: the columns of its uniqueness test (one-column or combined), if any."""
    for node in manifest.get("nodes", {}).values():
        if node.get("resource_type") != "test" or node.get("attached_node") != model_id:
            continue
        meta = node.get("test_metadata") or {}
        kwargs = meta.get("kwargs") or {}
        if meta.get("name") == "unique_combination_of_columns":
            return [str(c) for c in kwargs.get("combination_of_columns", [])]
        if meta.get("name") == "unique" and node.get("column_name"):
            return [str(node["column_name"])]
    return []


def _quoted(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def _value_text(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _row_text(columns: Sequence[str], row: Sequence[Any], shown: Sequence[str]) -> str:
    """``review_year 2023, commune_code 00700: poverty_rate = 3700`` (keys, then the values)."""
    values = dict(zip(columns, row, strict=True))
    keys = [c for c in columns if c not in shown]
    head = ", ".join(f"{c} {_value_text(values[c])}" for c in keys)
    tail = ", ".join(f"{c} = {_value_text(values[c])}" for c in shown if c in values)
    return f"{head}: {tail}" if head and tail else head or tail


def _column_conditions(kind: str, node: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    """For the per-column tests, each column with the SQL condition a row breaks its rule by and
    the rule in words."""
    kwargs = (node.get("test_metadata") or {}).get("kwargs") or {}
    if kind == "columns_within_range":
        conditions = {}
        for column, bounds in (kwargs.get("ranges") or {}).items():
            low, high = bounds.get("min_value"), bounds.get("max_value")
            parts = [f"{_quoted(column)} < {low}"] if low is not None else []
            parts += [f"{_quoted(column)} > {high}"] if high is not None else []
            if low is not None and high is not None:
                rule = f"must lie in [{low}, {high}]"
            else:
                rule = f"must be >= {low}" if low is not None else f"must be <= {high}"
            if parts:
                conditions[column] = (" or ".join(parts), rule)
        return conditions
    if kind == "not_null_columns":
        return {
            column: (f"{_quoted(column)} is null", "must not be NULL")
            for column in kwargs.get("columns", [])
        }
    column = node.get("column_name") or kwargs.get("column_name")
    if not column:
        return {}
    if kind == "not_null":
        return {column: (f"{_quoted(column)} is null", "must not be NULL")}
    if kind == "accepted_values":
        values = kwargs.get("values", [])
        listed = ", ".join(_literal(v) for v in values)
        return {
            column: (
                f"{_quoted(column)} is not null and {_quoted(column)} not in ({listed})",
                f"must be one of {', '.join(map(str, values))}",
            )
        }
    return {}


def _relation(model: Mapping[str, Any]) -> str | None:
    """The model's table in the connection's own database (dbt's ``relation_name`` names the
    database after the file dbt parsed with)."""
    if not model.get("schema") or not (model.get("alias") or model.get("name")):
        return None
    return f"{_quoted(model['schema'])}.{_quoted(model.get('alias') or model['name'])}"


def _queries(
    node: Mapping[str, Any], manifest: Mapping[str, Any], compiled_sql: str | None
) -> list[tuple[str | None, str, str]]:
    """``(column, rule, query)``: queries whose rows are the test's first offending rows, with
    the column and its rule in words when the test checks columns one by one."""
    kind = (node.get("test_metadata") or {}).get("name")
    model_id = node.get("attached_node")
    model = manifest.get("nodes", {}).get(model_id or "", {})
    relation = _relation(model)
    key = model_key(model_id, manifest) if model_id else []
    order = f" order by {', '.join(map(_quoted, key))}" if key else ""
    keys = "".join(f"{_quoted(c)}, " for c in key)
    conditions = _column_conditions(kind or "", node) if relation else {}
    if conditions:
        return [
            (
                column,
                rule,
                f"select {keys}{_quoted(column)}, {_COUNT} from {relation} "
                f"where {condition}{order} limit {SHOWN_ROWS}",
            )
            for column, (condition, rule) in conditions.items()
        ]
    if relation and kind in ("unique", "unique_combination_of_columns"):
        kwargs = (node.get("test_metadata") or {}).get("kwargs") or {}
        columns = kwargs.get("combination_of_columns") or [node.get("column_name")]
        listed = ", ".join(map(_quoted, columns))
        return [
            (
                None,
                "",
                f"select {listed}, count(*) as occurrences, {_COUNT} from {relation} "
                f"group by {listed} having count(*) > 1 order by {listed} limit {SHOWN_ROWS}",
            )
        ]
    if compiled_sql:
        return [
            (None, "", f"select *, {_COUNT} from ({compiled_sql}) as failing limit {SHOWN_ROWS}")
        ]
    return []


def _kept_columns(columns: Sequence[str], node: Mapping[str, Any], key: Sequence[str]) -> list[int]:
    """The key columns and those the rule names, when the test returns whole rows."""
    kwargs = (node.get("test_metadata") or {}).get("kwargs") or {}
    named = set(_IDENTIFIER.findall(" ".join(str(v) for v in kwargs.values())))
    kept = [i for i, c in enumerate(columns) if c in key or c in named]
    return kept or list(range(min(len(columns), _MAX_COLUMNS)))


def offending_rows(
    con: Any,
    node: Mapping[str, Any],
    manifest: Mapping[str, Any],
    compiled_sql: str | None = None,
) -> list[str]:
    """Lines naming the first offending rows of a failed test, with their keys and values
    (``con``: a DuckDB connection to the warehouse the test ran on)."""
    model_id = node.get("attached_node")
    model = manifest.get("nodes", {}).get(model_id or "", {})
    table = model.get("name") or node.get("name") or "the test"
    key = model_key(model_id, manifest) if model_id else []
    lines = []
    for column, rule, query in _queries(node, manifest, compiled_sql):
        try:
            cursor = con.execute(query)
            rows = cursor.fetchall()
            names = [d[0] for d in cursor.description]
        except Exception as error:  # the table is gone or the SQL cannot run: say so, go on
            lines.append(f"{table}: the offending rows could not be listed ({error})")
            continue
        if not rows:
            continue
        total = rows[0][-1]
        names, rows = names[:-1], [row[:-1] for row in rows]
        if column is not None:
            shown = [column]
            where = f"{table}.{column} {rule}"
        else:
            kept = _kept_columns(names, node, key)
            names = [names[i] for i in kept]
            rows = [tuple(row[i] for i in kept) for row in rows]
            shown = [c for c in names if c not in key]
            where = table
        listed = "; ".join(_row_text(names, row, shown) for row in rows)
        first = "" if total <= len(rows) else f", the first {len(rows)}"
        lines.append(f"{where}: {total:,} offending row(s){first}: {listed}")
    return lines
