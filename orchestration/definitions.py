"""The one place that builds the Dagster ``Definitions``, from explicit lists.

Data flows ``data/raw`` → ingest (partitioned by review year) → dbt (staging → intermediate →
marts) → the Great Expectations gate (a blocking check) → the atomic publish. ``poverty_review_job``
runs all of it; ``poverty-warehouse run``, the raw-files sensor and the yearly schedule all launch
that same job, so the command line and the UI share one code path.

Every step that opens the DuckDB warehouse runs in the in-process executor and holds the
``duckdb_warehouse`` pool (limit 1 in ``orchestration/dagster.yaml``): DuckDB allows one writer
process per file.
"""

from __future__ import annotations

from dagster import AssetSelection, Definitions, define_asset_job, in_process_executor

from orchestration.assets.dbt import warehouse_dbt_assets
from orchestration.assets.ingest import (
    admin_units,
    raw_commune_totals,
    raw_difficult_areas,
    raw_survey_households,
)
from orchestration.assets.publish import published_warehouse
from orchestration.assets.quality_gate import validation_results
from orchestration.checks.ingest import ingest_checks
from orchestration.checks.quality_gate import critical_expectations_pass
from orchestration.resources import build_resources
from orchestration.schedules import yearly_review_schedule
from orchestration.sensors import raw_files_sensor

POVERTY_REVIEW_JOB = "poverty_review_job"
INGEST_JOB = "ingest_job"

ingest_assets = [admin_units, raw_survey_households, raw_commune_totals, raw_difficult_areas]
all_assets = [*ingest_assets, warehouse_dbt_assets, validation_results, published_warehouse]

poverty_review_job = define_asset_job(
    name=POVERTY_REVIEW_JOB,
    selection=AssetSelection.assets(*all_assets),
    executor_def=in_process_executor,
    description=(
        "Ingest the review years of the partition (or partition range), rebuild the warehouse "
        "with dbt, validate it with Great Expectations and publish it when the gate passes."
    ),
)
ingest_job = define_asset_job(
    name=INGEST_JOB,
    selection=AssetSelection.assets(*ingest_assets),
    executor_def=in_process_executor,
    description="Load review exports into the raw tables only (no rebuild, no publish).",
)


def build_definitions(resources: dict[str, object] | None = None) -> Definitions:
    """Definitions for one set of paths; tests pass resources that point at a temp directory."""
    return Definitions(
        assets=all_assets,
        asset_checks=[*ingest_checks, critical_expectations_pass],
        jobs=[poverty_review_job, ingest_job],
        sensors=[raw_files_sensor],
        schedules=[yearly_review_schedule],
        resources=resources if resources is not None else build_resources(),
    )


defs = build_definitions()
