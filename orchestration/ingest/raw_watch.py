"""Watching the raw directory: which files have settled, and which years differ from the warehouse.

Two questions the raw-files sensor and ``poverty-warehouse run`` ask before reading anything:

- **Has every file settled?** A file copied or exported into ``data/raw`` is read only once its
  size and modification time have not changed for the settle interval
  (``POVERTY_SETTLE_SECONDS``, default 30 s): every write moves the modification time, so a file
  still being written is younger than the interval. Where an earlier look saw the file (the
  sensor's cursor), a file whose size or modification time moved since that look also waits,
  even if a copying tool set an old modification time.
- **Which review years differ from what the warehouse loaded?** The state is the warehouse's own
  audit of loaded files (``audit.source_files``, its current rows: a file name and its sha256
  per file of every dataset), compared with the files on disk now. The sensor's cursor only
  keeps the hashes of files that did not move, so a tick re-hashes only what was touched.

The warehouse is read with the run lock taken without waiting and a read-only connection held for
one query: DuckDB lets no process open the file while another writes it (a read-only handle held
by the sensor would also make a run's dbt step fail), and the run lock is what every run and the
command hold for their whole length. When a run holds it, :class:`WarehouseBusy` says by whom.

No Dagster import.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from orchestration.base import run_lock
from orchestration.base.warehouse_connection import connect
from orchestration.ingest.layout import file_sha256, review_year_of_path, validate_raw_dir

SETTLE_SECONDS_ENV = "POVERTY_SETTLE_SECONDS"
DEFAULT_SETTLE_SECONDS = 30.0
_NOT_HASHED = "?"


class WarehouseBusy(RuntimeError):
    """A run holds the warehouse: its audit cannot be read now."""


def settle_seconds() -> float:
    """The settle interval: ``POVERTY_SETTLE_SECONDS`` (0 reads files at once), else 30 s."""
    value = os.environ.get(SETTLE_SECONDS_ENV, "").strip()
    if not value:
        return DEFAULT_SETTLE_SECONDS
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError(f"{SETTLE_SECONDS_ENV}={value!r} is not a number of seconds") from None
    if seconds < 0:
        raise ValueError(f"{SETTLE_SECONDS_ENV}={value!r} must be 0 or more")
    return seconds


@dataclass(frozen=True)
class Waiting:
    """A file that has not settled: how long ago it last changed."""

    path: str
    age_s: float

    def describe(self, settle_s: float) -> str:
        return f"{self.path} (changed {self.age_s:.0f} s ago, settles after {settle_s:g} s)"


@dataclass
class RawState:
    """The raw directory at one look: a fingerprint per entry, the files still moving."""

    fingerprints: dict[str, str]
    """Relative path → ``size:mtime_ns:sha256`` (``link:<target>`` for a link, ``?`` unhashed)."""
    waiting: list[Waiting] = field(default_factory=list)

    def files_of(self, year: int) -> dict[str, str | None]:
        """The year's entries as the audit records them: path → sha256 (None for a link)."""
        files: dict[str, str | None] = {}
        for path, fingerprint in self.fingerprints.items():
            if review_year_of_path(path) == year:
                content = fingerprint.split(":", 2)[2]
                files[path] = None if content.startswith("link:") else content
        return files

    @property
    def years(self) -> set[int]:
        return {y for y in map(review_year_of_path, self.fingerprints) if y is not None}

    def waiting_years(self) -> set[int]:
        return {y for w in self.waiting if (y := review_year_of_path(w.path)) is not None}


