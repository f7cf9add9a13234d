"""What the gate recorded for a build, read back from ``audit.validation_results`` and printed.

The gate's check, the command's exit message and the Dagster UI all read the same rows
(``orchestration/gate/validation.py`` writes them).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from orchestration.base.warehouse_connection import connect, table_exists
from orchestration.gate.validation import ExpectationOutcome, short_text

__all__ = ["expectation_outcomes", "failed_expectations", "format_failures"]


def format_failures(results: Iterable[ExpectationOutcome]) -> str:
    """A report of every failed expectation, for a terminal or the Dagster UI."""
    lines: list[str] = []
    for outcome in results:
        if outcome.success:
            continue
        target = outcome.table_name + (f".{outcome.column_name}" if outcome.column_name else "")
        lines.append(f"[{outcome.severity}] {outcome.suite} / {outcome.expectation} on {target}")
        lines.append(f"    expected: {outcome.expected}")
        lines.append(f"    observed: {outcome.observed}")
        if outcome.offending_keys:
            keys = "; ".join(short_text(key, 160) for key in outcome.offending_keys)
            lines.append(f"    offending keys: {keys}")
    return "\n".join(lines) if lines else "no failed expectation"


def _outcomes_from_rows(rows: list[tuple]) -> list[ExpectationOutcome]:
    return [
        ExpectationOutcome(
            build_id=row[0],
            run_id=row[1],
            suite=row[2],
            expectation=row[3],
            table_name=row[4],
            column_name=row[5],
            severity=row[6],
            success=row[7],
            observed=row[8],
            expected=row[9],
            offending_keys=json.loads(row[10]) if row[10] else [],
            validated_at=row[11],
        )
        for row in rows
    ]


def failed_expectations(
    warehouse_path: Path, build_id: str, *, severity: str | None = None
) -> list[ExpectationOutcome]:
    """The failed expectations recorded for a build (all severities unless one is given)."""
    return expectation_outcomes(warehouse_path, build_id, failed_only=True, severity=severity)


def expectation_outcomes(
    warehouse_path: Path,
    build_id: str,
    *,
    failed_only: bool = False,
    severity: str | None = None,
) -> list[ExpectationOutcome]:
    """Every expectation recorded for a build (or only the failed ones, of one severity)."""
    with connect(warehouse_path, read_only=True) as con:
        if not table_exists(con, "audit", "validation_results"):
            return []
        rows = con.execute(
            """
            select build_id, run_id, suite, expectation, table_name, column_name, severity,
                   success, observed, expected, offending_keys, validated_at
            from audit.validation_results
            where build_id = ? and (not ? or not success) and (? is null or severity = ?)
            order by severity, suite, table_name, expectation
            """,
            [build_id, failed_only, severity, severity],
        ).fetchall()
    return _outcomes_from_rows(rows)
