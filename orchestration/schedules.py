"""The yearly review cycle.

Communes finish the household review in Q4; the district and provincial People's Committees
approve and announce the lists around the turn of the year, and the data office sends the
exports in the first days of January. The schedule therefore fires on 15 January, 06:00 Hanoi
time: two weeks for late files and first corrections, and the official figures are published
before the province's annual report season. Files re-sent later are picked up by
``raw_files_sensor`` anyway; the schedule is the guaranteed yearly rebuild.

It targets the latest registered review-year partition (registered by the sensor or by
``poverty-warehouse run``). It does not start a second writer: if a sensor or manual run is
already writing the warehouse, the steps wait for the ``duckdb_warehouse`` pool (limit 1).
"""

from dagster import RunRequest, ScheduleEvaluationContext, SkipReason, schedule

from orchestration.partitions import review_year_partitions

JOB_NAME = "poverty_review_job"


@schedule(
    name="yearly_review_schedule",
    cron_schedule="0 6 15 1 *",
    execution_timezone="Asia/Ho_Chi_Minh",
    job_name=JOB_NAME,
    description="Rebuild the latest review year on 15 January, after the year-end review.",
)
def yearly_review_schedule(context: ScheduleEvaluationContext):
    years = [
        int(key)
        for key in context.instance.get_dynamic_partitions(review_year_partitions.name)
        if key.isdigit()
    ]
    if not years:
        return SkipReason(
            "no review-year partition registered yet: start raw_files_sensor or run "
            "`poverty-warehouse run` once the exports are in data/raw"
        )
    latest = max(years)
    day = context.scheduled_execution_time.date().isoformat()
    return RunRequest(
        partition_key=str(latest),
        run_key=f"yearly-{latest}-{day}",
        tags={"review_year": str(latest), "trigger": "yearly_review_schedule"},
    )
