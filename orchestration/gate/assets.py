"""The quality gate as a Dagster asset: Great Expectations over the marts and staged households.

The asset always records its results (auditors want the failures as much as the passes); the
decision to stop publishing belongs to the blocking check ``critical_expectations_pass`` in
``orchestration/gate/checks.py``. A broken GX setup raises here and fails the step, so it
can never be mistaken for bad data.
"""

from dagster import (
    AssetExecutionContext,
    AssetKey,
    MaterializeResult,
    MetadataValue,
    asset,
)

from orchestration.base.build_record import code_version, new_build_id, record_build
from orchestration.base.resources import WarehouseResource, retry_on_lock
from orchestration.base.settings import WAREHOUSE_POOL
from orchestration.gate.results import format_failures
from orchestration.gate.validation import gated_tables, run_gate

VALIDATION_RESULTS_KEY = AssetKey(["audit", "validation_results"])
# The dbt-built tables the suites validate (audit.* tables are written by ingest, not by dbt);
# the suites are the one list of them.
GATED_ASSET_KEYS = [
    AssetKey(table.split("."))
    for table in gated_tables(schemas=("staging", "intermediate", "marts"))
]


@asset(
    key=VALIDATION_RESULTS_KEY,
    deps=GATED_ASSET_KEYS,
    pool=WAREHOUSE_POOL,
    group_name="quality_gate",
    description=(
        "Every expectation of expectations/*.json validated inside DuckDB; one row per "
        "expectation and build in audit.validation_results, Data Docs in <warehouse>/data_docs."
    ),
)
def validation_results(
    context: AssetExecutionContext, warehouse: WarehouseResource
) -> MaterializeResult:
    settings = warehouse.settings
    run_id = context.run.run_id
    build_id = new_build_id(run_id)
    with retry_on_lock():
        result = run_gate(
            settings.warehouse_path,
            build_id=build_id,
            run_id=run_id,
            data_docs_dir=settings.data_docs_dir,
            # Rendered while the run checks the result and publishes (the publish waits).
            docs_in_background=True,
        )
    # The build's one record: created here, read by the check, completed by the publish.
    record_build(
        settings.warehouse_path,
        build_id=build_id,
        run_id=run_id,
        code_version_text=code_version(),
        validation_passed=result.passed,
        published_at=None,
        published_path=None,
        kept_path=None,
    )
    if result.failures:
        context.log.warning(
            f"{len(result.failures)} critical expectation(s) failed; publishing will be blocked"
        )
    metadata = {
        "build_id": build_id,
        "passed": result.passed,
        "expectations": result.expectations_evaluated,
        "critical_failures": len(result.failures),
        "warnings": len(result.warnings),
        "duration_s": round(result.duration_s, 3),
        "failed_expectations": MetadataValue.md(
            "```\n" + format_failures([*result.failures, *result.warnings]) + "\n```"
        ),
    }
    if result.carried_over_from is not None:
        # Nothing the gate reads changed since that build's validation (gate/carry_over.py).
        metadata["carried_over_from_build"] = result.carried_over_from
        context.log.info(
            f"the gate's inputs are those of build {result.carried_over_from}: its "
            f"{result.expectations_evaluated} outcomes are kept, not validated again"
        )
    if result.data_docs_index is not None:
        metadata["data_docs"] = MetadataValue.path(str(result.data_docs_index))
    return MaterializeResult(metadata=metadata)
