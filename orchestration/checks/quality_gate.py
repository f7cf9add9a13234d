"""The blocking check that stops a failing build from being published in the same run.

A blocking asset check on ``audit/validation_results`` reliably skips the downstream publish
asset ("Dependencies for step … failed. Not executing."); a failing dbt test does not
(dagster-io/dagster#25112, #18472, #19821). The check reads back what the gate recorded for this
run, so the CLI, the UI and auditors all see the same failures.
"""

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    MetadataValue,
    asset_check,
)

from orchestration.assets.quality_gate import VALIDATION_RESULTS_KEY, run_lineage
from orchestration.lib.quality_gate import (
    CRITICAL,
    build_id_for_run,
    failed_expectations,
    format_failures,
)
from orchestration.resources import WarehouseResource, retry_on_lock
from orchestration.settings import WAREHOUSE_POOL


@asset_check(
    asset=VALIDATION_RESULTS_KEY,
    name="critical_expectations_pass",
    blocking=True,
    pool=WAREHOUSE_POOL,
    description="No critical expectation failed in this run's quality gate.",
)
def critical_expectations_pass(
    context: AssetCheckExecutionContext, warehouse: WarehouseResource
) -> AssetCheckResult:
    warehouse_path = warehouse.settings.warehouse_path
    with retry_on_lock():
        build_id = build_id_for_run(warehouse_path, run_lineage(context))
    if build_id is None:
        return AssetCheckResult(
            passed=False,
            severity=AssetCheckSeverity.ERROR,
            description=(
                "the quality gate recorded no result for this run or the run it re-executes"
            ),
        )
    failures = failed_expectations(warehouse_path, build_id, severity=CRITICAL)
    return AssetCheckResult(
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
