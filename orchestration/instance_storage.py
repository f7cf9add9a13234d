"""The event storage of the warehouse's Dagster instance: one SQLite file, no fsync per event.

``poverty-warehouse run`` records every event of its run (a few hundred: each dbt model and test
is one) in ``OUT/dagster_home`` so that the Dagster UI shows what the command did. Dagster's
SQLite storage opens a connection and commits, with an fsync, per event; on a busy disk that was
most of the cost of recording. This storage is Dagster's consolidated SQLite event log (one file
for every run, already in WAL mode) with one engine kept for the storage's life instead of one
created per event, and ``PRAGMA synchronous=NORMAL`` on its connections: in WAL mode a commit then
no longer waits for the disk, and the database stays consistent after a crash (at worst the last
events of a run that was killed are lost; the warehouse itself is not stored here).
``instance.prepare_dagster_home`` names it in the instance's ``dagster.yaml``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import Any

from dagster._core.storage.event_log.sqlite.consolidated_sqlite_event_log import (
    ConsolidatedSqliteEventLogStorage,
)
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from sqlalchemy import create_engine, event


def _no_fsync_per_commit(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")


class RecordingSqliteEventLogStorage(ConsolidatedSqliteEventLogStorage):
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
