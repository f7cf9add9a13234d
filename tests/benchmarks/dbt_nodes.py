"""Where a dbt build's time goes, node by node, and the chain of nodes that bounds it.

Runs the pipeline's ``dbt build`` (its selection: dbt's unit tests and the models' ``model_rules``
tests left out, the post-hooks run those; ``orchestration/transform/assets.py``) on a copy of a
warehouse file, then prints the slowest nodes, the nodes' summed time, the build's elapsed time
and its critical path: the chain that would bound the build with unlimited threads (a node waits
for its parents and, in ``dbt build``, for the tests of its parents). On two threads a build
takes at least the larger of that chain and half the summed time. Not collected by pytest.

    .venv/bin/python tests/benchmarks/dbt_nodes.py --warehouse DIR/warehouse.duckdb [--top 25]
        [--threads N] [--keep DIR] [-- extra dbt arguments]

The file given is never written: the build runs on a copy. To measure a review year added, ingest
it into a built warehouse first (``orchestration.ingest.years.ingest_years`` for each dataset)
and keep that file; each run of this script then builds the same add (``docs/performance.md``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

from orchestration.base.model_rules import IN_BUILD_SELECTION  # noqa: E402
from orchestration.base.settings import DBT_PROJECT_DIR, duckdb_memory_limit  # noqa: E402


def critical_path(
    results: Mapping[str, Any], manifest: Mapping[str, Any]
) -> tuple[float, list[tuple[str, float]]]:
    """The longest chain of the build's nodes by their execution times: its length and its nodes
    (unique id, seconds), first to last. A test blocks a node when it is attached to one of the
    node's parents and reads nothing built from the node itself."""
    seconds = {r["unique_id"]: float(r["execution_time"]) for r in results["results"]}
    nodes = manifest["nodes"]

    def depends_on(unique_id: str) -> list[str]:
        return list(nodes.get(unique_id, {}).get("depends_on", {}).get("nodes", []))

    @cache
    def ancestors(unique_id: str) -> frozenset[str]:
        found: set[str] = set()
        for parent in depends_on(unique_id):
            found |= {parent} | ancestors(parent)
        return frozenset(found)

    tests_of: dict[str, list[str]] = {}
    for unique_id, node in nodes.items():
        if node.get("resource_type") == "test" and unique_id in seconds:
            for parent in depends_on(unique_id):
                tests_of.setdefault(parent, []).append(unique_id)

    def waits_for(unique_id: str) -> list[str]:
        parents = [p for p in depends_on(unique_id) if p in seconds]
        if nodes.get(unique_id, {}).get("resource_type") == "test":
            return parents
        blocking = [
            test
            for parent in parents
            for test in tests_of.get(parent, [])
            if set(depends_on(test)) <= ancestors(unique_id)
        ]
        return parents + blocking

    @cache
    def finish(unique_id: str) -> float:
        return max((finish(p) for p in waits_for(unique_id)), default=0.0) + seconds[unique_id]

    if not seconds:
        return 0.0, []
    last = max(seconds, key=finish)
    chain: list[tuple[str, float]] = []
    node: str | None = last
    while node is not None:
        chain.append((node, seconds[node]))
        before = waits_for(node)
        node = max(before, key=finish) if before else None
    return finish(last), chain[::-1]


def _build(warehouse: Path, target: Path, threads: int | None, extra: list[str]) -> float:
    """The build as a run starts it: through ``orchestration.base.dbt_child``, which gives dbt
    the warehouse and the memory limit (cold here: no warm dbt to hand it to)."""
    args = [sys.executable, "-m", "orchestration.base.dbt_child"]
    args += ["--warehouse-path", str(warehouse.resolve()), "--memory-limit", duckdb_memory_limit()]
    args += ["build", "--exclude-resource-type", "unit_test", "--exclude", IN_BUILD_SELECTION]
    args += ["--target-path", str(target), "--log-path", str(target), "--log-level-file", "none"]
    args += ["--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR)]
    if threads:
        args += ["--threads", str(threads)]
    started = time.perf_counter()
    done = subprocess.run(
        [*args, *extra], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"dbt build failed ({done.returncode}):\n{done.stdout[-3000:]}")
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--warehouse", type=Path, required=True, help="a warehouse.duckdb")
    parser.add_argument("--top", type=int, default=20, help="how many of the slowest nodes")
    parser.add_argument("--threads", type=int, help="dbt threads (the profile's 2 by default)")
    parser.add_argument("--keep", type=Path, help="keep dbt's target folder here")
    parser.add_argument("extra", nargs="*", help="more dbt arguments, after --")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dbt-nodes-") as scratch:
        copy = Path(scratch) / "warehouse.duckdb"
        shutil.copyfile(options.warehouse, copy)
        wal = options.warehouse.with_name(options.warehouse.name + ".wal")
        if wal.exists():
            shutil.copyfile(wal, copy.with_name(copy.name + ".wal"))
        target = (options.keep or Path(scratch) / "target").resolve()
        wall = _build(copy, target, options.threads, options.extra)
        results = json.loads((target / "run_results.json").read_text(encoding="utf-8"))
        manifest = json.loads((target / "manifest.json").read_text(encoding="utf-8"))
    seconds = {r["unique_id"]: float(r["execution_time"]) for r in results["results"]}
    length, chain = critical_path(results, manifest)
    print(
        f"dbt build: {wall:.2f} s wall, {results['elapsed_time']:.2f} s elapsed; "
        f"{len(seconds)} nodes summing {sum(seconds.values()):.2f} s; "
        f"critical path {length:.2f} s:"
    )
    for unique_id, spent in chain:
        print(f"  {spent:6.2f}  {unique_id}")
    print(f"the {min(options.top, len(seconds))} slowest nodes:")
    for unique_id in sorted(seconds, key=seconds.__getitem__, reverse=True)[: options.top]:
        print(f"  {seconds[unique_id]:6.2f}  {unique_id}")


if __name__ == "__main__":
    main()