def look(
    raw_dir: Path,
    previous: Mapping[str, str] | None = None,
    *,
    settle_s: float,
    now: float | None = None,
    hash_files: bool = True,
) -> RawState:
    """Fingerprint every entry of the raw layout, hashing only settled files that moved.

    ``previous`` is the last look's fingerprints: a file with the same size and mtime keeps its
    hash; one that changed since (or changed less than ``settle_s`` ago) waits, unhashed.
    ``hash_files=False`` only measures (the command's wait: the ingest hashes what it reads).
    Raises ``RawLayoutError`` for a broken layout.
    """
    previous = previous or {}
    now = time.time() if now is None else now
    state = RawState(fingerprints={})
    for entries in validate_raw_dir(Path(raw_dir)).entries.values():
        for entry in entries:
            stat = entry.path.lstat()
            prefix = f"{stat.st_size}:{stat.st_mtime_ns}:"
            if entry.path.is_symlink():
                state.fingerprints[entry.relative] = prefix + "link:" + os.readlink(entry.path)
                continue
            known = previous.get(entry.relative)
            age = now - stat.st_mtime_ns / 1e9
            moved = known is not None and not known.startswith(prefix)
            if settle_s > 0 and (age < settle_s or moved):
                state.fingerprints[entry.relative] = prefix + _NOT_HASHED
                state.waiting.append(Waiting(entry.relative, max(age, 0.0)))
            elif known is not None and not known.endswith(":" + _NOT_HASHED):
                state.fingerprints[entry.relative] = known
            elif not hash_files:
                state.fingerprints[entry.relative] = prefix + _NOT_HASHED
            else:
                state.fingerprints[entry.relative] = prefix + file_sha256(entry.path)
    state.waiting.sort(key=lambda w: w.path)
    return state


def wait_until_settled(
    raw_dir: Path,
    years: Iterable[int],
    *,
    settle_s: float,
    on_wait=None,
    sleep=time.sleep,
    clock=time.time,
) -> None:
    """Block until every file of ``years`` has settled (the command's rule, the sensor's too).

    ``on_wait(waiting)`` is told which files are awaited, once per change of that list.
    """
    wanted = set(years)
    previous: dict[str, str] | None = None
    told: list[str] | None = None
    while True:
        state = look(raw_dir, previous, settle_s=settle_s, now=clock(), hash_files=False)
        waiting = [w for w in state.waiting if review_year_of_path(w.path) in wanted]
        if not waiting:
            return
        names = [w.path for w in waiting]
        if on_wait is not None and names != told:
            on_wait(waiting)
            told = names
        previous = state.fingerprints
        sleep(max(0.2, min(settle_s - min(w.age_s for w in waiting), settle_s, 5.0)))


def files_digest(files: Mapping[str, str | None]) -> str:
    """One hash over a year's (path, sha256) pairs: what a run of it would read."""
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(f"{path}\0{files[path] or 'link'}\n".encode())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class LoadedYear:
    """What the warehouse loaded for a year: its current files and when it last ingested it."""

    files: dict[str, str | None]
    last_ingest: str


def loaded_files(warehouse_dir: Path, warehouse_path: Path) -> dict[int, LoadedYear]:
    """The current files of ``audit.source_files`` per review year; {} before any ingest.

    Takes the run lock without waiting (:class:`WarehouseBusy` naming the holder) and reads
    with a read-only connection closed before the lock goes.
    """
    if not Path(warehouse_path).exists():
        return {}
    try:
        lock = run_lock.acquire(warehouse_dir, "raw_files_sensor reading audit.source_files")
    except run_lock.LockHeldError as held:
        raise WarehouseBusy(f"in use by {held.holder}") from None
    try:
        try:
            con = connect(warehouse_path, read_only=True)
        except duckdb.Error as error:
            raise WarehouseBusy(str(error).splitlines()[0]) from None
        try:
            exists = con.execute(
                "select count(*) from information_schema.tables "
                "where table_schema = 'audit' and table_name = 'source_files'"
            ).fetchone()[0]
            if not exists:
                return {}
            rows = con.execute(
                """
                select review_year, file_name, sha256,
                       status not in ('replaced', 'removed') as current,
                       strftime(max(last_seen_at) over (partition by review_year),
                                '%Y-%m-%dT%H:%M:%S.%f') as last_ingest
                from audit.source_files
                """
            ).fetchall()
        finally:
            con.close()
    finally:
        run_lock.release(lock.parent)
    loaded: dict[int, LoadedYear] = {}
    for year, name, sha, current, last_ingest in rows:
        entry = loaded.setdefault(int(year), LoadedYear(files={}, last_ingest=last_ingest))
        if current:
            entry.files[name] = sha
    return loaded
