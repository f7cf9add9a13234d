"""The gate's checks: the blocking one that stops a failing build, and one per gated table.

A blocking asset check on ``audit/validation_results`` reliably skips the downstream publish
asset ("Dependencies for step … failed. Not executing."); a failing dbt test does not
(dagster-io/dagster#25112, #18472, #19821). The check reads back what the gate recorded for this
run, so the CLI, the UI and auditors all see the same failures.

The same step puts the results where a failed run is read in the UI: one check
``expectations`` on every table the suites validate (``commune_year``, ``int_households_classified``
...), failed when a critical expectation on that table failed, with each expectation's rule in
words, what was observed and its first offending keys in the metadata. Those checks only show;
the blocking decision stays with ``critical_expectations_pass`` (one place decides). Both are
one multi-asset check (one step after the gate): a separate step would be skipped when the
blocking check fails, which is exactly when its view is needed.
"""

from collections.abc import Iterator

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    MetadataValue,
    multi_asset_check,
)

from orchestration.base.build_record import build_id_for_run
from orchestration.base.resources import WarehouseResource, retry_on_lock
from orchestration.base.run_lineage import run_lineage
from orchestration.base.settings import WAREHOUSE_POOL
from orchestration.base.warehouse_connection import connect
from orchestration.gate.assets import GATED_ASSET_KEYS, VALIDATION_RESULTS_KEY
from orchestration.gate.results import expectation_outcomes, format_failures
from orchestration.gate.validation import CRITICAL, ExpectationOutcome, load_suites

GATE_CHECK_NAME = "critical_expectations_pass"
TABLE_CHECK_NAME = "expectations"


def _rules() -> dict[tuple[str, str], str]:
    """(suite, expectation) → the rule in words, from the suites."""
    return {
        (spec.suite, expectation.name): expectation.description
        for spec in load_suites()
        for expectation in spec.expectations
    }


def _outcome_text(outcome: ExpectationOutcome, rule: str) -> str:
    column = f" ({outcome.column_name})" if outcome.column_name else ""
    lines = [
        f"{'PASSED' if outcome.success else 'FAILED'} [{outcome.severity}] "
        f"{outcome.expectation}{column}: {rule}",
        f"expected: {outcome.expected}; observed: {outcome.observed}",
    ]
    if outcome.offending_keys:
        keys = "; ".join(str(key) for key in outcome.offending_keys[:5])
        lines.append(f"first offending keys: {keys}")
    return "\n".join(lines)


def _table_result(
    key, outcomes: list[ExpectationOutcome], rules: dict[tuple[str, str], str]
) -> AssetCheckResult:
    critical = [o for o in outcomes if not o.success and o.severity == CRITICAL]
    warned = [o for o in outcomes if not o.success and o.severity != CRITICAL]
    failed = critical or warned
    if critical:
        first = critical[0]
        description = (
            f"{len(critical)} critical expectation(s) failed, e.g. {first.expectation}: "
            f"{rules.get((first.suite, first.expectation), first.expected)}"
        )
    elif warned:
        description = f"passed; {len(warned)} warning(s): " + ", ".join(
            o.expectation for o in warned
        )
    else:
        description = f"all {len(outcomes)} expectation(s) passed"
    metadata = {
        "expectations": len(outcomes),
        "critical_failures": len(critical),
        "warnings": len(warned),
        "results": MetadataValue.md(
            "\n\n".join(
                _outcome_text(o, rules.get((o.suite, o.expectation), o.expected))
                for o in [*failed, *(o for o in outcomes if o.success)]
            )
            or "no expectation on this table"
        ),
    }
    if failed:
        metadata["first_offending_keys"] = MetadataValue.json(failed[0].offending_keys[:5])
    return AssetCheckResult(
        asset_key=key,
        check_name=TABLE_CHECK_NAME,
        passed=not critical,
        severity=AssetCheckSeverity.ERROR if critical else AssetCheckSeverity.WARN,
        description=description,
        metadata=metadata,
    )


GATE_SPEC = AssetCheckSpec(
    GATE_CHECK_NAME,
    asset=VALIDATION_RESULTS_KEY,
    blocking=True,
    description="No critical expectation failed in this run's quality gate.",
)


def _gate_result(build_id: str | None, outcomes: list[ExpectationOutcome]) -> AssetCheckResult:
    if build_id is None:
        return AssetCheckResult(
            asset_key=VALIDATION_RESULTS_KEY,
            check_name=GATE_CHECK_NAME,
            passed=False,
            severity=AssetCheckSeverity.ERROR,
            description=(
                "the quality gate recorded no result for this run or the run it re-executes"
            ),
        )
    # The build's failed critical expectations, in the order ``failed_expectations`` gives.
    failures = [o for o in outcomes if not o.success and o.severity == CRITICAL]
    return AssetCheckResult(
        asset_key=VALIDATION_RESULTS_KEY,
        check_name=GATE_CHECK_NAME,
        passed=not failures,
        severity=AssetCheckSeverity.ERROR,
        description=(
            f"{len(failures)} critical expectation(s) failed" if failures else "all passed"
        ),
        metadata={
            "build_id": build_id,
            "critical_failures": len(failures),
            "failures": MetadataValue.md("```\n" + format_failures(failures) + "\n```"),
        },
    )


@multi_asset_check(
    specs=[
        GATE_SPEC,
        *(
            AssetCheckSpec(
                TABLE_CHECK_NAME,
                asset=key,
                additional_deps=[VALIDATION_RESULTS_KEY],
                description=(
                    "The Great Expectations rules on this table, from this run's quality gate: "
                    "each rule in words, what was observed and the first offending keys."
                ),
            )
            for key in GATED_ASSET_KEYS
        ),
    ],
    name=GATE_CHECK_NAME,
    pool=WAREHOUSE_POOL,
    can_subset=True,
)
def critical_expectations_pass(
    context: AssetCheckExecutionContext, warehouse: WarehouseResource
) -> Iterator[AssetCheckResult]:
    """The gate's decision and its per-table view, in one step: the per-table results are
    yielded first, so they are recorded even when the blocking gate check then fails."""
    warehouse_path = warehouse.settings.warehouse_path
    # One open of the warehouse: while this connection is held, the two helpers' own read-only
    # connections reuse its database (DuckDB shares an open file; opening it costs ~15 ms).
    with retry_on_lock(), connect(warehouse_path, read_only=True):
        build_id = build_id_for_run(warehouse_path, run_lineage(context))
        outcomes = expectation_outcomes(warehouse_path, build_id) if build_id else []
    rules = _rules()
    by_table: dict[str, list[ExpectationOutcome]] = {}
    for outcome in outcomes:
        by_table.setdefault(outcome.table_name, []).append(outcome)
    selected = context.selected_asset_check_keys
    for check_key in sorted(selected, key=lambda key: key.asset_key.to_user_string()):
        if check_key.name == TABLE_CHECK_NAME:
            table = ".".join(check_key.asset_key.path)
            yield _table_result(check_key.asset_key, by_table.get(table, []), rules)
    if GATE_SPEC.key in selected:
        yield _gate_result(build_id, outcomes)
