"""The raw-files sensor: new or changed exports in ``data/raw`` start a review-year run.

The cursor is a JSON map of every layout file to ``size:mtime_ns:sha256``. A tick re-hashes only
files whose size or mtime moved, and a year counts as changed only when a file's *content* hash
changed, a file appeared or a file disappeared: touching a file, or copying the same bytes back,
starts nothing. A symbolic link is fingerprinted by its target's name, never by its target's bytes,
and a raw directory that breaks the layout (``validate_raw_dir``) starts nothing, saying why.
Each changed year gets one run of ``poverty_review_job`` for its partition, with a
run key built from the year and the content hashes of its files, so the same content never runs
twice even if the cursor is lost. New year folders are registered as dynamic partitions first.

Runs requested here may overlap with a scheduled or manual run: they do not write at once
because every warehouse step holds the ``duckdb_warehouse`` pool (limit 1).
"""

import hashlib
import json

from dagster import (
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from orchestration.lib.ingest import (
    RawLayoutError,
    list_review_years,
    raw_files_fingerprint,
    review_year_of_path,
)
from orchestration.partitions import review_year_partitions
from orchestration.resources import PipelinePaths

JOB_NAME = "poverty_review_job"


def _content_hash(fingerprint: str) -> str:
    return fingerprint.rsplit(":", 1)[-1]


def year_run_key(year: int, fingerprints: dict[str, str]) -> str:
    """``<year>:<sha256 over the sorted (path, content hash) pairs of the year's files>``."""
    digest = hashlib.sha256()
    for path in sorted(fingerprints):
        if review_year_of_path(path) == year:
            digest.update(f"{path}\0{_content_hash(fingerprints[path])}\n".encode())
    return f"{year}:{digest.hexdigest()[:16]}"


@sensor(
    name="raw_files_sensor",
    job_name=JOB_NAME,
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.STOPPED,
    description="Registers new review years, runs poverty_review_job for years with changed files.",
)
def raw_files_sensor(context: SensorEvaluationContext, paths: PipelinePaths):
    raw_dir = paths.settings.raw_dir
    previous: dict[str, str] = json.loads(context.cursor)["files"] if context.cursor else {}
    try:
        current = raw_files_fingerprint(raw_dir, previous)
    except RawLayoutError as error:
        # Nothing runs on a broken layout; the cursor stays, so the fix is seen as a change.
        return SkipReason(f"the raw directory breaks the layout, nothing started: {error}")

    changed_paths = {
        path
        for path in set(previous) | set(current)
        if _content_hash(previous.get(path, "")) != _content_hash(current.get(path, ""))
        or (path in previous) != (path in current)
    }
    changed_years = {year for year in map(review_year_of_path, changed_paths) if year is not None}
    years_on_disk = set(list_review_years(raw_dir))
    registered = set(context.instance.get_dynamic_partitions(review_year_partitions.name))
    new_partitions = sorted(str(year) for year in years_on_disk if str(year) not in registered)
    # A year whose files all vanished still runs (its rows leave the warehouse) if it is known.
    run_years = sorted(
        year for year in changed_years if year in years_on_disk or str(year) in registered
    )
    cursor = json.dumps({"files": current}, sort_keys=True)

    if not run_years and not new_partitions:
        return SensorResult(
            skip_reason=SkipReason(
                f"no new or changed files in {raw_dir} since last tick "
                f"({len(current)} files checked)"
            ),
            cursor=cursor,
        )
    return SensorResult(
        run_requests=[
            RunRequest(
                partition_key=str(year),
                run_key=year_run_key(year, current),
                tags={"review_year": str(year), "trigger": "raw_files_sensor"},
            )
            for year in run_years
        ],
        dynamic_partitions_requests=(
            [review_year_partitions.build_add_request(new_partitions)] if new_partitions else []
        ),
        cursor=cursor,
    )
