"""A gate whose inputs did not change keeps the outcomes of the validation that read them.

A run on exports that did not change builds nothing: every year keeps its rows (the ingest) and
dbt does not run when its inputs are those of the build it recorded
(``orchestration/base/build_inputs.py``). The gate would then validate the very tables it
validated last time, with the same suites, and find the same outcomes; it spent most of such a
run on importing Great Expectations and reading every gated table again. Instead, when its
inputs are those of an earlier validation, the new build gets that validation's outcomes, each
with the time it was validated (``validated_at``), and the gate's step says which build it took
them from.

The gate's inputs (``gate_inputs_digest``), hashed together:

- the dbt build the warehouse holds (``audit.dbt_builds``: the run that built it and the digest
  of everything it read, the raw rows and the ingest's audit tables the suites read included),
  provided that digest, computed again now, is still the same: the staged tables are views over
  the raw ones, which an ingest may have changed since without dbt running. A build of the whole
  project records it, any other dbt step deletes it, and a build started again deletes it
  first, so a warehouse whose tables dbt touched since holds a different record or none;
  without one, or with its inputs changed, the gate validates;
- the suites (every file of the expectations directory) and the code that reads them
  (``orchestration/gate/``, the ingest's rules re-checked on the staged households in
  ``orchestration/base/postconditions.py``);
- the versions of Great Expectations and DuckDB, and ``FORMAT``.

As with the dbt build it relies on, a table changed by hand inside the warehouse is not seen:
``delete from audit.dbt_builds`` (docs/operations.md) makes dbt and then the gate run again.

No Dagster, no GX import: ``gate/validation.py`` asks ``kept_result`` before it imports GX.
"""

from __future__ import annotations

import hashlib
import json
import time
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from orchestration.base.build_inputs import build_inputs_digest, manifest_sources
from orchestration.base.settings import DBT_MANIFEST_PATH, DBT_PROJECT_DIR
from orchestration.base.warehouse_connection import connect, table_exists

if TYPE_CHECKING:
    from orchestration.gate.validation import GateResult

FORMAT = "gate-inputs-1"
"""Part of every digest: a change to what the digest covers validates again."""

GATE_CODE = (
    Path(__file__).parent,
    Path(__file__).parents[1] / "base" / "postconditions.py",
)
_PACKAGES = ("great-expectations", "duckdb")

GATE_INPUTS_DDL = """
create schema if not exists audit;
create table if not exists audit.gate_inputs (
    build_id varchar not null,
    inputs_sha256 varchar not null,
    recorded_at timestamptz not null
);
"""


def _files(paths: tuple[Path, ...]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(p for p in path.rglob("*") if p.is_file() and p.suffix != ".pyc")
        elif path.is_file():
            found.append(path)
    return sorted(found)


def gate_inputs_digest(
    con: duckdb.DuckDBPyConnection,
    expectations_dir: Path,
    *,
    project_dir: Path = DBT_PROJECT_DIR,
    manifest_path: Path = DBT_MANIFEST_PATH,
) -> str | None:
    """The digest of what the gate reads (module docstring), or None when the warehouse holds no
    recorded dbt build, or its inputs changed since (the gate then validates)."""
    if not table_exists(con, "audit", "dbt_builds"):
        return None
    builds = con.execute(
        "select run_id, inputs_sha256 from audit.dbt_builds order by all"
    ).fetchall()
    if len(builds) != 1:
        return None
    try:
        sources = manifest_sources(json.loads(Path(manifest_path).read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError):
        return None  # no dbt manifest to read the sources from: validate
    if build_inputs_digest(con, project_dir, sources) != builds[0][1]:
        return None
    digest = hashlib.sha256(FORMAT.encode())
    digest.update(("\ndbt build " + "\0".join(builds[0])).encode())
    for package in _PACKAGES:
        digest.update(f"\n{package}={metadata.version(package)}".encode())
    root = Path(__file__).parents[2]
    for path in _files((Path(expectations_dir), *GATE_CODE)):
        name = path.relative_to(root) if path.is_relative_to(root) else path.name
        digest.update(f"\n{name}\0".encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def validated_build(con: duckdb.DuckDBPyConnection, inputs: str, build_id: str) -> str | None:
    """The first build other than ``build_id`` whose gate read ``inputs`` and whose outcomes are
    still recorded: the one that validated them (a later build with the same inputs only kept
    them)."""
    if not table_exists(con, "audit", "gate_inputs") or not table_exists(
        con, "audit", "validation_results"
    ):
        return None
    row = con.execute(
        """
        select gate_inputs.build_id
        from audit.gate_inputs
        where
            gate_inputs.inputs_sha256 = ?
            and gate_inputs.build_id <> ?
            and exists (
                select 1
                from audit.validation_results
                where validation_results.build_id = gate_inputs.build_id
            )
        order by gate_inputs.recorded_at
        limit 1
        """,
        [inputs, build_id],
    ).fetchone()
    return row[0] if row else None


def kept_result(
    warehouse_path: Path,
    expectations_dir: Path,
    data_docs_dir: Path | None,
    *,
    build_id: str,
    run_id: str,
) -> tuple[str | None, GateResult | None]:
    """The gate's inputs digest (None: none), and the gate's result when an earlier build's gate
    read the same: that build's outcomes, recorded for ``build_id`` and ``run_id`` with their
    ``validated_at`` (one transaction, with the digest), and the Data Docs as the last
    validation rendered them, when there are some."""
    from orchestration.gate.results import expectation_outcomes
    from orchestration.gate.validation import GateResult

    started = time.perf_counter()
    with connect(warehouse_path) as con:
        inputs = gate_inputs_digest(con, expectations_dir)
        validated = validated_build(con, inputs, build_id) if inputs is not None else None
        if validated is None:
            return inputs, None
        con.execute("begin transaction")
        con.execute("delete from audit.validation_results where build_id = ?", [build_id])
        con.execute(
            "insert into audit.validation_results select ?, ?, * exclude (build_id, run_id) "
            "from audit.validation_results where build_id = ?",
            [build_id, run_id, validated],
        )
        record_gate_inputs(con, build_id, inputs)
        con.execute("commit")
    index = Path(data_docs_dir) / "index.html" if data_docs_dir is not None else None
    return inputs, GateResult(
        build_id=build_id,
        run_id=run_id,
        results=expectation_outcomes(warehouse_path, build_id),
        duration_s=time.perf_counter() - started,
        data_docs_index=index if index is not None and index.exists() else None,
        carried_over_from=validated,
    )


def record_gate_inputs(con: duckdb.DuckDBPyConnection, build_id: str, inputs: str) -> None:
    """Inside the transaction that writes ``build_id``'s outcomes."""
    con.execute(GATE_INPUTS_DDL)
    con.execute("delete from audit.gate_inputs where build_id = ?", [build_id])
    con.execute(
        "insert into audit.gate_inputs values (?, ?, current_timestamp)", [build_id, inputs]
    )
