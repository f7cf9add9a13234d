"""The published tables' reference page cannot drift from the descriptions BI tools show."""

from __future__ import annotations

from orchestration.publish.published_reference import (
    REFERENCE_PATH,
    published_docs,
    render,
    undocumented,
)


def test_every_published_table_and_column_is_described():
    assert undocumented(published_docs()) == []


def test_the_committed_reference_is_what_the_sources_say():
    expected = render(published_docs())
    assert REFERENCE_PATH.read_text(encoding="utf-8") == expected, (
        "docs/published-tables.md is stale: run "
        "`.venv/bin/python -m orchestration.publish.published_reference` and commit it"
    )
