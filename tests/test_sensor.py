"""The raw-files sensor, the schedule and re-execution, on a warehouse the command built.

One warehouse is built once by ``poverty-warehouse run`` on a copy of the tiny sample; the sensor
is then evaluated through Dagster's API and its run requests are handled as the daemon handles
them (dynamic partitions added, a run key already used by this sensor dropped, the job launched
for the partition with the request's tags), on the command's own instance (``OUT/dagster_home``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster
import duckdb
import pytest
from dagster import DagsterEventType, RunsFilter
from dagster._core.instance.ref import InstanceRef
from dagster._core.storage.tags import RUN_KEY_TAG, SENSOR_NAME_TAG

from orchestration.base import run_lock
from orchestration.base.resources import PipelinePaths, build_resources
from orchestration.base.settings import Settings, get_settings
from orchestration.cli import main
from orchestration.definitions import POVERTY_REVIEW_JOB, build_definitions
from orchestration.schedules import yearly_review_schedule
from orchestration.sensors import SENSOR_NAME, raw_files_sensor, run_failure_alert_sensor

PII_KEY = "ab" * 32
REMOVED_YEAR = "2022"


@pytest.fixture(scope="module")
def deployment(sample_tiny, tmp_path_factory):
    """A raw directory and the warehouse ``poverty-warehouse run`` built from it."""
    root = tmp_path_factory.mktemp("deployment")
    raw, out = root / "raw", root / "out"
    shutil.copytree(sample_tiny.raw_dir, raw)
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("DAGSTER_HOME", raising=False)
        patch.setenv("POVERTY_PII_KEY", PII_KEY)
        args = ["run", "--raw-dir", str(raw), "--warehouse-dir", str(out), "--settle-seconds", "0"]
        assert main(args) == 0
    return Settings(raw_dir=raw, warehouse_dir=out)


@pytest.fixture
def env(monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.setenv("POVERTY_PII_KEY", PII_KEY)
    monkeypatch.setenv("POVERTY_SETTLE_SECONDS", "0")
    return monkeypatch


def instance_of(settings: Settings) -> dagster.DagsterInstance:
    return dagster.DagsterInstance.from_ref(InstanceRef.from_dir(str(settings.dagster_home)))


def tick(instance, settings: Settings, cursor: str | None):
    context = dagster.build_sensor_context(
        instance=instance,
        cursor=cursor,
        resources={
            "paths": PipelinePaths(
                raw_dir=str(settings.raw_dir), warehouse_dir=str(settings.warehouse_dir)
            )
        },
    )
    return raw_files_sensor(context)


def launch(instance, settings: Settings, result) -> list:
    """What the daemon does with a tick's result; the runs it started."""
    for request in result.dynamic_partitions_requests:
        instance.add_dynamic_partitions(request.partitions_def_name, request.partition_keys)
    job = build_definitions(build_resources(settings)).resolve_job_def(POVERTY_REVIEW_JOB)
    runs = []
    for request in result.run_requests:
        used = instance.get_runs(
            RunsFilter(tags={RUN_KEY_TAG: request.run_key, SENSOR_NAME_TAG: SENSOR_NAME})
        )
        if used:
            continue
        runs.append(
            job.execute_in_process(
                instance=instance,
                partition_key=request.partition_key,
                tags={**request.tags, RUN_KEY_TAG: request.run_key, SENSOR_NAME_TAG: SENSOR_NAME},
                raise_on_error=False,
            )
        )
    return runs


def published_year(settings: Settings, year: str) -> tuple[int, int, list[str]]:
    """(communes, communes with a poverty rate, survey files loaded) of a year as published."""
    with duckdb.connect(str(settings.published_path), read_only=True) as con:
        communes, rated = con.execute(
            "select count(*), count(poverty_rate) from commune_year where review_year = ?",
            [int(year)],
        ).fetchone()
        files = [
            name
            for (name,) in con.execute(
                "select file_name from source_files where review_year = ? "
                "and dataset = 'survey' and status = 'loaded' order by 1",
                [int(year)],
            ).fetchall()
        ]
    return communes, rated, files


