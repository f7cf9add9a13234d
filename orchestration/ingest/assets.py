"""Ingest assets: reference administrative units, and the three raw datasets per review year.

The work is done by ``orchestration.ingest`` (no Dagster in it, so it is tested and
benchmarked directly); these assets only open the warehouse inside the step, hand over the run
id and the PII key, and report counts as metadata. The three raw assets are made by one factory
from the ingest's dataset registry.

The warehouse mirrors the raw directory: before ingesting the run's review years, a raw asset
empties every year of its dataset that has no file left on disk (``remove_years_not_on_disk``),
so a year folder deleted from disk leaves the warehouse even though its partition is not run
again; a partition whose year is gone simply empties that year.

Each raw asset is partitioned by review year with a single-run backfill policy: a backfill of
several years is one run that ingests them one after the other on one connection, instead of
several runs queueing for the one DuckDB writer. Every asset holds the ``duckdb_warehouse`` pool
(limit 1), so runs started by the sensor, the schedule and a person never write at once.
"""

import hashlib
import warnings

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetObservation,
    BackfillPolicy,
    BetaWarning,
    MaterializeResult,
    MetadataValue,
    asset,
)
from dagster_duckdb import DuckDBResource

from orchestration.base.admin_units import load_admin_units
from orchestration.base.partitions import review_year_partitions
from orchestration.base.pii import load_or_create_pii_key
from orchestration.base.resources import PipelinePaths, file_progress, retry_on_lock
from orchestration.base.settings import WAREHOUSE_POOL
from orchestration.ingest import (
    REGISTRY,
    IngestReport,
    remove_years_not_on_disk,
    validate_raw_dir,
)
from orchestration.ingest.checks import row_balance, row_balance_spec
from orchestration.ingest.registry import Dataset
from orchestration.ingest.years import ingest_years

# The single-run backfill policy is marked beta; it is the behaviour we rely on (one run, one
# writer, every review year), so the warning would only be noise on every start.
warnings.filterwarnings("ignore", message="Parameter `backfill_policy`", category=BetaWarning)


@asset(
    key=["reference", "admin_units"],
    group_name="reference",
    pool=WAREHOUSE_POOL,
    kinds={"duckdb", "python"},
    description=(
        "Communes, districts and provinces of both unit versions (pre2025 and 2025) and the "
        "old-to-new commune mapping, from the vietnamadminunits package."
    ),
)
def admin_units(warehouse: DuckDBResource) -> MaterializeResult:
    with retry_on_lock(), warehouse.get_connection() as con:
        counts = load_admin_units(con)
    return MaterializeResult(metadata={f"rows_{name}": count for name, count in counts.items()})


def _ingest_years(
    context: AssetExecutionContext,
    paths: PipelinePaths,
    warehouse: DuckDBResource,
    registered: Dataset,
) -> MaterializeResult:
    """Ingest every review year of the run's partitions, one transaction per year, two years
    at a time (``ingest_years``)."""
    dataset = registered.name
    years = sorted(int(key) for key in context.partition_keys)
    raw_dir = paths.settings.raw_dir
    # Before the warehouse is opened: a broken layout or key stops the step with its message.
    validate_raw_dir(raw_dir)
    pii_key = load_or_create_pii_key()
    with retry_on_lock(), warehouse.get_connection() as con:
        removed = remove_years_not_on_disk(con, raw_dir, dataset, run_id=context.run.run_id)
        if removed:
            context.log.info(
                f"{dataset}: review year(s) {', '.join(map(str, removed))} no longer in "
                f"{raw_dir}; their rows left the warehouse"
            )
        reports = ingest_years(
            con,
            raw_dir,
            dataset,
            years,
            run_id=context.run.run_id,
            pii_key=pii_key,
            on_file=file_progress(dataset),
        )
        # Every line accounted for, checked on the same connection once the years are written.
        balance = row_balance(con, registered)
    for report in reports:
        if report.unchanged_since is not None:
            context.log.info(
                f"{dataset} {report.review_year}: unchanged since run {report.unchanged_since} "
                f"(the same {len(report.files)} file(s) and rules): its {report.rows_loaded} "
                f"rows loaded and {report.rows_quarantined} quarantined are kept, not read again"
            )
        else:
            context.log.info(
                f"{dataset} {report.review_year}: {report.rows_read} rows read, "
                f"{report.rows_loaded} loaded, {report.rows_quarantined} quarantined from "
                f"{len(report.files)} file(s)"
            )
        context.log_event(raw_files_observation(report))
    files = [
        {
            "review_year": report.review_year,
            "file": file.file_name,
            "status": file.status,
            "status_reason": file.status_reason,
            "lines": file.lines,
            "rows_read": file.rows_read,
            "rows_loaded": file.rows_loaded,
            "rows_quarantined": file.rows_quarantined,
        }
        for report in reports
        for file in report.files
    ]
    return MaterializeResult(
        check_results=[balance],
        metadata={
            "review_years": MetadataValue.text(", ".join(str(year) for year in years)),
            "review_years_removed": MetadataValue.text(", ".join(map(str, removed))),
            "review_years_unchanged": MetadataValue.text(
                ", ".join(str(r.review_year) for r in reports if r.unchanged_since is not None)
            ),
            "rows_read": sum(r.rows_read for r in reports),
            "rows_loaded": sum(r.rows_loaded for r in reports),
            "rows_quarantined": sum(r.rows_quarantined for r in reports),
            "files": len(files),
            "files_by_status": MetadataValue.json(
                {status: sum(f["status"] == status for f in files) for status in _statuses(files)}
            ),
            "file_details": MetadataValue.json(files),
        },
    )


def raw_files_observation(report: IngestReport) -> AssetObservation:
    """The ``raw_files/<dataset>`` observation of one year: how many files were read and one
    sha256 over their names and contents. Every run records it, whoever launched it."""
    read = sorted(
        (file.file_name, file.sha256 or "")
        for file in report.files
        if file.status != "ignored" and file.sha256
    )
    digest = hashlib.sha256()
    for name, sha in read:
        digest.update(f"{name}\0{sha}\n".encode())
    return AssetObservation(
        asset_key=AssetKey(["raw_files", report.dataset]),
        partition=str(report.review_year),
        metadata={"files": len(read), "sha256": digest.hexdigest()},
    )


def _statuses(files: list[dict[str, object]]) -> list[str]:
    return sorted({str(f["status"]) for f in files})


def build_raw_asset(dataset: Dataset):
    """The partitioned ingest asset of one dataset, keyed after its raw table."""

    @asset(
        key=dataset.raw_table.split("."),
        description=dataset.description,
        partitions_def=review_year_partitions,
        backfill_policy=BackfillPolicy.single_run(),
        pool=WAREHOUSE_POOL,
        deps=[admin_units],
        group_name="raw",
        kinds={"duckdb", "python"},
        check_specs=[row_balance_spec(dataset)],
    )
    def raw_asset(
        context: AssetExecutionContext, paths: PipelinePaths, warehouse: DuckDBResource
    ) -> MaterializeResult:
        return _ingest_years(context, paths, warehouse, dataset)

    return raw_asset


raw_survey_households = build_raw_asset(REGISTRY["survey"])
raw_commune_totals = build_raw_asset(REGISTRY["commune_totals"])
raw_difficult_areas = build_raw_asset(REGISTRY["difficult_areas"])

ingest_assets = [admin_units, raw_survey_households, raw_commune_totals, raw_difficult_areas]
