"""Write ``docs/published-tables.md``, the reference of the published tables, from their sources.

The descriptions a BI tool shows as COMMENTs and the ones people read in the docs come from the
same place: the dbt YAML of the marts (through dbt's manifest) and the publish step's own docs of
``build_info``, ``source_files`` and ``validation_summary``. A hand-written copy would drift;
``tests/test_published_reference.py`` fails when the committed page differs from what this writes,
and when a published column has no description.

Run: ``.venv/bin/python -m orchestration.publish.published_reference`` (after ``make manifest``).
"""

from __future__ import annotations

import sys
from pathlib import Path

from orchestration.base.settings import DBT_MANIFEST_PATH, REPO_ROOT
from orchestration.publish.publish import AUDIT_TABLE_DOCS, ModelDocs, mart_models

REFERENCE_PATH = REPO_ROOT / "docs" / "published-tables.md"

_HEADER = """# The published tables

What BI tools, analysts and the plan report read: `OUT/published.duckdb` (schema `main`) and the
same tables as `OUT/published/<table>.parquet`. Each table and column carries the description
below as a COMMENT, so BI tools show it too. Rates are percents (0-100); counts of areas larger
than a commune sum the reported communes with totals only.

This page is written by `python -m orchestration.publish.published_reference` from the dbt YAML of
the marts and the publish step's own tables; do not edit it by hand.
"""


def published_docs(manifest_path: Path = DBT_MANIFEST_PATH) -> dict[str, ModelDocs]:
    """Every published table with its description and its columns' descriptions."""
    docs = dict(mart_models(manifest_path))
    for table, (description, columns) in AUDIT_TABLE_DOCS.items():
        docs[table] = ModelDocs(description, dict(columns))
    return docs


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def render(docs: dict[str, ModelDocs]) -> str:
    parts = [_HEADER]
    for table, model in docs.items():
        parts.append(f"\n## {table}\n\n{_cell(model.description)}\n")
        parts.append("\n| column | description |\n|---|---|\n")
        parts.extend(f"| `{column}` | {_cell(text)} |\n" for column, text in model.columns.items())
    return "".join(parts)


def undocumented(docs: dict[str, ModelDocs]) -> list[str]:
    """``table`` or ``table.column`` for every published table or column without a description."""
    gaps = [table for table, model in docs.items() if not model.description]
    gaps += [
        f"{table}.{column}"
        for table, model in docs.items()
        for column, text in model.columns.items()
        if not text
    ]
    return gaps


def main() -> int:
    REFERENCE_PATH.write_text(render(published_docs()), encoding="utf-8")
    print(f"wrote {REFERENCE_PATH.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
