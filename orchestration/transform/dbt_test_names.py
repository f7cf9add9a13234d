"""Readable names and descriptions for the dbt tests, as the Dagster UI and the terminal show them.

dbt names a generic test after its arguments: the range test of ``province_year`` is a
784-character name, and a test without a ``description`` reads "No description provided" in the
UI. Before the Dagster definitions read dbt's manifest, each data test gets

- a **name** from what it checks, e.g. ``model_rules`` (a model's key, required columns, sets,
  ranges and row expressions), ``unique_plan_id``, ``relationships_by_columns`` (``_2``, ``_3``
  … when the same kind of test appears twice on one table), at most 64 characters;
- a **description** in words: the test's own ``description`` from the YAML when it has one,
  otherwise the rule built from its arguments ("Each row of commune_year satisfies: …").

Only ``name`` and ``description`` change: dbt selects tests by their ``fqn`` and ``unique_id``,
which are kept, so every dbt command still finds them.

No Dagster import.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from orchestration.base.model_rules import MODEL_RULES
from orchestration.base.model_rules import describe as describe_rules

MAX_NAME = 64
_NOT_NAME = re.compile(r"[^A-Za-z0-9_]+")


def _slug(text: str) -> str:
    return _NOT_NAME.sub("_", text).strip("_").lower()


def _model(node: Mapping[str, Any], manifest: Mapping[str, Any]) -> str:
    attached = node.get("attached_node")
    if attached and attached in manifest.get("nodes", {}):
        return manifest["nodes"][attached]["name"]
    return (node.get("refs") or [{}])[0].get("name", "the table") if node.get("refs") else "it"


def _columns(kwargs: Mapping[str, Any]) -> list[str]:
    for key in ("columns", "combination_of_columns", "column_names"):
        value = kwargs.get(key)
        if isinstance(value, list):
            return [str(v) for v in value]
    return []


def describe(node: Mapping[str, Any], manifest: Mapping[str, Any]) -> str:
    """The rule a test checks, in words."""
    own = (node.get("description") or "").strip()
    if own:
        return own
    meta = node.get("test_metadata") or {}
    kind, kwargs = meta.get("name"), dict(meta.get("kwargs") or {})
    model, column = _model(node, manifest), node.get("column_name") or kwargs.get("column_name")
    columns = _columns(kwargs)
    if kind is None:
        return f"Singular test {node['name']}: returns no row when the rule holds."
    if kind == MODEL_RULES:
        return describe_rules(model, kwargs)
    if kind == "not_null":
        return f"No NULL in {', '.join(columns or [str(column)])} of {model}."
    if kind == "unique":
        return f"{column} is unique in {model}."
    if kind == "accepted_values":
        values = ", ".join(map(str, kwargs.get("values", [])))
        return f"{column} of {model} is one of: {values}."
    if kind.startswith("relationships"):
        target = re.sub(r"(?:ref|source)\('?(.*?)'?\)", r"\1", str(kwargs.get("to", "")))
        pairs = kwargs.get("columns")
        if isinstance(pairs, Mapping):
            matched = ", ".join(f"{k} = {target}.{v}" for k, v in pairs.items())
            return f"Every row of {model} has a match in {target} ({matched})."
        field = kwargs.get("field", column)
        return f"Every {column} of {model} exists as {target}.{field}."
    shown = {k: v for k, v in kwargs.items() if k not in ("model", "column_name")}
    return f"{kind} on {model}: {json.dumps(shown, ensure_ascii=False, default=str)[:400]}."


def _base_name(node: Mapping[str, Any]) -> str:
    meta = node.get("test_metadata") or {}
    kind = meta.get("name")
    if kind is None:
        return node["name"]
    kwargs = meta.get("kwargs") or {}
    column = node.get("column_name") or kwargs.get("column_name")
    if column:
        return f"{kind}_{column}"
    return kind


def readable_manifest(manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest with readable test names and descriptions (a new dict; fqn kept)."""
    nodes = dict(manifest["nodes"])
    taken: dict[tuple[str, str], int] = {}
    for unique_id in sorted(nodes):
        node = nodes[unique_id]
        if node.get("resource_type") != "test":
            continue
        attached = node.get("attached_node") or ",".join(node["depends_on"]["nodes"])
        base = _slug(_base_name(node))[:MAX_NAME] or "test"
        count = taken.get((attached, base), 0) + 1
        taken[(attached, base)] = count
        name = base if count == 1 else f"{base[: MAX_NAME - 4]}_{count}"
        nodes[unique_id] = {
            **node,
            "name": name,
            "description": describe(node, manifest),
            "meta": {**(node.get("meta") or {}), "description": describe(node, manifest)},
        }
    return {**manifest, "nodes": nodes}


def readable_test_names(manifest: Mapping[str, Any]) -> dict[str, str]:
    """unique_id → readable name of every test (for messages built from dbt's run results)."""
    return {
        unique_id: node["name"]
        for unique_id, node in manifest["nodes"].items()
        if node.get("resource_type") == "test"
    }
