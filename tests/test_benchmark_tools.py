"""The benchmarks' own arithmetic (tests/benchmarks is not collected: its scripts measure)."""

from __future__ import annotations

import pytest
from benchmarks.dbt_nodes import critical_path


def _node(kind: str, *parents: str) -> dict:
    return {"resource_type": kind, "depends_on": {"nodes": list(parents)}}


def test_the_critical_path_waits_for_the_tests_of_a_nodes_parents_but_not_for_its_own():
    """As `dbt build` orders nodes: `b` waits for the test of its parent `a`; the test that reads
    `c` (a relationship from `a` to `c`) runs after `c`, so it cannot hold `c` back."""
    manifest = {
        "nodes": {
            "seed.s": _node("seed"),
            "model.a": _node("model", "seed.s"),
            "test.a_rows": _node("test", "model.a"),
            "model.b": _node("model", "model.a"),
            "model.c": _node("model", "model.a", "model.b"),
            "test.a_to_c": _node("test", "model.a", "model.c"),
            "model.unrelated": _node("model"),
        }
    }
    times = {
        "seed.s": 1.0,
        "model.a": 2.0,
        "test.a_rows": 5.0,
        "model.b": 1.0,
        "model.c": 1.0,
        "test.a_to_c": 0.5,
        "model.unrelated": 9.0,
    }
    results = {"results": [{"unique_id": u, "execution_time": t} for u, t in times.items()]}
    length, chain = critical_path(results, manifest)
    assert length == pytest.approx(10.5)
    assert [node for node, _ in chain] == [
        "seed.s",
        "model.a",
        "test.a_rows",
        "model.b",
        "model.c",
        "test.a_to_c",
    ]
    assert critical_path({"results": []}, manifest) == (0.0, [])
