"""The command line's own logic: year ranges, and recovering the pool from a dead run."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from dagster import DagsterInstance, DagsterRunStatus
from dagster._core.test_utils import create_run_for_test

from orchestration.base.collector import THRESHOLDS
from orchestration.base.settings import WAREHOUSE_POOL
from orchestration.cli import _parse_years
from orchestration.instance import HOST_TAG, PID_TAG
from orchestration.instance import release_dead_claims as _release_dead_claims
from orchestration.runner import UsageError


@pytest.mark.parametrize(
    "text, expected", [("2023", (2023, 2023)), ("2021-2025", (2021, 2025)), (None, None)]
)
def test_years_parse(text, expected):
    assert _parse_years(text) == expected


@pytest.mark.parametrize("text", ["2025-2021", "20x1", "2021-2022-2023", "1850"])
def test_bad_years_are_usage_errors(text):
    with pytest.raises(UsageError):
        _parse_years(text)


@pytest.fixture
def instance(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    shutil.copyfile(
        Path(__file__).parents[1] / "orchestration" / "dagster.yaml", tmp_path / "dagster.yaml"
    )
    with DagsterInstance.get() as instance:
        yield instance


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _claim(instance, run_id: str) -> None:
    instance.event_log_storage.initialize_concurrency_limit_to_default(WAREHOUSE_POOL)
    status = instance.event_log_storage.claim_concurrency_slot(WAREHOUSE_POOL, run_id, "step")
    assert status.is_claimed


def test_slot_of_a_dead_command_line_run_is_released(instance):
    run = create_run_for_test(
        instance,
        job_name="poverty_review_job",
        status=DagsterRunStatus.STARTED,
        tags={PID_TAG: str(_dead_pid()), HOST_TAG: socket.gethostname()},
    )
    _claim(instance, run.run_id)

    assert _release_dead_claims(instance, WAREHOUSE_POOL) == [run.run_id]
    assert instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL).claimed_slots == []
    assert instance.get_run_by_id(run.run_id).status == DagsterRunStatus.FAILURE


def test_slot_of_a_live_run_is_kept(instance):
    run = create_run_for_test(
        instance,
        job_name="poverty_review_job",
        status=DagsterRunStatus.STARTED,
        tags={PID_TAG: str(Path("/proc/self").resolve().name), HOST_TAG: socket.gethostname()},
    )
    _claim(instance, run.run_id)

    assert _release_dead_claims(instance, WAREHOUSE_POOL) == []
    assert len(instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL).claimed_slots) == 1
    assert instance.get_run_by_id(run.run_id).status == DagsterRunStatus.STARTED


def test_review_years_are_registered_in_chronological_order(instance):
    """A partition range follows insertion order: a late, older year must not land at the end."""
    from orchestration.instance import register_review_years as _register_review_years

    _register_review_years(instance, "review_year", ["2022", "2023"])
    _register_review_years(instance, "review_year", ["2020", "2021", "2022", "2023", "2024"])
    assert instance.get_dynamic_partitions("review_year") == [
        "2020",
        "2021",
        "2022",
        "2023",
        "2024",
    ]


def test_gate_imports_are_warmed_once_when_dbt_starts(capsys) -> None:
    """`run` imports Great Expectations in the background once dbt builds (not at start-up,
    where it slowed Dagster's own start, nor at the dbt step's start), once."""
    from types import SimpleNamespace

    from orchestration.progress import Progress
    from orchestration.transform.node_log import DBT_NODE_LOG_PREFIX

    calls: list[str] = []
    progress = Progress()
    progress.on_dbt_building.append(lambda: calls.append("warm"))
    for step in ("raw__survey_households", "warehouse_dbt_assets"):
        progress.handle(SimpleNamespace(event_type_value="STEP_START", step_key=step))
    for node in ("seeds/plans", "marts/commune_year"):
        progress.handle_log(f"{DBT_NODE_LOG_PREFIX}{node} built")
    assert calls == ["warm"]
    assert "start   warehouse_dbt_assets" in capsys.readouterr().out


def test_the_warm_up_imports_the_gate_in_the_background() -> None:
    """What runs in the background while dbt works: Great Expectations imported (checked in a
    fresh interpreter: this one may have imported it already), and no chart renderer (the
    report's charts are SVG written by the report itself)."""
    script = """
import sys, threading
from orchestration import runner
assert "orchestration.gate.gx_duckdb" not in sys.modules
runner._warm_later_stages()
for warm in [t for t in threading.enumerate() if t.name == "warm-later-stages"]:
    warm.join(timeout=120)
    assert not warm.is_alive()
assert "orchestration.gate.gx_duckdb" in sys.modules
assert "vl_convert" not in sys.modules
print("warmed")
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "warmed"


def test_the_command_exits_with_its_code_after_exit_handlers_and_all_output(tmp_path) -> None:
    """``entry_point`` skips the interpreter's module teardown, not the exit handlers (logging,
    temporary directories) nor output still buffered in a pipe; and it sets the garbage
    collector for a process that imports a lot (orchestration/base/collector.py)."""
    script = f"""
import atexit, gc, sys
from orchestration.cli import entry_point
atexit.register(lambda: print("exit handler ran"))
atexit.register(lambda: print("collector thresholds", gc.get_threshold()))
print("buffered line " * 2000)
sys.argv = ["poverty-warehouse", "run", "--raw-dir", {str(tmp_path / "missing")!r}]
entry_point()
print("not reached")
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2
    assert done.stdout.count("buffered line") == 2000
    assert done.stdout.rstrip().endswith("exit handler ran")
    assert "not reached" not in done.stdout
    assert f"collector thresholds {THRESHOLDS}" in done.stdout
    assert "raw directory" in done.stderr and "does not exist" in done.stderr
