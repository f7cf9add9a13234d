"""The one place that builds the Dagster ``Definitions``, from explicit lists.

Data flows ``data/raw`` (the external ``raw_files/<dataset>`` assets) → ingest (partitioned by
review year) → dbt (staging → intermediate → marts) → the Great Expectations gate (a blocking
check) → the atomic publish. ``poverty_review_job`` (``orchestration/jobs.py``) runs all of it;
``poverty-warehouse run``, the raw-files sensor and the yearly schedule all launch that same
job, so the command line and the UI share one code path.

Every step that opens the DuckDB warehouse runs in the in-process executor, holds the
``duckdb_warehouse`` pool (limit 1 in ``orchestration/dagster.yaml``) and, through the warehouse
resource, the warehouse directory's run lock: DuckDB allows one writer process per file.
"""

from __future__ import annotations

import os
import re
from datetime import date, timedelta

from dagster import AssetKey, AssetSpec, Definitions, FreshnessPolicy, map_asset_specs

from orchestration.base.partitions import review_year_partitions
from orchestration.base.resources import build_resources
from orchestration.gate.checks import critical_expectations_pass
from orchestration.jobs import (
    INGEST_JOB,
    POVERTY_REVIEW_JOB,
    all_assets,
    ingest_job,
    poverty_review_job,
)
from orchestration.publish.assets import PUBLISHED_WAREHOUSE_KEY
from orchestration.schedules import yearly_review_schedule
from orchestration.sensors import raw_files_sensor, run_failure_alert_sensor
from orchestration.transform.assets import warehouse_dbt_assets

__all__ = ["INGEST_JOB", "POVERTY_REVIEW_JOB", "RAW_FILE_DATASETS", "build_definitions", "defs"]

RAW_FILE_DATASETS = {
    "survey": (
        ["raw", "survey_households"],
        "Survey exports (Phiếu B), `data/raw/survey/<year>/*.csv|*.xlsx`.",
    ),
    "commune_totals": (
        ["raw", "commune_totals"],
        "Resident households and people per commune, `data/raw/commune_totals/<year>.csv`.",
    ),
    "difficult_areas": (
        ["raw", "difficult_areas"],
        "Extremely difficult (ĐBKK) communes, `data/raw/difficult_areas/<year>.csv`.",
    ),
}
"""Each raw dataset's external asset: the files as they arrive, upstream of its ingest asset.
``poverty-warehouse run`` records an observation per review year (file count, sha256)."""


def raw_files_key(dataset: str) -> AssetKey:
    return AssetKey(["raw_files", dataset])


raw_file_specs = [
    AssetSpec(
        raw_files_key(dataset),
        description=description,
        group_name="raw_files",
        partitions_def=review_year_partitions,
        kinds={"file"},
    )
    for dataset, (_, description) in RAW_FILE_DATASETS.items()
]
_UPSTREAM_FILES = {
    AssetKey(target): raw_files_key(d) for d, (target, _) in RAW_FILE_DATASETS.items()
}
# `<warehouse>` in a description is an unknown HTML tag to the UI's Markdown: it vanishes.
_PLACEHOLDER = re.compile(r"(?<!`)(<\w+>[\w/.\-]*)")


OWNERS_ENV = "POVERTY_OWNERS"
DEFAULT_OWNERS = ("team:provincial-data-office",)
"""Who answers for the assets in the UI: ``POVERTY_OWNERS`` (comma-separated e-mail addresses or
``team:<name>``), else the provincial data office that sends the exports."""
REVIEW_DUE_ENV = "POVERTY_REVIEW_DUE"
DEFAULT_REVIEW_DUE = "02-01"
"""By when (``MM-DD``, Hanoi time) the published warehouse must hold the review of the year just
ended: ``POVERTY_REVIEW_DUE``, else 1 February, two weeks after the yearly schedule."""


def asset_owners() -> list[str]:
    value = os.environ.get(OWNERS_ENV, "")
    owners = [owner.strip() for owner in value.split(",") if owner.strip()]
    return owners or list(DEFAULT_OWNERS)


def review_freshness_policy() -> FreshnessPolicy:
    """The published warehouse must be rebuilt between 1 January and the due date each year.

    A cron freshness policy: at the deadline (``POVERTY_REVIEW_DUE``, 06:00 Hanoi time) the last
    publish must lie within the window that opened on 1 January; the UI shows the asset fresh,
    or overdue from the deadline on.
    """
    value = os.environ.get(REVIEW_DUE_ENV) or DEFAULT_REVIEW_DUE
    try:
        month, day = (int(part) for part in value.split("-"))
        due = date(2001, month, day)  # a year with no 29 February: the rule holds every year
    except ValueError:
        raise ValueError(f"{REVIEW_DUE_ENV}={value!r} is not a month and day (MM-DD)") from None
    window = max(due - date(2001, 1, 1), timedelta(days=1))
    return FreshnessPolicy.cron(
        deadline_cron=f"0 6 {due.day} {due.month} *",
        lower_bound_delta=window,
        timezone="Asia/Ho_Chi_Minh",
    )


def _wire(spec: AssetSpec) -> AssetSpec:
    if spec.description:
        spec = spec.replace_attributes(description=_PLACEHOLDER.sub(r"`\1`", spec.description))
    spec = spec.replace_attributes(owners=asset_owners())
    if spec.key == PUBLISHED_WAREHOUSE_KEY:
        spec = spec.replace_attributes(freshness_policy=review_freshness_policy())
    upstream = _UPSTREAM_FILES.get(spec.key)
    return spec.merge_attributes(deps=[upstream]) if upstream else spec


def _owned(spec: AssetSpec) -> AssetSpec:
    return spec.replace_attributes(owners=asset_owners())


def build_definitions(resources: dict[str, object] | None = None) -> Definitions:
    """Definitions for one set of paths; tests pass resources that point at a temp directory."""
    own = [asset for asset in all_assets if asset is not warehouse_dbt_assets]
    return Definitions(
        assets=[
            *map_asset_specs(_owned, raw_file_specs),
            *map_asset_specs(_wire, own),
            *map_asset_specs(_owned, [warehouse_dbt_assets]),
        ],
        asset_checks=[critical_expectations_pass],
        jobs=[poverty_review_job, ingest_job],
        sensors=[raw_files_sensor, run_failure_alert_sensor],
        schedules=[yearly_review_schedule],
        resources=resources if resources is not None else build_resources(),
    )


defs = build_definitions()
