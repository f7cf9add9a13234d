"""The jobs: the whole review (what ``poverty-warehouse run`` executes) and the ingest alone.

Both run in the in-process executor: every step opens the one DuckDB warehouse file, which
allows one writing process, and on a 2-core machine the in-process executor is also the faster.
"""

from __future__ import annotations

from dagster import AssetSelection, define_asset_job, in_process_executor

from orchestration.gate.assets import validation_results
from orchestration.ingest.assets import (
    admin_units,
    raw_commune_totals,
    raw_difficult_areas,
    raw_survey_households,
)
from orchestration.publish.assets import published_warehouse
from orchestration.transform.assets import warehouse_dbt_assets

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
