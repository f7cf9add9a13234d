"""Operating the pipeline unattended: a step that meets a lock on the warehouse is retried."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from dagster import DagsterInstance, materialize

from orchestration.base.resources import build_resources
from orchestration.base.settings import Settings
from orchestration.ingest.assets import admin_units

REPO = Path(__file__).parents[1]
# Holds the warehouse file open until told to let go (a file appears), at most 60 s.
HOLDER = (
    "import duckdb, os, sys, time\n"
    "con = duckdb.connect(sys.argv[1])\n"
    "print('held', flush=True)\n"
    "deadline = time.time() + 60\n"
    "while not os.path.exists(sys.argv[2]) and time.time() < deadline:\n"
    "    time.sleep(0.05)\n"
)


def test_a_step_that_meets_a_lock_on_the_warehouse_file_is_retried(tmp_path, monkeypatch):
    """Another process (a shell, a BI tool) has warehouse.duckdb open: the step fails on the
    lock, Dagster retries it and it succeeds once the file is free."""
    import orchestration.base.resources

    release = tmp_path / "release"
    real_retry = orchestration.base.resources.RetryRequested

    def retry_then_release(*args, **kwargs):
        release.touch()  # the other process closes the file once the step has met its lock
        return real_retry(*args, **kwargs)

    monkeypatch.setattr(orchestration.base.resources, "RetryRequested", retry_then_release)
    monkeypatch.setattr(orchestration.base.resources, "LOCK_RETRY_WAIT_S", 1)
    settings = Settings(raw_dir=tmp_path / "raw", warehouse_dir=tmp_path / "out")
    settings.warehouse_dir.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(settings.warehouse_path), str(release)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        result = materialize(
            [admin_units],
            resources={"warehouse": build_resources(settings)["warehouse"]},
            instance=DagsterInstance.ephemeral(),
            raise_on_error=False,
        )
    finally:
        release.touch()
        holder.wait(timeout=30)
    events = [event.event_type_value for event in result.all_events]
    assert result.success, events
    assert "STEP_UP_FOR_RETRY" in events
    retried = next(e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY")
    assert "lock" in str(retried.event_specific_data).lower()