def test_the_sensor_follows_the_raw_directory_through_the_warehouse(deployment, env):
    settings = deployment
    with instance_of(settings) as instance:
        # After a command-line run the warehouse holds exactly what is on disk: nothing to do.
        first = tick(instance, settings, None)
        assert not first.run_requests
        message = first.skip_reason.skip_message
        assert "with the files the warehouse last loaded (audit.source_files)" in message
        assert "every year matches" in message
        communes, rated, survey_files = published_year(settings, REMOVED_YEAR)
        assert communes >= rated > 0 and survey_files

        # The year's survey moved out: the year runs and is published without it.
        survey = settings.raw_dir / "survey" / REMOVED_YEAR
        aside = settings.raw_dir.parent / f"survey-{REMOVED_YEAR}"
        survey.rename(aside)
        removed = tick(instance, settings, first.cursor)
        assert [r.partition_key for r in removed.run_requests] == [REMOVED_YEAR]
        (run,) = launch(instance, settings, removed)
        assert run.success
        # The gate's view per table, in the UI: each rule in words with its outcome.
        (table,) = [
            e
            for e in run.get_asset_check_evaluations()
            if e.check_name == "expectations" and e.asset_key.path == ["marts", "commune_year"]
        ]
        assert table.passed and "passed" in table.description
        assert "PASSED [critical] commune_assessed_not_above_total" in (
            table.metadata["results"].value
        )
        assert published_year(settings, REMOVED_YEAR)[1:] == (0, [])
        observed = instance.fetch_observations(
            dagster.AssetKey(["raw_files", "survey"]), limit=50
        ).records
        assert any(r.run_id == run.run_id and r.partition_key == REMOVED_YEAR for r in observed)

        settled = tick(instance, settings, removed.cursor)
        assert not settled.run_requests and "every year matches" in settled.skip_reason.skip_message

        # Restored to the very bytes loaded before: run again, with a key never used.
        aside.rename(survey)
        restored = tick(instance, settings, settled.cursor)
        assert [r.partition_key for r in restored.run_requests] == [REMOVED_YEAR]
        assert restored.run_requests[0].run_key != removed.run_requests[0].run_key
        (run,) = launch(instance, settings, restored)
        assert run.success
        assert published_year(settings, REMOVED_YEAR) == (communes, rated, survey_files)
        assert not tick(instance, settings, restored.cursor).run_requests

        # Removed again: a third distinct key, not the first removal's.
        survey.rename(aside)
        again = tick(instance, settings, restored.cursor)
        assert again.run_requests[0].run_key not in {
            removed.run_requests[0].run_key,
            restored.run_requests[0].run_key,
        }
        aside.rename(survey)


