"""The yearly review cycle.

Communes finish the household review in Q4; the district and provincial People's Committees
approve and announce the lists around the turn of the year, and the data office sends the
exports in the first days of January. The schedule therefore fires on 15 January, 06:00 Hanoi
time: two weeks for late files and first corrections, and the official figures are published
before the province's annual report season. Files re-sent later are picked up by
``raw_files_sensor`` anyway; the schedule is the guaranteed yearly rebuild.

Each tick registers every review year found in the raw directory as a partition (in
chronological order, as the command does) and runs the latest one: the review just sent. The
run's tags say which year and why (``trigger_reason``), and the tick's log says it too. It does
not start a second writer: if a sensor or manual run is already writing the warehouse, the steps
wait for the ``duckdb_warehouse`` pool (limit 1) and the run lock.
"""

from dagster import RunRequest, ScheduleEvaluationContext, SkipReason, schedule

from orchestration.base.partitions import review_year_partitions
from orchestration.base.resources import PipelinePaths
from orchestration.ingest import RawLayoutError, list_review_years

JOB_NAME = "poverty_review_job"


@schedule(
    name="yearly_review_schedule",
    cron_schedule="0 6 15 1 *",
    execution_timezone="Asia/Ho_Chi_Minh",
    job_name=JOB_NAME,
    description=(
        "On 15 January, registers the review years found in the raw directory and rebuilds the "
        "latest one (the review just sent)."
    ),
)
def yearly_review_schedule(context: ScheduleEvaluationContext, paths: PipelinePaths):
    from orchestration.instance import register_review_years

    raw_dir = paths.settings.raw_dir
    try:
        years = list_review_years(raw_dir)
    except RawLayoutError as error:
        return SkipReason(f"the raw directory breaks the layout, nothing started: {error}")
    if not years:
        return SkipReason(
            f"no review year found in {raw_dir}: put the exports in survey/<year>/ first"
        )
    register_review_years(context.instance, review_year_partitions.name, [str(y) for y in years])
    latest = max(years)
    day = context.scheduled_execution_time.date().isoformat()
    reason = (
        f"yearly rebuild on {day}: {latest} is the latest of the review years found in "
        f"{raw_dir} ({', '.join(map(str, years))})"
    )
    context.log.info(reason)
    return RunRequest(
        partition_key=str(latest),
        run_key=f"yearly-{latest}-{day}",
        tags={
            "review_year": str(latest),
            "trigger": "yearly_review_schedule",
            "trigger_reason": reason,
        },
    )
