"""The sensors: the warehouse follows the raw directory, and failed runs reach someone.

``raw_files_sensor`` compares, per review year, the files on disk with the files the warehouse
last loaded for that year (the current rows of its ``audit.source_files``, read through
``orchestration.ingest.raw_watch``): a year whose files differ gets one run of
``poverty_review_job`` for its partition. The warehouse is the state, so after
``poverty-warehouse run`` nothing is requested, a year removed from disk is run (its rows leave)
and the same year restored is run again. The cursor only keeps the hashes of files that did not
move since the last tick, so a tick re-hashes only touched files.

- **Run key** ``<year>:<hash of the files on disk>:<when the warehouse last ingested the year>``:
  unique per request, because every run of the year changes its last ingest. A requested run that
  failed before ingesting keeps the key, and the daemon does not start it again until a file
  changes (the skip reason names that run).
- **Files settle first**: a year with a file whose size or modification time changed within
  the settle interval (``POVERTY_SETTLE_SECONDS``, default 30 s) waits; the tick names the files.
- **A busy warehouse** (a run holds its lock) is not read: the tick says so and looks again at the
  next one. New year folders are registered as dynamic partitions.

``run_failure_alert_sensor`` writes every failed run (run, step, first cause) to
``OUT/alerts.log`` and runs ``POVERTY_ALERT_COMMAND`` and posts to ``POVERTY_ALERT_WEBHOOK`` when
set (``orchestration/alerts.py``).

Runs requested here may overlap with a scheduled or manual run: they do not write at once
because every warehouse step holds the ``duckdb_warehouse`` pool (limit 1) and the run lock.
"""

import json

from dagster import (
    DagsterRunStatus,
    DefaultSensorStatus,
    RunFailureSensorContext,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    run_failure_sensor,
    sensor,
)

from orchestration.alerts import Alert, first_line, send_alert
from orchestration.base.partitions import review_year_partitions
from orchestration.base.resources import PipelinePaths
from orchestration.ingest import RawLayoutError
from orchestration.ingest.raw_watch import (
    WarehouseBusy,
    files_digest,
    loaded_files,
    look,
    settle_seconds,
)

JOB_NAME = "poverty_review_job"
SENSOR_NAME = "raw_files_sensor"
RUN_KEY_TAG = "dagster/run_key"
SENSOR_NAME_TAG = "dagster/sensor_name"


def year_run_key(year: int, files_on_disk: dict[str, str | None], last_ingest: str | None) -> str:
    """``<year>:<hash of the year's files on disk>:<the warehouse's last ingest of the year>``."""
    return f"{year}:{files_digest(files_on_disk)}:{last_ingest or 'never'}"


def _earlier_run(context: SensorEvaluationContext, run_key: str):
    # The daemon's own rule: a run key is used once per sensor.
    tags = {RUN_KEY_TAG: run_key, SENSOR_NAME_TAG: SENSOR_NAME}
    runs = context.instance.get_runs(RunsFilter(tags=tags), limit=1)
    return runs[0] if runs else None


@sensor(
    name=SENSOR_NAME,
    job_name=JOB_NAME,
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.STOPPED,
    description=(
        "Runs poverty_review_job for each review year whose files on disk differ from the files "
        "the warehouse last loaded (audit.source_files), once the files have settled."
    ),
)
def raw_files_sensor(context: SensorEvaluationContext, paths: PipelinePaths):
    settings = paths.settings
    previous: dict[str, str] = json.loads(context.cursor)["files"] if context.cursor else {}
    settle_s = settle_seconds()
    try:
        state = look(settings.raw_dir, previous, settle_s=settle_s)
    except RawLayoutError as error:
        return SkipReason(f"the raw directory breaks the layout, nothing started: {error}")
    cursor = json.dumps({"files": state.fingerprints}, sort_keys=True)
    try:
        loaded = loaded_files(settings.warehouse_dir, settings.warehouse_path)
    except WarehouseBusy as busy:
        return SensorResult(
            skip_reason=SkipReason(
                f"the warehouse is busy ({busy}): nothing compared, looking again next tick"
            ),
            cursor=cursor,
        )

    registered = set(context.instance.get_dynamic_partitions(review_year_partitions.name))
    on_disk = state.years
    new_partitions = sorted(str(y) for y in on_disk if str(y) not in registered)
    waiting_years = state.waiting_years()
    requests, notes = [], []
    # A year known to the warehouse but gone from disk is run too: its rows leave.
    for year in sorted(on_disk | {y for y, entry in loaded.items() if entry.files}):
        files = state.files_of(year)
        entry = loaded.get(year)
        if entry is not None and entry.files == files:
            continue
        if year in waiting_years:
            continue
        key = year_run_key(year, files, entry.last_ingest if entry else None)
        earlier = _earlier_run(context, key)
        if earlier is not None:
            outcome = (
                "failed: fix the files or re-execute it"
                if earlier.status == DagsterRunStatus.FAILURE
                else earlier.status.value.lower()
            )
            notes.append(f"{year} differs from the warehouse, run {earlier.run_id} {outcome}")
            continue
        if str(year) not in registered and str(year) not in new_partitions:
            new_partitions.append(str(year))
        requests.append(
            RunRequest(
                partition_key=str(year),
                run_key=key,
                tags={"review_year": str(year), "trigger": SENSOR_NAME},
            )
        )
    partition_requests = (
        [review_year_partitions.build_add_request(sorted(new_partitions))] if new_partitions else []
    )
    if requests:
        return SensorResult(
            run_requests=requests, dynamic_partitions_requests=partition_requests, cursor=cursor
        )
    compared = (
        f"compared {len(state.fingerprints)} files of {len(on_disk)} review years on disk in "
        f"{settings.raw_dir} with the files the warehouse last loaded (audit.source_files)"
    )
    parts = [compared]
    if state.waiting:
        parts.append(
            "waiting for files to settle: "
            + "; ".join(w.describe(settle_s) for w in state.waiting[:10])
        )
    parts.extend(notes)
    if not state.waiting and not notes:
        parts.append("every year matches")
    return SensorResult(
        skip_reason=SkipReason(". ".join(parts)),
        dynamic_partitions_requests=partition_requests,
        cursor=cursor,
    )


@run_failure_sensor(
    name="run_failure_alert_sensor",
    monitor_all_code_locations=False,
    default_status=DefaultSensorStatus.STOPPED,
    description=(
        "Writes every failed run (run, step, first cause) to OUT/alerts.log; runs "
        "POVERTY_ALERT_COMMAND and posts to POVERTY_ALERT_WEBHOOK when they are set."
    ),
)
def run_failure_alert_sensor(context: RunFailureSensorContext, paths: PipelinePaths) -> None:
    send_alert(failure_alert(context), paths.settings.warehouse_dir)


def failure_alert(context: RunFailureSensorContext) -> Alert:
    """The run, the step that failed first and its first line of error (else the run's)."""
    run = context.dagster_run
    steps = context.get_step_failure_events()
    if steps:
        data = steps[0].step_failure_data
        user = data.user_failure_data
        message = user.description if user is not None and user.description else None
        step = steps[0].step_key
        error = data.error
        # Dagster wraps the step's own exception ("Error occurred while executing op ..."): the
        # innermost cause is the one people can act on.
        while error is not None and error.cause is not None:
            error = error.cause
        cause = first_line(message or (error.message if error is not None else None))
    else:
        step, cause = None, first_line(context.failure_event.message)
    partition = run.tags.get("dagster/partition") or run.tags.get(
        "dagster/asset_partition_range_start"
    )
    return Alert(run_id=run.run_id, job=run.job_name, partition=partition, step=step, cause=cause)