def test_a_file_still_growing_is_not_read_until_it_settles(deployment, env):
    settings = deployment
    env.setenv("POVERTY_SETTLE_SECONDS", "1")
    year_dir = settings.raw_dir / "survey" / "2024"
    source = sorted(year_dir.glob("*.csv"))[0].read_bytes()
    growing = year_dir / "late_delivery.csv"
    try:
        with instance_of(settings) as instance:
            cursor = tick(instance, settings, None).cursor
            growing.write_bytes(source[: len(source) // 3])
            first = tick(instance, settings, cursor)
            assert not first.run_requests
            assert "waiting for files to settle: survey/2024/late_delivery.csv" in (
                first.skip_reason.skip_message
            )
            with growing.open("ab") as handle:
                handle.write(source[len(source) // 3 : 2 * len(source) // 3])
            second = tick(instance, settings, first.cursor)
            assert not second.run_requests
            assert "survey/2024/late_delivery.csv" in second.skip_reason.skip_message
            with growing.open("ab") as handle:
                handle.write(source[2 * len(source) // 3 :])
            time.sleep(1.1)
            # Old enough, but it changed since the last tick looked: one more look.
            third = tick(instance, settings, second.cursor)
            assert not third.run_requests
            assert "survey/2024/late_delivery.csv" in third.skip_reason.skip_message
            # Unchanged since the last tick and for the interval: read.
            fourth = tick(instance, settings, third.cursor)
            assert [r.partition_key for r in fourth.run_requests] == ["2024"]
            files = json.loads(fourth.cursor)["files"]
            assert files["survey/2024/late_delivery.csv"].endswith(
                hashlib.sha256(source).hexdigest()
            )
    finally:
        growing.unlink(missing_ok=True)


def test_a_busy_warehouse_is_not_opened_and_the_tick_says_so(deployment, env, tmp_path):
    settings = deployment
    holder = tmp_path / "holder.py"
    holder.write_text(
        "import sys, time\n"
        "from orchestration.base import run_lock\n"
        "run_lock.acquire(sys.argv[1], 'a test run')\n"
        "print('held', flush=True)\n"
        "time.sleep(60)\n"
    )
    process = subprocess.Popen(
        [sys.executable, str(holder), str(settings.warehouse_dir)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    try:
        assert process.stdout.readline().strip() == "held"
        with instance_of(settings) as instance:
            busy = tick(instance, settings, None)
        assert not busy.run_requests
        assert "the warehouse is busy" in busy.skip_reason.skip_message
        assert "a test run" in busy.skip_reason.skip_message
        assert not run_lock.is_held_here(settings.warehouse_dir)
    finally:
        process.kill()
        process.wait()


def review_job():
    """The review job for the paths in the environment (re-execution reconstructs it)."""
    return build_definitions(build_resources(get_settings())).resolve_job_def(POVERTY_REVIEW_JOB)


def test_a_run_whose_publish_failed_publishes_when_re_executed_from_failure(
    deployment, env, tmp_path
):
    settings = deployment
    received = tmp_path / "alert.json"
    script = tmp_path / "alert.py"
    script.write_text("import sys\nopen(sys.argv[1], 'w').write(sys.stdin.read())\n")
    env.setenv("POVERTY_ALERT_COMMAND", f"{sys.executable} {script} {received}")
    env.setenv("POVERTY_RAW_DIR", str(settings.raw_dir))
    env.setenv("POVERTY_WAREHOUSE_DIR", str(settings.warehouse_dir))
    builds = settings.warehouse_dir / "builds"
    aside = settings.warehouse_dir.parent / "builds-aside"
    builds.rename(aside)
    builds.write_text("not a folder: the publish cannot keep its build")
    live_before = _live_build(settings)
    with instance_of(settings) as instance:
        failed = dagster.execute_job(
            dagster.reconstructable(review_job),
            instance=instance,
            tags={"dagster/partition": "2023"},
        )
        assert not failed.success
        failed_steps = [
            e.step_key for e in failed.all_events if e.event_type_value == "STEP_FAILURE"
        ]
        assert failed_steps == ["published__published_warehouse"]
        assert _live_build(settings) == live_before

        # The failure sensor tells someone: the log line and the configured command.
        (failure,) = instance.all_logs(failed.run_id, of_type=DagsterEventType.RUN_FAILURE)
        context = dagster.build_run_status_sensor_context(
            sensor_name="run_failure_alert_sensor",
            dagster_event=failure.dagster_event,
            dagster_instance=instance,
            dagster_run=instance.get_run_by_id(failed.run_id),
            resources={
                "paths": PipelinePaths(
                    raw_dir=str(settings.raw_dir), warehouse_dir=str(settings.warehouse_dir)
                )
            },
        ).for_run_failure()
        run_failure_alert_sensor(context)
        line = (settings.warehouse_dir / "alerts.log").read_text().splitlines()[-1]
        assert f"run {failed.run_id} (poverty_review_job, review year 2023) failed at " in line
        assert "published__published_warehouse: FileExistsError" in line
        alert = json.loads(received.read_text())
        assert alert["run_id"] == failed.run_id and alert["line"] == line

        builds.unlink()
        aside.rename(builds)
        again = dagster.execute_job(
            dagster.reconstructable(review_job),
            instance=instance,
            reexecution_options=dagster.ReexecutionOptions.from_failure(failed.run_id, instance),
        )
        assert again.success
        executed = {e.step_key for e in again.all_events if e.event_type_value == "STEP_SUCCESS"}
        assert executed == {"published__published_warehouse"}
        published = again.asset_materializations_for_node("published__published_warehouse")
        build_id = published[0].metadata["build_id"].value
        assert build_id.endswith(failed.run_id[:8]) or failed.run_id[:8] in build_id
        assert _live_build(settings) == build_id != live_before


def _live_build(settings: Settings) -> str:
    with duckdb.connect(str(settings.published_path), read_only=True) as con:
        return con.execute("select build_id from build_info").fetchone()[0]


def test_the_schedule_registers_the_years_on_disk_and_runs_the_latest(tmp_path, sample_tiny):
    paths = PipelinePaths(raw_dir=str(sample_tiny.raw_dir), warehouse_dir=str(tmp_path))
    # A schedule context reaches the instance through its ref, which an ephemeral one lacks.
    with dagster.instance_for_test() as instance:
        tick_at = datetime(2027, 1, 15, 6, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))
        context = dagster.build_schedule_context(
            instance=instance, scheduled_execution_time=tick_at, resources={"paths": paths}
        )
        request = yearly_review_schedule(context)
        assert instance.get_dynamic_partitions("review_year") == [
            "2021",
            "2022",
            "2023",
            "2024",
            "2025",
        ]
        assert request.partition_key == "2025" and request.run_key == "yearly-2025-2027-01-15"
        assert "2025 is the latest of the review years found" in request.tags["trigger_reason"]

    empty = tmp_path / "empty"
    empty.mkdir()
    with dagster.instance_for_test() as instance:
        context = dagster.build_schedule_context(
            instance=instance,
            scheduled_execution_time=tick_at,
            resources={"paths": PipelinePaths(raw_dir=str(empty), warehouse_dir=str(tmp_path))},
        )
        skipped = yearly_review_schedule(context)
        assert isinstance(skipped, dagster.SkipReason)
        assert "no review year found" in skipped.skip_message


def test_the_settle_interval_rejects_a_bad_setting(env, sample_tiny, tmp_path, capsys):
    env.setenv("POVERTY_SETTLE_SECONDS", "soon")
    args = ["run", "--raw-dir", str(sample_tiny.raw_dir), "--warehouse-dir", str(tmp_path / "o")]
    assert main(args) == 2
    assert "POVERTY_SETTLE_SECONDS='soon' is not a number" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_the_command_waits_for_a_file_being_written(env, sample_tiny, tmp_path):
    from orchestration.ingest.raw_watch import wait_until_settled

    raw = tmp_path / "raw"
    shutil.copytree(sample_tiny.raw_dir, raw)
    an_hour_ago = time.time() - 3600
    for path in raw.rglob("*"):
        os.utime(path, (an_hour_ago, an_hour_ago))
    fresh = raw / "commune_totals" / "2023.csv"
    os.utime(fresh)  # just written
    told, slept = [], []
    now = [time.time()]

    def sleep(seconds: float) -> None:  # the command's clock moves on, not the test's
        slept.append(seconds)
        now[0] += seconds

    wait_until_settled(
        raw, [2023], settle_s=30, on_wait=told.append, sleep=sleep, clock=lambda: now[0]
    )
    assert [[w.path for w in waiting] for waiting in told] == [["commune_totals/2023.csv"]]
    assert 29 <= sum(slept) <= 36


def test_an_alert_reaches_the_log_a_command_and_a_webhook(tmp_path):
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from orchestration.alerts import Alert, send_alert

    posted = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):
            posted.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            return

    server = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.handle_request, daemon=True).start()
    alert = Alert(run_id="r1", job="poverty_review_job", partition="2024", step="s", cause="c")
    environ = {
        "POVERTY_ALERT_COMMAND": f"{sys.executable} -c 'import sys; sys.exit(3)'",
        "POVERTY_ALERT_WEBHOOK": f"http://127.0.0.1:{server.server_port}/hook",
    }
    log = send_alert(alert, tmp_path, environ)
    server.server_close()
    lines = log.read_text().splitlines()
    assert lines[0].endswith("run r1 (poverty_review_job, review year 2024) failed at s: c")
    assert lines[1] == "  alert command exited 3 (no output)"
    assert posted and posted[0]["run_id"] == "r1" and posted[0]["text"] == lines[0]
