"""What a review year's rows are made from besides its files: the ingest's inputs digest.

A year's raw and quarantine rows follow from its files' bytes and from four other things: the
ingest's own rules (this package's code, the key headers and the poverty standards seed it
reads), the personal-data key (every id number is stored as its keyed hash), the reference units
of the year's unit version (a commune code is checked against them) and the read limits. Their
digest is stored with each year the ingest writes (``audit.ingested_years``); a later run finds a
year unchanged, and leaves its rows as they are, only when the year's files have the same names
and bytes and this digest is the same (``keep_unchanged_year``).

The key enters only as ``HMAC(key, purpose)``: the digest says whether the key changed, never
anything of the key.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import astuple, dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from orchestration.ingest.layout import (
    FileIdentity,
    LayoutEntry,
    file_identity,
    file_sha256,
    settled,
)
from orchestration.ingest.limits import ReadLimits
from orchestration.ingest.readers import FileReport
from orchestration.ingest.registry import STANDARDS_SEED
from orchestration.ingest.writes import CURRENT, store_identities

if TYPE_CHECKING:
    from datetime import datetime

    from orchestration.ingest import IngestReport

_PACKAGE = Path(__file__).resolve().parent
_BASE = _PACKAGE.parent / "base"
# The modules outside this package whose code decides what a row becomes.
_BASE_MODULES = ("admin_units.py", "headers.py", "pii.py", "warehouse_connection.py")
_KEY_PURPOSE = b"poverty-warehouse: which key hashed the ingested rows"


@functools.cache
def rules_digest() -> str:
    """sha256 over the ingest's code, the seed it reads and the readers' versions (once per
    process: none of them changes while it runs)."""
    digest = hashlib.sha256()
    paths = [*sorted(_PACKAGE.glob("*.py")), *(_BASE / name for name in _BASE_MODULES)]
    for path in [*paths, STANDARDS_SEED]:
        digest.update(f"{path.name}\0".encode())
        digest.update(path.read_bytes())
    for package in ("duckdb", "python-calamine"):
        try:
            digest.update(f"{package}={version(package)}\n".encode())
        except PackageNotFoundError:
            digest.update(f"{package}=none\n".encode())
    return digest.hexdigest()


def _units_digest(con: duckdb.DuckDBPyConnection, unit_version: str) -> str:
    """The codes of one unit version's reference units, which the ingest checks codes against
    (``rules.py`` reads these three columns only), as a count and an order-free hash: 2 ms on
    the 10,035 communes before 2025, where an ordered text digest took 47 ms."""
    try:
        count, codes = con.execute(
            """
            select count(*), bit_xor(hash(province_code, district_code, commune_code))
            from reference.admin_units where unit_version = ?
            """,
            [unit_version],
        ).fetchone()
    except duckdb.CatalogException:
        return "none"
    return f"{count}:{codes}"


def inputs_digest(
    con: duckdb.DuckDBPyConnection, *, pii_key: bytes, unit_version: str, limits: ReadLimits
) -> str:
    """The digest of what a year's rows are made from besides its files (module docstring)."""
    key_mark = hmac.new(pii_key, _KEY_PURPOSE, hashlib.sha256).hexdigest()
    parts = [
        rules_digest(),
        key_mark,
        unit_version,
        _units_digest(con, unit_version),
        repr(astuple(limits)),
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


@dataclass(frozen=True)
class _Seen:
    """A file of a year asked whether it is unchanged: the sha256 it stands for, and its
    identity to record when it was hashed now and the hash is ``settled``."""

    sha256: str | None
    identity: FileIdentity | None = None


def _seen(entry: LayoutEntry, known: dict[str, tuple[str, FileIdentity]]) -> _Seen:
    """A file's sha256 as the ingest records it: none for a symbolic link (never followed); the
    hash recorded with the file's identity when that identity is the file's now (``known``),
    else the hash of its bytes. A file that cannot be read (gone since it was listed) matches no
    recorded hash: the year is then read in full, which says what happened to it."""
    if entry.path.is_symlink():
        return _Seen(None)
    started = time.time_ns()
    try:
        identity = file_identity(entry.path)
        recorded = known.get(entry.relative)
        if recorded is not None and recorded[1] == identity:
            return _Seen(recorded[0])
        sha256 = file_sha256(entry.path)
        after = file_identity(entry.path)
    except OSError:
        return _Seen("unreadable")
    return _Seen(sha256, identity if settled(identity, after, started) else None)


def known_identities(
    con: duckdb.DuckDBPyConnection, dataset_name: str, review_year: int
) -> dict[str, tuple[str, FileIdentity]]:
    """File name → (sha256, identity) as recorded for the year (``record_identities``)."""
    rows = con.execute(
        """
        select file_name, sha256, device, inode, size_bytes, mtime_ns, ctime_ns
        from audit.file_identities where review_year = ? and dataset = ?
        """,
        [review_year, dataset_name],
    ).fetchall()
    return {name: (sha256, FileIdentity(*rest)) for name, sha256, *rest in rows}


def keep_unchanged_year(
    con: duckdb.DuckDBPyConnection,
    report: IngestReport,
    entries: list[LayoutEntry],
    inputs: str,
    now: datetime,
) -> bool:
    """Leave the year's rows as they are when nothing they are made from changed: the same
    file names with the same bytes as its current ``audit.source_files`` rows, and the same
    inputs digest as when they were written (the module docstring). Then ``report`` takes the
    recorded outcome of each file, ``unchanged_since`` names the run that wrote the rows, and
    the files' ``last_seen_at`` moves to ``now``; their ``run_id`` stays that run's, as the
    rows' lineage does.

    Asked before the year's files are scanned: the names and the digest are compared first,
    then each file's bytes, stopping at the first that differs. A file whose identity on the
    file system (``layout.FileIdentity``: device, inode, size, modification and status-change
    times) is the one recorded when its bytes were last hashed (``audit.file_identities``) has
    those bytes, and is not read; any other file is hashed (two at a time; hashlib releases the
    GIL), and its identity recorded when the hash is ``settled``, so that the next run need not
    read it either. A file quarantined because it changed while it was read is read again
    whatever its bytes (its message promises it).
    """
    key = {"year": report.review_year, "dataset": report.dataset}
    recorded = con.execute(
        """
        select inputs_sha256, run_id from audit.ingested_years
        where review_year = $year and dataset = $dataset
        """,
        key,
    ).fetchone()
    if recorded is None or recorded[0] != inputs:
        return False
    columns = list(FileReport.__dataclass_fields__)
    current = con.execute(
        f"""
        select {", ".join(columns)} from audit.source_files
        where review_year = $year and dataset = $dataset and {CURRENT}
        """,
        key,
    ).fetchall()
    by_name = {row[0]: FileReport(**dict(zip(columns, row, strict=True))) for row in current}
    if sorted(by_name) != sorted(entry.relative for entry in entries):
        return False
    read_again = con.execute(
        """
        select count(*) from audit.quarantine
        where review_year = $year and dataset = $dataset and source_row is null
            and list_contains(reasons, 'changed_during_read')
        """,
        key,
    ).fetchone()[0]
    if read_again:
        return False
    known = known_identities(con, report.dataset, report.review_year)
    hashed: dict[str, tuple[str, FileIdentity]] = {}
    pool = ThreadPoolExecutor(max_workers=2)
    try:
        for entry, seen in zip(
            entries, pool.map(lambda entry: _seen(entry, known), entries), strict=True
        ):
            if seen.sha256 != by_name[entry.relative].sha256:
                return False
            if seen.identity is not None:
                hashed[entry.relative] = (seen.sha256, seen.identity)
    finally:
        # At the first difference, the files not yet hashed are not hashed.
        pool.shutdown(wait=True, cancel_futures=True)
    store_identities(con, report.dataset, report.review_year, hashed, whole_year=False)
    con.execute(
        f"""
        update audit.source_files set last_seen_at = $now
        where review_year = $year and dataset = $dataset and {CURRENT}
        """,
        {**key, "now": now},
    )
    report.files = [by_name[entry.relative] for entry in entries]
    report.unchanged_since = recorded[1]
    return True
