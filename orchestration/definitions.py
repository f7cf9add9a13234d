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

import re

from dagster import AssetKey, AssetSpec, Definitions, map_asset_specs

from orchestration.assets.dbt import warehouse_dbt_assets
from orchestration.checks.ingest import ingest_checks
from orchestration.checks.quality_gate import critical_expectations_pass
from orchestration.jobs import (
    INGEST_JOB,
    POVERTY_REVIEW_JOB,
    all_assets,
    ingest_job,
    poverty_review_job,
)
from orchestration.partitions import review_year_partitions
from orchestration.resources import build_resources
from orchestration.schedules import yearly_review_schedule
from orchestration.sensors import raw_files_sensor

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


def _wire(spec: AssetSpec) -> AssetSpec:
    if spec.description:
        spec = spec.replace_attributes(description=_PLACEHOLDER.sub(r"`\1`", spec.description))
    upstream = _UPSTREAM_FILES.get(spec.key)
    return spec.merge_attributes(deps=[upstream]) if upstream else spec


def build_definitions(resources: dict[str, object] | None = None) -> Definitions:
    """Definitions for one set of paths; tests pass resources that point at a temp directory."""
    own = [asset for asset in all_assets if asset is not warehouse_dbt_assets]
    return Definitions(
        assets=[*raw_file_specs, *map_asset_specs(_wire, own), warehouse_dbt_assets],
        asset_checks=[*ingest_checks, critical_expectations_pass],
        jobs=[poverty_review_job, ingest_job],
        sensors=[raw_files_sensor],
        schedules=[yearly_review_schedule],
        resources=resources if resources is not None else build_resources(),
    )


defs = build_definitions()
