"""The atomic publish of the validated marts: ``published.duckdb``, Parquet files, the report.

It runs only when the blocking check ``critical_expectations_pass`` passed in the same run (the
check fails its dependency otherwise, and Dagster skips this step). As a second lock,
:func:`orchestration.publish.publish.publish` refuses a build without a recorded gate pass.
"""

from dagster import AssetExecutionContext, AssetKey, Failure, MaterializeResult, asset

from orchestration.base import background
from orchestration.base.build_record import build_id_for_run, code_version
from orchestration.base.resources import WarehouseResource, retry_on_lock
from orchestration.base.run_lineage import run_lineage
from orchestration.base.settings import WAREHOUSE_POOL
from orchestration.publish.publish import AfterPublishError, publish

PUBLISHED_WAREHOUSE_KEY = AssetKey(["published", "published_warehouse"])
# The gate's asset (orchestration/gate/assets.py), named by its key: a stage links to another
# through asset keys, never through an import.
VALIDATION_RESULTS_KEY = AssetKey(["audit", "validation_results"])


@asset(
    key=PUBLISHED_WAREHOUSE_KEY,
    deps=[VALIDATION_RESULTS_KEY],
    pool=WAREHOUSE_POOL,
    group_name="quality_gate",
    description=(
        "published.duckdb (readable by DuckDB 1.2.0 and later, every table and column commented), "
        "the same tables as Parquet under published/ with a manifest, and the plan report "
        "report/index.html, served together; the last builds are kept under builds/ for "
        "rollback."
    ),
)
def published_warehouse(
    context: AssetExecutionContext, warehouse: WarehouseResource
) -> MaterializeResult:
    settings = warehouse.settings
    with retry_on_lock():
        build_id = build_id_for_run(settings.warehouse_path, run_lineage(context))
    if build_id is None:
        raise Failure(
            description="no quality-gate result recorded for this run; not publishing",
            allow_retries=False,
        )
    try:
        with retry_on_lock():
            result = publish(
                settings.warehouse_path,
                settings.published_path,
                build_id=build_id,
                run_id=context.run.run_id,
                code_version=code_version(),
            )
    except AfterPublishError as error:
        # The build is served, recorded and kept: the failure must not read "nothing published".
        raise Failure(description=str(error), metadata={"published_build_id": build_id}) from error
    finally:
        # The gate's Data Docs, rendered meanwhile (orchestration/base/background.py).
        for message in background.finish():
            context.log.warning(f"{message} (the gate's verdict and results are recorded)")
    if result.marts_missing:
        context.log.warning(
            "dbt marts absent from the warehouse, not published: " + ", ".join(result.marts_missing)
        )
    return MaterializeResult(
        metadata={
            "build_id": result.build_id,
            "published_path": str(result.published_path),
            "parquet_dir": str(result.export_dir),
            "report_path": str(result.report_path),
            "kept_path": str(result.kept_path),
            "duration_s": round(result.duration_s, 3),
            **{f"rows/{table}": count for table, count in result.tables.items()},
        }
    )
