"""The raw-files sensor and the yearly schedule, evaluated against a real temp raw directory."""

import json
import os
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import dagster
from fixtures.raw_exports import YEAR, YEAR_2025, build_raw_exports

from orchestration.resources import PipelinePaths
from orchestration.schedules import yearly_review_schedule
from orchestration.sensors import raw_files_sensor, year_run_key


def evaluate(instance, paths, cursor=None):
    context = dagster.build_sensor_context(
        instance=instance, cursor=cursor, resources={"paths": paths}
    )
    result = raw_files_sensor(context)
    return result


def apply_partition_requests(instance, result) -> None:
    """What the daemon does with the sensor's dynamic partition requests."""
    for request in result.dynamic_partitions_requests:
        instance.add_dynamic_partitions(request.partitions_def_name, request.partition_keys)


def test_sensor_registers_years_and_requests_changed_partitions(tmp_path):
    exports = build_raw_exports(tmp_path / "raw")
    paths = PipelinePaths(raw_dir=str(exports.raw_dir), warehouse_dir=str(tmp_path / "wh"))
    instance = dagster.DagsterInstance.ephemeral()

    first = evaluate(instance, paths)
    assert [r.partition_key for r in first.run_requests] == [str(YEAR), str(YEAR_2025)]
    assert first.dynamic_partitions_requests[0].partition_keys == [str(YEAR), str(YEAR_2025)]
    apply_partition_requests(instance, first)
    files = json.loads(first.cursor)["files"]
    assert first.run_requests[0].run_key == year_run_key(YEAR, files)

    # Nothing changed: skip, and say why.
    second = evaluate(instance, paths, first.cursor)
    assert not second.run_requests and not second.dynamic_partitions_requests
    assert "no new or changed files" in second.skip_reason.skip_message
    assert f"({len(files)} files checked)" in second.skip_reason.skip_message

    # Touching a file without changing its bytes starts nothing either.
    commune_totals = exports.raw_dir / "commune_totals" / f"{YEAR}.csv"
    later = time.time() + 5
    os.utime(commune_totals, (later, later))
    touched = evaluate(instance, paths, second.cursor)
    assert not touched.run_requests

    # A re-sent file with new bytes requests its year only, with a new run key.
    commune_totals.write_text(
        commune_totals.read_text(encoding="utf-8") + "00700,2023,5,20\r\n", encoding="utf-8"
    )
    changed = evaluate(instance, paths, touched.cursor)
    assert [r.partition_key for r in changed.run_requests] == [str(YEAR)]
    assert changed.run_requests[0].run_key != first.run_requests[0].run_key
    assert not changed.dynamic_partitions_requests

    # A new year folder is registered as a partition and requested.
    new_file = exports.raw_dir / "survey" / "2024" / "a.csv"
    new_file.parent.mkdir()
    new_file.write_bytes((exports.raw_dir / "survey" / str(YEAR) / "district_a.csv").read_bytes())
    new_year = evaluate(instance, paths, changed.cursor)
    assert [r.partition_key for r in new_year.run_requests] == ["2024"]
    assert new_year.dynamic_partitions_requests[0].partition_keys == ["2024"]

    # A removed file changes its (known) year too: the run removes its rows.
    (exports.raw_dir / "survey" / str(YEAR) / "broken.xlsx").unlink()
    removed = evaluate(instance, paths, new_year.cursor)
    assert [r.partition_key for r in removed.run_requests] == [str(YEAR)]


def test_schedule_targets_the_latest_registered_year():
    # A schedule context reaches the instance through its ref, which an ephemeral one lacks.
    with dagster.instance_for_test() as instance:
        tick = datetime(2026, 1, 15, 6, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))
        context = dagster.build_schedule_context(instance=instance, scheduled_execution_time=tick)
        assert isinstance(yearly_review_schedule(context), dagster.SkipReason)

        instance.add_dynamic_partitions("review_year", ["2023", "2025", "2024"])
        context = dagster.build_schedule_context(instance=instance, scheduled_execution_time=tick)
        request = yearly_review_schedule(context)
        assert request.partition_key == "2025" and request.run_key == "yearly-2025-2026-01-15"
