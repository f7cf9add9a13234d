"""The warehouse's Dagster instance as the command uses it: its home, the run claims of dead
processes, and the review years as dynamic partitions.

``poverty-warehouse run`` records its run in ``OUT/dagster_home`` (so ``make dev`` shows it),
made here from the project's template (``orchestration/dagster.yaml``) and the event storage of
``orchestration/instance_storage.py``. The command's own runs carry its process id and host in
two tags, so a later run can free the pool slot of one whose process died.
"""

from __future__ import annotations

import socket
from pathlib import Path

from orchestration.base.settings import REPO_ROOT, WAREHOUSE_POOL, Settings

PID_TAG = "poverty-warehouse/pid"
HOST_TAG = "poverty-warehouse/host"
INSTANCE_TEMPLATE = REPO_ROOT / "orchestration" / "dagster.yaml"


STORAGE = """
# Written by poverty-warehouse: every run's events in one SQLite file (not one per run), committed
# without an fsync per event (orchestration/instance_storage.py).
event_log_storage:
  module: orchestration.instance_storage
  class: RecordingSqliteEventLogStorage
  config:
    base_dir: {home}/history
"""


def prepare_dagster_home(home: Path) -> Path:
    """``home/dagster.yaml`` from the project's template and the storage (kept if present)."""
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        text = INSTANCE_TEMPLATE.read_text(encoding="utf-8")
        config.write_text(text + STORAGE.format(home=home), encoding="utf-8")
    return home


def instance_for(settings: Settings, record: bool):
    """The settings' instance (``OUT/dagster_home`` unless ``DAGSTER_HOME`` names another) when
    recording, else an in-memory one."""
    from dagster import DagsterInstance
    from dagster._core.instance.ref import InstanceRef

    if not record:
        return ephemeral_instance()
    home = prepare_dagster_home(settings.dagster_home)
    return DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))


def ephemeral_instance():
    """``DagsterInstance.ephemeral()`` with its event log on one held connection
    (``HeldConnectionInMemoryEventLogStorage``): the same in-memory components otherwise."""
    from dagster import DagsterInstance
    from dagster._core.instance.types import InstanceType
    from dagster._core.launcher.sync_in_memory_run_launcher import SyncInMemoryRunLauncher
    from dagster._core.run_coordinator import DefaultRunCoordinator
    from dagster._core.storage.noop_compute_log_manager import NoOpComputeLogManager
    from dagster._core.storage.root import TemporaryLocalArtifactStorage
    from dagster._core.storage.runs import InMemoryRunStorage

    from orchestration.instance_storage import HeldConnectionInMemoryEventLogStorage

    return DagsterInstance(
        instance_type=InstanceType.EPHEMERAL,
        local_artifact_storage=TemporaryLocalArtifactStorage(),
        run_storage=InMemoryRunStorage(),
        event_storage=HeldConnectionInMemoryEventLogStorage(),
        compute_log_manager=NoOpComputeLogManager(),
        run_coordinator=DefaultRunCoordinator(),
        run_launcher=SyncInMemoryRunLauncher(),
    )


def release_dead_claims(instance, pool: str = WAREHOUSE_POOL) -> list[str]:
    """Free pool slots held by command-line runs whose process is gone.

    A run killed mid-way (SIGKILL, OOM, a reboot) leaves its run ``STARTED`` and its slot in
    the ``duckdb_warehouse`` pool claimed; with no daemon to notice, the next run would wait for
    that slot forever. Only runs this command started on this host are judged, by their pid.
    """
    import psutil

    released = []
    info = instance.event_log_storage.get_concurrency_info(pool)
    holders = {slot.run_id for slot in info.claimed_slots} | {
        step.run_id for step in info.pending_steps
    }
    for run_id in holders:
        run = instance.get_run_by_id(run_id)
        if run is not None and not run.is_finished:
            pid = run.tags.get(PID_TAG)
            alive = pid is not None and psutil.pid_exists(int(pid))
            if run.tags.get(HOST_TAG) != socket.gethostname() or alive:
                continue
            instance.report_run_failed(run, "The poverty-warehouse process running it died.")
        instance.event_log_storage.free_concurrency_slots_for_run(run_id)
        released.append(run_id)
    return released


def register_review_years(instance, name: str, keys: list[str]) -> None:
    """Register the review years as dynamic partitions, kept in chronological order.

    The run covers a partition *range*, and a range follows the order partitions were added:
    a year folder that appears after later years (2020 after 2021-2025) would otherwise sit at
    the end and the range would select the wrong years. Re-registering changes no materialized
    data; only the order of the keys.
    """
    registered = list(instance.get_dynamic_partitions(name))
    missing = [k for k in keys if k not in registered]
    combined = registered + missing
    ordered = sorted(combined, key=int)
    if combined == ordered:
        if missing:
            instance.add_dynamic_partitions(name, missing)
        return
    for key in registered:
        instance.delete_dynamic_partition(name, key)
    instance.add_dynamic_partitions(name, ordered)
