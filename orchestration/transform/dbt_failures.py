"""The rows a failed dbt data test found: their keys and values, for the terminal and the UI.

dbt reports how many rows break a test's rule; a person needs to know which. Once dbt has exited
(the warehouse file is free again), each failed test is asked of its table once more for its
first offending rows, ordered by the table's key so that every build of the same data names the
same rows:

- a model's ``model_rules`` test (every row-level rule of the model in one scan; it returns the
  rules broken) is asked per broken rule: the rule in words, the key columns and the values, e.g.
  ``commune_year.poverty_rate must lie in [0, 100]: 1 offending row(s): review_year 2023,
  unit_version pre2025, commune_code 00688: poverty_rate = 200``; a repeated key is listed with
  how often it occurs;
- any other test (a relationship, an identity, a singular test) returns its offending rows
  itself: its compiled SQL is run again, keeping the key columns and the columns the rule names.

No Dagster import.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from orchestration.base.model_rules import (
    IDENTIFIER,
    MODEL_RULES,
    Rule,
    broken_rules,
    model_key,
    quoted,
    rules_of,
)

SHOWN_ROWS = 3
"""Offending rows named per broken rule or test."""
_MAX_COLUMNS = 8
_ROWS = "offending_rows__"
_COUNT = f"count(*) over () as {_ROWS}"

__all__ = ["SHOWN_ROWS", "model_key", "offending_rows"]


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


def _relation(model: Mapping[str, Any]) -> str | None:
    """The model's table in the connection's own database (dbt's ``relation_name`` names the
    database after the file dbt parsed with)."""
    if not model.get("schema") or not (model.get("alias") or model.get("name")):
        return None
    return f"{quoted(model['schema'])}.{quoted(model.get('alias') or model['name'])}"


def _order(key: Sequence[str]) -> str:
    return f" order by {', '.join(map(quoted, key))}" if key else ""


def _rule_query(
    rule: Rule, relation: str, key: Sequence[str], columns: set[str]
) -> tuple[list[str], str]:
    """The columns shown beside the key, and the query of a broken rule's first offending rows
    (``columns``: the table's columns, so that an expression shows the columns it names)."""
    if rule.label == "key":
        listed = ", ".join(map(quoted, rule.named))
        return ["occurrences"], (
            f"select {listed}, count(*) as occurrences, {_COUNT} from {relation} "
            f"group by {listed} having count(*) > 1 order by {listed} limit {SHOWN_ROWS}"
        )
    if rule.column is not None:
        shown = [rule.column]
    else:
        shown = [c for c in rule.named if c in columns and c not in key][:_MAX_COLUMNS]
    listed = ", ".join(map(quoted, [*key, *shown])) or "*"
    return shown, (
        f"select {listed}, {_COUNT} from {relation} where {rule.condition}{_order(key)} "
        f"limit {SHOWN_ROWS}"
    )


def _model_rule_queries(
    con: Any, node: Mapping[str, Any], relation: str, key: Sequence[str], compiled_sql: str | None
) -> list[tuple[Rule, list[str], str]]:
    """``(rule, columns shown beside the key, query)`` for each rule the test found broken
    (every rule when its compiled SQL is not at hand: a rule that holds then lists no row)."""
    kwargs = (node.get("test_metadata") or {}).get("kwargs") or {}
    if compiled_sql:
        labels = [str(row[0]) for row in con.execute(compiled_sql).fetchall()]
        rules = broken_rules(kwargs, labels)
    else:
        rules = rules_of(kwargs)
    columns = {d[0] for d in con.execute(f"select * from {relation} limit 0").description}
    key = [c for c in key if c in columns]
    return [(rule, *_rule_query(rule, relation, key, columns)) for rule in rules]


def _kept_columns(columns: Sequence[str], node: Mapping[str, Any], key: Sequence[str]) -> list[int]:
    """The key columns and those the rule names, when the test returns whole rows."""
    kwargs = (node.get("test_metadata") or {}).get("kwargs") or {}
    named = set(IDENTIFIER.findall(" ".join(str(v) for v in kwargs.values())))
    kept = [i for i, c in enumerate(columns) if c in key or c in named]
    return kept or list(range(min(len(columns), _MAX_COLUMNS)))


def _listed(total: int, rows: Sequence[Any], names: Sequence[str], shown: Sequence[str]) -> str:
    first = "" if total <= len(rows) else f", the first {len(rows)}"
    listed = "; ".join(_row_text(names, row, shown) for row in rows)
    return f"{total:,} offending row(s){first}: {listed}"


def _fetch(con: Any, query: str) -> tuple[list[str], list[tuple], int]:
    """The rows of a query ending in the window count, without it, and the count."""
    cursor = con.execute(query)
    rows = cursor.fetchall()
    names = [d[0] for d in cursor.description][:-1]
    total = rows[0][-1] if rows else 0
    return names, [tuple(row[:-1]) for row in rows], total


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
    relation = _relation(model) if model else None
    key = model_key(model_id, manifest) if model_id else []
    kind = (node.get("test_metadata") or {}).get("name")
    lines = []
    try:
        if kind == MODEL_RULES and relation:
            for rule, shown, query in _model_rule_queries(con, node, relation, key, compiled_sql):
                names, rows, total = _fetch(con, query)
                if rows:
                    subject = f"{table}.{rule.column}" if rule.column else table
                    lines.append(f"{subject} {rule.words}: {_listed(total, rows, names, shown)}")
            return lines
        if not compiled_sql:
            return lines
        names, rows, total = _fetch(
            con, f"select *, {_COUNT} from ({compiled_sql}) as failing limit {SHOWN_ROWS}"
        )
    except Exception as error:  # the table is gone or the SQL cannot run: say so, go on
        return [*lines, f"{table}: the offending rows could not be listed ({error})"]
    if rows:
        kept = _kept_columns(names, node, key)
        names = [names[i] for i in kept]
        rows = [tuple(row[i] for i in kept) for row in rows]
        shown = [c for c in names if c not in key]
        lines.append(f"{table}: {_listed(total, rows, names, shown)}")
    return lines
