"""The command's Dagster instances. The unrecorded run's (``ephemeral_instance``): its event log
on one held connection stores and returns what Dagster's own in-memory log does. Both its log and
the recorded run's SQLite log ask their database whether a table exists once."""

from __future__ import annotations

import collections
from pathlib import Path

import pytest
from dagster import (
    AssetCheckKey,
    AssetCheckResult,
    AssetCheckSpec,
    AssetKey,
    AssetOut,
    DagsterInstance,
    Output,
    materialize,
    multi_asset,
)
from dagster._core.instance.ref import InstanceRef
from dagster._core.storage.event_log.in_memory import InMemoryEventLogStorage
from dagster._core.storage.event_log.sqlite.consolidated_sqlite_event_log import (
    ConsolidatedSqliteEventLogStorage,
)

from orchestration.instance import ephemeral_instance, prepare_dagster_home
from orchestration.instance_storage import (
    HeldConnectionInMemoryEventLogStorage,
    RecordingSqliteEventLogStorage,
)

NODES = 12


@multi_asset(
    outs={f"a{i}": AssetOut(is_required=False) for i in range(NODES)},
    check_specs=[AssetCheckSpec(name="rule", asset=f"a{i}") for i in range(NODES)],
)
def nodes(context):
    """Like the dbt step: a log line per node, then each node's output and check."""
    for i in range(NODES):
        context.log.info(f"node a{i} built")
    for i in range(NODES):
        yield Output(None, output_name=f"a{i}", metadata={"row_count": i * 10})
        yield AssetCheckResult(asset_key=f"a{i}", check_name="rule", passed=i % 5 != 0)


def _stored(instance: DagsterInstance, run_id: str) -> list[tuple[str, str]]:
    """Each stored record of the run: its event type, or ``log`` and the step's own log line
    (Dagster's own lines name temporary folders)."""
    return [
        (record.dagster_event.event_type_value, "")
        if record.dagster_event
        else ("log", record.user_message if record.user_message.startswith("node ") else "")
        for record in instance.all_logs(run_id)
    ]


def test_the_unrecorded_instance_stores_what_dagsters_in_memory_log_stores():
    ours, dagsters = ephemeral_instance(), DagsterInstance.ephemeral()
    assert isinstance(ours._event_storage, HeldConnectionInMemoryEventLogStorage)
    for _ in range(2):  # a second run on the same connection: every transaction was closed
        ran = materialize([nodes], instance=ours)
        reference = materialize([nodes], instance=dagsters)
        assert ran.success and reference.success
        stored = _stored(ours, ran.run_id)
        assert len(stored) > 3 * NODES
        assert stored == _stored(dagsters, reference.run_id)
        assert [m for kind, m in stored if m] == [f"node a{i} built" for i in range(NODES)]

    latest = ours.get_latest_materialization_event(AssetKey("a3"))
    assert latest is not None and latest.run_id == ran.run_id
    assert latest.asset_materialization.metadata["row_count"].value == 30
    for i in (0, 1):
        check = ours.event_log_storage.get_latest_asset_check_execution_by_key(
            [AssetCheckKey(AssetKey(f"a{i}"), "rule")]
        )[AssetCheckKey(AssetKey(f"a{i}"), "rule")]
        assert check.run_id == ran.run_id
        assert check.status.value == ("FAILED" if i == 0 else "SUCCEEDED")


@pytest.mark.parametrize("recorded", [False, True], ids=["unrecorded", "recorded"])
def test_each_table_is_looked_up_in_the_database_once(recorded, tmp_path: Path, monkeypatch):
    """Dagster asks whether a table exists before each asset event's tags and each check
    result, and reads the asset key table's columns before each asset event; the storage asks
    its database once per table and column (one not found is asked again), and stores every
    event all the same."""
    parent = ConsolidatedSqliteEventLogStorage if recorded else InMemoryEventLogStorage
    asked: collections.Counter[str] = collections.Counter()
    columns: collections.Counter[str] = collections.Counter()
    real = parent.has_table
    real_column = parent._has_asset_key_col_on_connection

    def has_table(self, table_name: str) -> bool:
        asked[table_name] += 1
        return real(self, table_name)

    def has_column(self, conn, column_name: str) -> bool:
        columns[column_name] += 1
        return real_column(self, conn, column_name)

    monkeypatch.setattr(parent, "has_table", has_table)
    monkeypatch.setattr(parent, "_has_asset_key_col_on_connection", has_column)
    if recorded:
        home = prepare_dagster_home(tmp_path / "dagster_home")
        instance = DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))
        assert isinstance(instance._event_storage, RecordingSqliteEventLogStorage)
    else:
        instance = ephemeral_instance()
    with instance:
        ran = materialize([nodes], instance=instance)
        assert ran.success
        assert asked and set(asked.values()) == {1}, asked
        assert columns and set(columns.values()) == {1}, columns
        assert instance.event_log_storage.has_table("no_such_table") is False
        assert instance.event_log_storage.has_table("no_such_table") is False
        assert asked["no_such_table"] == 2
        stored = _stored(instance, ran.run_id)
        assert [m for kind, m in stored if m] == [f"node a{i} built" for i in range(NODES)]
        assert sum(kind == "ASSET_MATERIALIZATION" for kind, _ in stored) == NODES
        assert sum(kind == "ASSET_CHECK_EVALUATION" for kind, _ in stored) == NODES
