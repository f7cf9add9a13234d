"""The raw directory: its strict layout, the files of a dataset and year, and their bytes.

``validate_raw_dir`` walks the whole raw directory before anything is written and raises
``RawLayoutError`` (the command exits 2) naming the first folder or file that breaks the layout:
a folder under ``survey/`` not named with exactly four digits (``2023 ``, ``20x3``), a file under
``commune_totals/`` or ``difficult_areas/`` not named ``<year>.csv``, a review year that no
poverty standard of the seed covers (``1999``), or a dataset folder that is itself a symbolic
link. Hidden entries (``.DS_Store``) are skipped.

Symbolic links are never followed, to a file or to a folder: ``os.scandir`` with
``follow_symlinks=False`` tells them apart without touching their target, and a linked entry
is listed as ``ignored`` ("symbolic link not followed") with no hash and no size, so nothing
outside the raw directory is ever read or hashed. A file of another type in a year folder (a
note, a PDF, an Excel lock file ``~$…``) is listed as ``ignored`` too.

``scan_file`` reads a file's bytes once: its sha256, its number of physical lines (counted as
newline bytes, independently of any CSV parser) and whether it holds a control character, so that
the readers can be checked against it. Nothing keeps a scan: a file's identity, size and
modification time do not prove its bytes unchanged (an overwrite can keep all three), so every
ingest scans the bytes it reads, and ``changed_since`` hashes them again once they are loaded.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from orchestration.ingest.registry import REGISTRY, YEAR_FOLDER, poverty_standards

_CHUNK = 8 << 20
# Every byte but the C0 controls other than tab and LF, and DEL: deleting these from a chunk
# leaves its control characters (C-speed, unlike a regular expression over the bytes).
_NOT_CONTROL = bytes(b for b in range(256) if not (b <= 8 or 11 <= b <= 31 or b == 127))
_YEAR_NAME = re.compile(r"^[0-9]{4}$")
_YEAR_FILE = re.compile(r"^([0-9]{4})\.csv$")
SYMLINK_REASON = "symbolic link not followed"


class RawLayoutError(ValueError):
    """The raw directory breaks the layout; the message names the folder or file."""


@dataclass(frozen=True)
class LayoutEntry:
    """One file (or link) of a dataset and year; ``ignored`` holds why it is not read."""

    path: Path
    relative: str
    ignored: str | None = None


@dataclass
class RawLayout:
    """Every review year on disk and the entries of each (dataset, year)."""

    raw_dir: Path
    entries: dict[tuple[str, int], list[LayoutEntry]] = field(default_factory=dict)

    @property
    def years(self) -> list[int]:
        return sorted({year for _, year in self.entries})

    def files(self, dataset: str, review_year: int) -> list[LayoutEntry]:
        return self.entries.get((dataset, review_year), [])

    def read_paths(self, dataset: str, review_year: int) -> list[Path]:
        """The files of one dataset and year that are read (not ignored), sorted by name."""
        return [e.path for e in self.files(dataset, review_year) if e.ignored is None]


def _visible(entries) -> list[os.DirEntry]:
    return sorted((e for e in entries if not e.name.startswith(".")), key=lambda e: e.name)


def _ignored_reason(entry: os.DirEntry, extensions: tuple[str, ...]) -> str | None:
    if entry.is_symlink():
        return SYMLINK_REASON
    if not entry.is_file(follow_symlinks=False):
        return "not a regular file"
    if entry.name.startswith("~$"):
        return "spreadsheet lock file"
    suffix = Path(entry.name).suffix.lower()
    if suffix not in extensions:
        return f"file type {suffix or '(none)'} is not read: expected " + " or ".join(extensions)
    return None


def validate_raw_dir(raw_dir: Path) -> RawLayout:
    """The raw directory's layout, or ``RawLayoutError`` naming what breaks it.

    Pure: it reads directory listings and the standards seed, never a file's content.
    """
    raw_dir = Path(raw_dir)
    layout = RawLayout(raw_dir=raw_dir)
    if not raw_dir.is_dir():
        raise RawLayoutError(f"the raw directory {raw_dir} does not exist or is not a folder")
    for dataset in REGISTRY.values():
        folder = raw_dir / dataset.name
        if folder.is_symlink():
            raise RawLayoutError(
                f"{dataset.name}/ is a symbolic link ({SYMLINK_REASON}): make it a real folder"
            )
        if not folder.is_dir():
            continue
        with os.scandir(folder) as listing:
            children = _visible(listing)
        for child in children:
            where = f"{dataset.name}/{child.name}"
            if dataset.layout == YEAR_FOLDER:
                if not _YEAR_NAME.match(child.name):
                    raise RawLayoutError(
                        f"{where!r}: a folder under {dataset.name}/ must be a review year named "
                        "with exactly four digits (e.g. 2023)"
                    )
                year = int(child.name)
                entries = layout.entries.setdefault((dataset.name, year), [])
                if child.is_symlink() or not child.is_dir(follow_symlinks=False):
                    reason = SYMLINK_REASON if child.is_symlink() else "not a folder"
                    entries.append(LayoutEntry(Path(child.path), where, reason))
                    continue
                with os.scandir(child.path) as files:
                    for entry in _visible(files):
                        entries.append(
                            LayoutEntry(
                                Path(entry.path),
                                f"{where}/{entry.name}",
                                _ignored_reason(entry, dataset.extensions),
                            )
                        )
            else:
                matched = _YEAR_FILE.match(child.name)
                if not matched:
                    raise RawLayoutError(
                        f"{where!r}: a file under {dataset.name}/ must be named <year>.csv with "
                        "a four-digit review year (e.g. 2023.csv)"
                    )
                entry = LayoutEntry(
                    Path(child.path), where, _ignored_reason(child, dataset.extensions)
                )
                layout.entries.setdefault((dataset.name, int(matched.group(1))), []).append(entry)
    standards = poverty_standards()
    for dataset_name, year in sorted(layout.entries, key=lambda key: (key[1], key[0])):
        if not any(s.covers(year) for s in standards):
            known = ", ".join(
                f"{s.standard_id} {s.first_review_year}-{s.last_review_year}" for s in standards
            )
            raise RawLayoutError(
                f"review year {year} ({dataset_name}): no poverty standard covers it ({known})"
            )
    return layout


def list_review_years(raw_dir: Path) -> list[int]:
    """Every review year with at least one entry in the raw layout (validated)."""
    return validate_raw_dir(raw_dir).years


@dataclass(frozen=True)
class FileIdentity:
    """What the file system says of a file without reading it: the device and inode it is, its
    size, and when its bytes (``mtime``) and its inode (``ctime``) last changed, in ns.

    Any write to the file moves its ``ctime`` to the time of the write, and no program can set
    a ``ctime`` back (``touch`` and ``os.utime`` set ``mtime``, and move ``ctime`` to now); a
    file replaced, copied or restored is another inode. An identity unchanged since a hash was
    taken therefore stands for the bytes hashed, as git's index and rsync take it, provided the
    hash began ``SETTLE_NS`` after the file's last change (``settled``).
    """

    device: int
    inode: int
    size_bytes: int
    mtime_ns: int
    ctime_ns: int


SETTLE_NS = 2_000_000_000
"""How long after a file's last change a hash of it may begin for its identity to stand for it:
a file system that keeps its times in coarse steps (two seconds on FAT) could give a write made
just after the hash the same times as the one before it."""


def file_identity(path: Path) -> FileIdentity:
    """The identity of the entry itself (a symbolic link's own, never its target's)."""
    status = path.lstat()
    return FileIdentity(
        status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns
    )


def settled(before: FileIdentity | None, after: FileIdentity | None, hashed_from_ns: int) -> bool:
    """Whether a hash that began at ``hashed_from_ns`` (``time.time_ns()``) on a file whose
    identity was ``before`` then and ``after`` once it was hashed stands for the file while its
    identity stays ``before``: nothing changed it during the hash, and its last change came at
    least ``SETTLE_NS`` before the hash began."""
    return (
        before is not None
        and before == after
        and hashed_from_ns - max(before.mtime_ns, before.ctime_ns) >= SETTLE_NS
    )


@dataclass(frozen=True)
class FileScan:
    """What one pass over a file's bytes tells, before any parser sees it, with the file's
    identity before the pass and when the pass began (``settled``)."""

    sha256: str
    size_bytes: int
    lines: int
    has_control_characters: bool = False
    identity: FileIdentity | None = None
    scanned_from_ns: int = 0


def scan_file(path: Path, *, check_text: bool = True) -> FileScan:
    """Hash the file, count its physical lines and, for text, tell whether it holds a control
    character. A last line without a newline counts as a line. (UTF-8 is checked by DuckDB as
    it reads the file: decoding every file here too cost more than hashing it.)"""
    started = time.time_ns()
    identity = file_identity(path)
    digest = hashlib.sha256()
    newlines = size = 0
    controls = False
    last = b""
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            if check_text and not controls:
                found = chunk.translate(None, _NOT_CONTROL)
                # A CR is a control character unless it ends a line (a Windows line ending);
                # a CRLF cut between two chunks counts as a control (the strict reader decides).
                # The chunk is searched for CRLFs only when it holds a CR at all.
                if found:
                    carriage_returns = found.count(b"\r")
                    controls = carriage_returns != len(found) or (
                        carriage_returns != chunk.count(b"\r\n")
                    )
            newlines += chunk.count(b"\n")
            size += len(chunk)
            last = chunk[-1:]
    lines = newlines + (1 if size and last != b"\n" else 0)
    return FileScan(digest.hexdigest(), size, lines, controls, identity, started)


def scan_entry(entry: LayoutEntry) -> FileScan | None:
    """``scan_file`` of a layout entry, its text checked when it is a CSV to read; None for an
    ignored link, which is never followed, so neither hashed nor measured."""
    if entry.ignored is not None:
        return None if entry.path.is_symlink() else scan_file(entry.path, check_text=False)
    return scan_file(entry.path, check_text=entry.path.suffix.lower() == ".csv")


def changed_since(path: Path, scan: FileScan) -> str | None:
    """The file's new sha256 when its bytes are no longer those ``scan`` hashed, else None.

    Called once a file has been loaded: its bytes are hashed again (mostly from the page cache,
    the file was just read), so a write that kept the size and the modification time is seen.
    """
    now = file_sha256(path)
    return now if now != scan.sha256 else None


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def raw_files_fingerprint(
    raw_dir: Path, previous: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Relative path → ``"size:mtime_ns:sha256"`` for every entry in the raw layout.

    A file whose size and mtime equal those in ``previous`` keeps its recorded hash, so a sensor
    tick re-hashes only files that were touched. A symbolic link is fingerprinted by its own
    status and its target's name (``link:<target>``), never by the target's bytes.
    """
    raw_dir = Path(raw_dir)
    previous = previous or {}
    result: dict[str, str] = {}
    for entries in validate_raw_dir(raw_dir).entries.values():
        for entry in entries:
            stat = entry.path.lstat()
            prefix = f"{stat.st_size}:{stat.st_mtime_ns}:"
            if entry.path.is_symlink():
                result[entry.relative] = prefix + "link:" + os.readlink(entry.path)
                continue
            known = previous.get(entry.relative, "")
            result[entry.relative] = (
                known if known.startswith(prefix) else prefix + file_sha256(entry.path)
            )
    return result


def review_year_of_path(relative_path: str) -> int | None:
    """The review year a layout path belongs to (``survey/2023/x.csv`` → 2023)."""
    parts = relative_path.split("/")
    if len(parts) in (2, 3) and parts[0] == "survey" and _YEAR_NAME.match(parts[1]):
        return int(parts[1])
    if len(parts) == 2 and parts[0] in REGISTRY:
        matched = _YEAR_FILE.match(parts[1])
        return int(matched.group(1)) if matched else None
    return None
