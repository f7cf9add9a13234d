"""Files written whole or not at all: a temp file beside the final name, fsync, then rename.

What every publish and rollback writes goes through these helpers: the temp names all start with
``TEMP_PREFIX``, so a run killed before its renames leaves only files the next run removes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

TEMP_PREFIX = ".publishing-"
PUBLIC_FILE_MODE = 0o644
PUBLIC_DIR_MODE = 0o755


def fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fsync_path(directory)


def temp_path(directory: Path, stem: str, suffix: str = ".tmp") -> Path:
    fd, name = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{stem}-", suffix=suffix, dir=directory)
    os.close(fd)
    os.unlink(name)  # DuckDB must create the file itself
    return Path(name)


def remove_path(path: Path) -> None:
    with contextlib.suppress(OSError):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


def remove_stale_temps(directory: Path) -> None:
    """Leftovers of a publish that was killed before its renames."""
    if directory.is_dir():
        for path in directory.glob(f"{TEMP_PREFIX}*"):
            remove_path(path)


def atomic_copy(source: Path, destination: Path) -> None:
    """Copy into a temp file beside ``destination``, fsync, then rename over it."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    temp = temp_path(destination.parent, destination.stem)
    try:
        with open(source, "rb") as reader, open(temp, "wb") as writer:
            shutil.copyfileobj(reader, writer, 1 << 20)
            writer.flush()
            os.fsync(writer.fileno())
        os.replace(temp, destination)
        fsync_dir(destination.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
