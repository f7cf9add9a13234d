"""The event storages of the command's Dagster instances: a recorded run's SQLite file without
an fsync per event, and an unrecorded run's in-memory log on one connection.

``poverty-warehouse run`` records every event of its run (a few hundred: each dbt model and test
is one) in ``OUT/dagster_home`` so that the Dagster UI shows what the command did. Dagster's
SQLite storage opens a connection and commits, with an fsync, per event; on a busy disk that was
most of the cost of recording. This storage is Dagster's consolidated SQLite event log (one file
for every run, already in WAL mode) with one engine kept for the storage's life instead of one
created per event, and ``PRAGMA synchronous=NORMAL`` on its connections: in WAL mode a commit then
no longer waits for the disk, and the database stays consistent after a crash (at worst the last
events of a run that was killed are lost; the warehouse itself is not stored here).
``instance.prepare_dagster_home`` names it in the instance's ``dagster.yaml``.

Both storages remember the tables they have found, and the asset key table's columns: Dagster
otherwise asks the database before storing each asset event's tags, each check result and each
asset event (331 questions in a tiny run).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import Any

from dagster._core.storage.event_log.in_memory import InMemoryEventLogStorage
from dagster._core.storage.event_log.sqlite.consolidated_sqlite_event_log import (
    ConsolidatedSqliteEventLogStorage,
)
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from sqlalchemy import create_engine, event, text


def _no_fsync_per_commit(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")


class _TablesFoundOnce:
    """Dagster asks whether a table exists before it stores each asset event's tags and each
    check result: three questions per dbt node, each on a connection of its own (the SQLite
    storage creates an engine for each); and it reads the asset key table's columns before it
    stores each asset event. A storage's tables and columns are created with it and never
    dropped while it lives (a wipe deletes rows; a migration adds tables and columns), so a table
    or column found is remembered; one not found is asked about again."""

    @cached_property
    def _tables_found(self) -> set[str]:
        return set()

    @cached_property
    def _asset_key_columns_found(self) -> set[str]:
        return set()

    def has_table(self, table_name: str) -> bool:
        if table_name in self._tables_found:
            return True
        found = super().has_table(table_name)  # type: ignore[misc]
        if found:
            self._tables_found.add(table_name)
        return found

    def _has_asset_key_col_on_connection(self, conn: Any, column_name: str) -> bool:
        if column_name in self._asset_key_columns_found:
            return True
        found = super()._has_asset_key_col_on_connection(conn, column_name)  # type: ignore[misc]
        if found:
            self._asset_key_columns_found.add(column_name)
        return found


class RecordingSqliteEventLogStorage(_TablesFoundOnce, ConsolidatedSqliteEventLogStorage):
    """Consolidated SQLite event log whose commits do not wait for an fsync (WAL mode)."""

    @cached_property
    def _recording_engine(self) -> Any:
        # One engine (and its pool) for the storage's life, instead of one per event.
        engine = create_engine(
            self._conn_string, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS}
        )
        event.listen(engine, "connect", _no_fsync_per_commit)
        return engine

    @contextmanager
    def _connect(self) -> Iterator[Any]:
        with self._recording_engine.connect() as conn, conn.begin():
            yield conn

    def dispose(self) -> None:
        if "_recording_engine" in self.__dict__:
            self._recording_engine.dispose()
        super().dispose()


class HeldConnectionInMemoryEventLogStorage(_TablesFoundOnce, InMemoryEventLogStorage):
    """Dagster's in-memory event log on the one connection it already holds.

    ``InMemoryEventLogStorage`` opens a new SQLite connection for every statement group (its
    engine has no pool), and sets two pragmas on each; one run's few hundred events (each dbt
    node is one or two, each log line one) made that about a second of the command's run. The
    database is the same in-memory SQLite database, created and stamped by the parent class;
    access stays serialised by the parent's lock.
    """

    def __init__(self, inst_data: Any = None, preload: Any = None) -> None:
        super().__init__(inst_data, preload)
        self._held_conn.execute(text("PRAGMA foreign_keys=ON")).close()
        self._held_conn.commit()

    @contextmanager
    def _connect(self) -> Iterator[Any]:
        with self._db_lock, self._held_conn.begin():
            yield self._held_conn
