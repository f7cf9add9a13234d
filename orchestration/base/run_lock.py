"""One run at a time per warehouse directory: an OS lock on ``OUT/.lock``.

DuckDB allows one writing process per file, and two runs on one warehouse directory would each
publish a mix of their inputs. Dagster's pools only serialise runs of one instance; this lock
holds across instances and processes: the command takes it for its whole run (the dbt subprocess
included), and the warehouse resource takes it for every Dagster run that writes the warehouse,
whichever instance launched it.

``fcntl.flock`` is released by the kernel when the holder dies, even by SIGKILL: a killed run
never leaves the directory locked. The file keeps the holder's pid, host and start time so that
the next run can name it. Within one process the lock is re-entrant (the command holds it and the
Dagster run it executes in-process takes it again), counted per directory.

No Dagster import.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

LOCK_FILE = ".lock"


class LockHeldError(RuntimeError):
    """Another process holds the warehouse directory's run lock."""

    def __init__(self, lock_path: Path, holder: str, waited_s: float) -> None:
        self.lock_path = lock_path
        self.holder = holder
        self.waited_s = waited_s
        waited = f" (waited {waited_s:.0f} s)" if waited_s else ""
        super().__init__(f"{lock_path.parent} is in use by {holder}{waited}")


_held: dict[Path, list[int]] = {}  # lock path -> [file descriptor, hold count]
_guard = threading.Lock()


def lock_path(warehouse_dir: str | os.PathLike[str]) -> Path:
    return Path(warehouse_dir).resolve() / LOCK_FILE


def holder_of(path: Path) -> str:
    """Who holds (or last held) the lock, as written in the lock file."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError:
        text = ""
    return text or "another process (it has not written its pid yet)"


def acquire(
    warehouse_dir: str | os.PathLike[str],
    purpose: str = "poverty-warehouse run",
    timeout_s: float = 0.0,
) -> Path:
    """Take the lock, waiting at most ``timeout_s`` seconds; :class:`LockHeldError` otherwise."""
    path = lock_path(warehouse_dir)
    with _guard:
        if path in _held:
            _held[path][1] += 1
            return path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    started = time.monotonic()
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            waited = time.monotonic() - started
            if waited >= timeout_s:
                os.close(fd)
                raise LockHeldError(path, holder_of(path), waited if timeout_s else 0.0) from None
            time.sleep(min(0.5, timeout_s - waited))
    since = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    os.ftruncate(fd, 0)
    os.pwrite(
        fd, f"pid {os.getpid()} on {socket.gethostname()} since {since} ({purpose})\n".encode(), 0
    )
    with _guard:
        _held[path] = [fd, 1]
    return path


def release(warehouse_dir: str | os.PathLike[str]) -> None:
    """Give back one hold; the lock goes when the last hold of this process goes."""
    path = lock_path(warehouse_dir)
    with _guard:
        entry = _held.get(path)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] > 0:
            return
        del _held[path]
    # The file stays: removing it would let a waiter lock an unlinked inode while a newcomer
    # locks a fresh file of the same name.
    os.close(entry[0])


def is_held_here(warehouse_dir: str | os.PathLike[str]) -> bool:
    with _guard:
        return lock_path(warehouse_dir) in _held


@contextlib.contextmanager
def hold(
    warehouse_dir: str | os.PathLike[str],
    purpose: str = "poverty-warehouse run",
    timeout_s: float = 0.0,
) -> Iterator[Path]:
    path = acquire(warehouse_dir, purpose, timeout_s)
    try:
        yield path
    finally:
        release(warehouse_dir)


def held_by_another(warehouse_dir: str | os.PathLike[str]) -> str | None:
    """Who holds the lock when another process does (a run writing), else None.

    For the commands that only read: they never take the lock (a scheduled run must not exit 4
    because someone is reading), they look. The look is a shared lock taken and given back at
    once; a run starting in that instant finds the lock taken and exits 4, as with any holder.
    """
    path = lock_path(warehouse_dir)
    if is_held_here(warehouse_dir) or not path.exists():
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return holder_of(path)
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
