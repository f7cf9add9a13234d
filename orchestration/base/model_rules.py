"""The row-level rules of a dbt model's ``model_rules`` test, read from dbt's manifest.

Each model's key, required columns, coded columns' sets, value ranges and row expressions are
one dbt test, ``model_rules`` (``dbt_project/tests/generic/model_rules.sql``), which returns one
row per broken rule labelled as here (``key``, ``not_null:<column>``,
``accepted_values:<column>``, ``range:<column>``, ``expression:<n>``). This module turns the
test's arguments back into those rules, each with the SQL condition a row breaks it by and the
rule in words, for three readers: the readable test descriptions of the Dagster UI, the listing
of a failed test's offending rows, and the key the published Parquet files are sorted by.

No Dagster import.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

MODEL_RULES = "model_rules"
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class Rule:
    label: str
    """As the dbt test returns it, e.g. ``range:poverty_rate``."""
    column: str | None
    """The column the rule is about; None for the key and for an expression."""
    condition: str
    """SQL that is true on a row breaking the rule (not used for the key)."""
    words: str
    """The rule in words, after the table (and column) it is about."""
    named: tuple[str, ...] = ()
    """The columns the rule names: the key's, or the words of an expression that may be columns
    (the reader keeps those the table has)."""


def quoted(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


def _literal(value: Any) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _bound(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def range_words(bounds: Mapping[str, Any]) -> str:
    low, high = bounds.get("min_value"), bounds.get("max_value")
    if low is not None and high is not None:
        return f"must lie in [{_bound(low)}, {_bound(high)}]"
    return f"must be >= {_bound(low)}" if low is not None else f"must be <= {_bound(high)}"


def key_of(kwargs: Mapping[str, Any]) -> list[str]:
    return [str(column) for column in kwargs.get("key") or []]


def rules_of(kwargs: Mapping[str, Any]) -> list[Rule]:
    """The rules of one ``model_rules`` test, in the order the test evaluates them."""
    rules: list[Rule] = []
    key = key_of(kwargs)
    if key:
        rules.append(Rule("key", None, "", f"must have one row per ({', '.join(key)})", tuple(key)))
    for column in kwargs.get("not_null") or []:
        rules.append(
            Rule(f"not_null:{column}", column, f"{quoted(column)} is null", "must not be NULL")
        )
    for column, values in (kwargs.get("accepted_values") or {}).items():
        listed = ", ".join(_literal(v) for v in values)
        rules.append(
            Rule(
                f"accepted_values:{column}",
                column,
                f"{quoted(column)} is not null and {quoted(column)} not in ({listed})",
                f"must be one of {', '.join(map(str, values))}",
            )
        )
    for column, bounds in (kwargs.get("ranges") or {}).items():
        low, high = bounds.get("min_value"), bounds.get("max_value")
        parts = [f"{quoted(column)} < {low}"] if low is not None else []
        parts += [f"{quoted(column)} > {high}"] if high is not None else []
        if parts:
            rules.append(Rule(f"range:{column}", column, " or ".join(parts), range_words(bounds)))
    for number, item in enumerate(kwargs.get("expressions") or [], start=1):
        expression, where = item["expression"], item.get("where_clause")
        rows = f"rows where {where}" if where else "every row"
        rules.append(
            Rule(
                f"expression:{number}",
                None,
                f"not coalesce(({expression}), false) and ({where or 'true'})",
                f"{rows} must satisfy {expression}",
                tuple(dict.fromkeys(IDENTIFIER.findall(expression))),
            )
        )
    return rules


def describe(model: str, kwargs: Mapping[str, Any]) -> str:
    """Every rule of the test in words, one sentence each."""
    sentences = []
    for rule in rules_of(kwargs):
        subject = f"{model}.{rule.column}" if rule.column else model
        sentences.append(f"{subject} {rule.words}.")
    return " ".join(sentences) or f"{model}: no rule."


def _keys_by_model(manifest: Mapping[str, Any]) -> dict[str, list[str]]:
    """Model id → key, one pass over the tests: the ``key`` of its ``model_rules`` test, else its
    one-column ``unique`` test's column."""
    keys: dict[str, list[str]] = {}
    for node in manifest.get("nodes", {}).values():
        model_id = node.get("attached_node")
        if node.get("resource_type") != "test" or not model_id:
            continue
        meta = node.get("test_metadata") or {}
        key = key_of(meta.get("kwargs") or {})
        if meta.get("name") == MODEL_RULES and key:
            keys[model_id] = key
        elif meta.get("name") == "unique" and node.get("column_name"):
            keys.setdefault(model_id, [str(node["column_name"])])
    return keys


def model_key(model_id: str, manifest: Mapping[str, Any]) -> list[str]:
    """The model's key (empty when it has none)."""
    return _keys_by_model(manifest).get(model_id, [])


def model_keys(manifest: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """Each model's (or seed's) table name → its key, for every model with one."""
    nodes = manifest.get("nodes", {})
    return {
        nodes[model_id].get("alias") or nodes[model_id]["name"]: tuple(key)
        for model_id, key in _keys_by_model(manifest).items()
        if model_id in nodes
    }


def broken_rules(kwargs: Mapping[str, Any], labels: Sequence[str]) -> list[Rule]:
    """The rules the test reported broken (its result rows' labels), in the test's order."""
    wanted = set(labels)
    return [rule for rule in rules_of(kwargs) if rule.label in wanted]


IN_BUILD_SELECTION = f"test_name:{MODEL_RULES}"
"""The ``model_rules`` tests a build leaves out because the post-hook of the model or seed each
is attached to runs them (``dbt_project/macros/model_rules_in_build.sql``): every one
(``rules_checked_in_build``)."""
IN_BUILD_MESSAGE = "model_rules broken: "
"""How the post-hook's error starts, before ``<label> (<n> row(s))`` per broken rule."""
_BROKEN = re.compile(r"([A-Za-z_]+(?::[^\s(]+)?) \((\d+) rows?\)")


def rules_checked_in_build(manifest: Mapping[str, Any]) -> dict[str, str]:
    """Model or seed id → the id of its ``model_rules`` test, for every one that has one: the rules
    its post-hook runs as it is built or loaded."""
    checked = {}
    for unique_id, node in manifest.get("nodes", {}).items():
        attached = str(node.get("attached_node") or "")
        kind = (node.get("test_metadata") or {}).get("name")
        if (
            node.get("resource_type") == "test"
            and kind == MODEL_RULES
            and attached.startswith(("model.", "seed."))
        ):
            checked[attached] = unique_id
    return checked


def broken_in_build(message: str) -> list[tuple[str, int]] | None:
    """``(label, offending rows)`` of each rule a model's or seed's post-hook found broken, from
    dbt's error message for the node; None when the node failed for another reason."""
    start = message.find(IN_BUILD_MESSAGE)
    if start < 0:
        return None
    listed = message[start + len(IN_BUILD_MESSAGE) :].splitlines()[0]
    return [(label, int(count)) for label, count in _BROKEN.findall(listed)]
