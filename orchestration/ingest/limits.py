"""How large an input may be before it is refused, and the checks made before a workbook is read.

A workbook is a zip archive of XML parts, so its size on disk says nothing of what reading it
costs: a 2.5 KB workbook whose one cell sits at ``XFD1048576`` makes a reader that builds the
sheet's dense range ask for 512 GiB, and a 2 MB one can hold 2 GB of sheet XML. So before
python-calamine sees a workbook, ``check_archive`` compares the uncompressed size of its parts
(from the zip directory) with ``max_xlsx_bytes`` (``archive_too_large``), and before it loads a
sheet, ``check_sheet`` compares the sheet's declared dimension (``<dimension ref>``) and its
actual extent (every cell reference, read from the XML in chunks, without building anything)
with ``max_sheet_rows``, ``max_sheet_columns`` and ``max_sheet_cells`` (``sheet_too_large``).
Either quarantines the file whole and the run goes on. A cell longer than ``max_cell_chars``
quarantines its row (``cell_too_long``, CSV and XLSX alike; the readers test it in SQL).

The defaults are generous for real exports (the largest real review sheet is tens of thousands
of rows by about 40 columns) and each can be changed through the environment (``POVERTY_MAX_*``,
see ``ReadLimits.from_environment``); ``docs/input-format.md`` documents them.
"""

from __future__ import annotations

import os
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, fields

# The environment variable of each limit.
ENVIRONMENT = {
    "max_sheet_rows": "POVERTY_MAX_SHEET_ROWS",
    "max_sheet_columns": "POVERTY_MAX_SHEET_COLUMNS",
    "max_sheet_cells": "POVERTY_MAX_SHEET_CELLS",
    "max_xlsx_bytes": "POVERTY_MAX_XLSX_BYTES",
    "max_cell_chars": "POVERTY_MAX_CELL_CHARS",
}


class LimitError(ValueError):
    """A limit set in the environment is not a positive whole number."""


@dataclass(frozen=True)
class ReadLimits:
    """The limits of one ingest (see the module docstring)."""

    max_sheet_rows: int = 300_000
    max_sheet_columns: int = 256
    max_sheet_cells: int = 15_000_000
    max_xlsx_bytes: int = 1 << 30
    max_cell_chars: int = 4_096

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> ReadLimits:
        """The defaults, each replaced by its ``POVERTY_MAX_*`` variable when that is set."""
        environ = os.environ if environ is None else environ
        values = {}
        for field in fields(cls):
            name = ENVIRONMENT[field.name]
            text = (environ.get(name) or "").strip().replace("_", "")
            if not text:
                continue
            if not text.isdigit() or int(text) < 1:
                raise LimitError(f"{name} must be a positive whole number, got {text!r}")
            values[field.name] = int(text)
        return cls(**values)


class InputTooLarge(Exception):
    """A workbook over a limit; ``reason`` is its quarantine reason code."""

    def __init__(self, reason: str, message: str, detail: dict[str, object]) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.detail = detail


def check_archive(archive: zipfile.ZipFile, limits: ReadLimits) -> None:
    """``archive_too_large`` when the parts' uncompressed sizes add up to more than the limit.

    The sizes come from the zip directory. A part whose data inflates beyond its recorded size
    cannot cheat this: Python's zip reader stops at the recorded size and checks the CRC, and
    every part calamine reads was first read by ``check_sheet`` or is bounded by the sum here.
    """
    total = sum(info.file_size for info in archive.infolist())
    if total > limits.max_xlsx_bytes:
        raise InputTooLarge(
            "archive_too_large",
            f"the workbook unpacks to {total:,} bytes, over the limit of "
            f"{limits.max_xlsx_bytes:,} ({ENVIRONMENT['max_xlsx_bytes']})",
            {"uncompressed_bytes": total, "limit": limits.max_xlsx_bytes},
        )


_REF = re.compile(r"\$?([A-Z]{1,3})\$?([0-9]{1,7})")
_DIMENSION = re.compile(rb"<(?:\w+:)?dimension\b[^>]*?\bref\s*=\s*[\"']([^\"']*)[\"']")
# A cell element (not <col>, <cols>, <cfRule>, …) and the letters and digits of its reference.
_CELL_TAG = re.compile(rb"<(?:\w+:)?c[\s/>]")
_CELL_COLUMN = re.compile(rb"<(?:\w+:)?c\s[^>]*?\br\s*=\s*[\"']([A-Z]{1,3})[0-9]")
_CELL_ROW = re.compile(rb"<(?:\w+:)?c\s[^>]*?\br\s*=\s*[\"'][A-Z]{1,3}([0-9]{1,7})[\"']")
_ROW_TAG = re.compile(rb"<(?:\w+:)?row[\s/>]")
_ROW_NUMBER = re.compile(rb"<(?:\w+:)?row\s[^>]*?\br\s*=\s*[\"']([0-9]{1,7})[\"']")
# The same for XML as spreadsheet programs write it (r="A1", tags without a prefix): literal
# patterns that the regular-expression engine finds several times faster. A reference in
# another attribute ending in r (a <cellWatch r="B2">) only widens the bound.
_FAST_COLUMN = re.compile(rb'r="([A-Z]{1,3})[0-9]')
_FAST_NUMBER = re.compile(rb'r="[A-Z]{0,3}([0-9]{1,7})"')
_UNUSUAL = (b"r='", b"r =", b"r= ", b":c ", b":row ", b":c>", b":row>")
_CHUNK = 1 << 20
_LONGEST_TAG = 1 << 20


def column_number(letters: str) -> int:
    """``A`` → 1, ``AD`` → 30, ``XFD`` → 16384."""
    number = 0
    for letter in letters:
        number = number * 26 + ord(letter) - 64
    return number


@dataclass
class _Extent:
    rows: set[int]
    columns: set[bytes]
    cells: int = 0
    cells_with_ref: int = 0
    row_tags: int = 0
    rows_with_number: int = 0

    def feed(self, xml: bytes) -> None:
        if any(form in xml for form in _UNUSUAL):
            self._feed_any(xml)
            return
        columns = _FAST_COLUMN.findall(xml)
        numbers = _FAST_NUMBER.findall(xml)
        self.columns.update(columns)
        self.rows.update(int(r) for r in set(numbers))
        self.cells_with_ref += len(columns)
        self.cells += xml.count(b"<c ") + xml.count(b"<c>") + xml.count(b"<c/>")
        self.row_tags += xml.count(b"<row ") + xml.count(b"<row>")
        # Every reference counted is a cell's or a row's.
        self.rows_with_number += max(len(numbers) - len(columns), 0)

    def _feed_any(self, xml: bytes) -> None:
        """Any spelling XML allows: prefixed tags, single quotes, spaces around '='."""
        columns = _CELL_COLUMN.findall(xml)
        self.columns.update(columns)
        self.cells_with_ref += len(columns)
        self.rows.update(int(r) for r in set(_CELL_ROW.findall(xml)))
        numbered = _ROW_NUMBER.findall(xml)
        self.rows.update(int(r) for r in set(numbered))
        self.rows_with_number += len(numbered)
        self.row_tags += len(_ROW_TAG.findall(xml))
        self.cells += len(_CELL_TAG.findall(xml))

    def size(self) -> tuple[int, int]:
        """(rows, columns) of the dense range a reader builds from the first to the last cell.

        A cell or row without a reference takes the place after the one before it, so each one
        may stretch the range by one: counted as such, the bound is never too small.
        """
        if not self.cells and not self.rows:
            return 0, 0
        numbers = [column_number(c.decode()) for c in self.columns]
        unplaced_cells = self.cells - self.cells_with_ref
        unplaced_rows = self.row_tags - self.rows_with_number
        low_column = 1 if unplaced_cells or not numbers else min(numbers)
        high_column = (max(numbers) if numbers else 0) + unplaced_cells
        low_row = 1 if unplaced_rows or not self.rows else min(self.rows)
        high_row = (max(self.rows) if self.rows else 0) + unplaced_rows
        return max(high_row - low_row + 1, 0), max(high_column - low_column + 1, 0)


def _declared_size(ref: str) -> tuple[int, int] | None:
    corners = [_REF.fullmatch(part.strip()) for part in ref.split(":")]
    if not corners or not all(corners) or len(corners) > 2:
        return None
    columns = [column_number(m.group(1)) for m in corners]
    rows = [int(m.group(2)) for m in corners]
    return max(rows) - min(rows) + 1, max(columns) - min(columns) + 1


def _over(size: tuple[int, int], limits: ReadLimits) -> str | None:
    rows, columns = size
    if rows > limits.max_sheet_rows:
        return f"{rows:,} rows, over the limit of {limits.max_sheet_rows:,}"
    if columns > limits.max_sheet_columns:
        return f"{columns:,} columns, over the limit of {limits.max_sheet_columns:,}"
    if rows * columns > limits.max_sheet_cells:
        return f"{rows * columns:,} cells, over the limit of {limits.max_sheet_cells:,}"
    return None


def check_sheet(archive: zipfile.ZipFile, part: str, sheet: str, limits: ReadLimits) -> None:
    """``sheet_too_large`` when the sheet's declared dimension or its actual extent (first to
    last cell) is over a limit. Reads the part's XML in chunks of 1 MiB; builds no cell."""
    extent = _Extent(rows=set(), columns=set())
    declared = None
    carry = b""
    with archive.open(part) as stream:
        while chunk := stream.read(_CHUNK):
            data = carry + chunk
            if declared is None and b"dimension" in data:
                found = _DIMENSION.search(data)
                if found:
                    declared = found.group(1).decode("ascii", "replace")
            # Only whole tags are searched: the text after the last '<' that is not closed yet
            # waits for the next chunk.
            opened, closed = data.rfind(b"<"), data.rfind(b">")
            cut = len(data) if opened < closed else opened
            extent.feed(data[:cut])
            carry = data[cut:]
            if len(carry) > _LONGEST_TAG:
                raise InputTooLarge(
                    "sheet_too_large",
                    f"sheet {sheet!r} holds an XML tag longer than {_LONGEST_TAG:,} bytes",
                    {"sheet": sheet},
                )
        extent.feed(carry)
    for what, size in (
        ("declares", _declared_size(declared) if declared else None),
        ("spans", extent.size()),
    ):
        if size is None:
            continue
        over = _over(size, limits)
        if over:
            raise InputTooLarge(
                "sheet_too_large",
                f"sheet {sheet!r} {what} {size[0]:,} rows x {size[1]:,} columns: {over} "
                "(POVERTY_MAX_SHEET_ROWS, _COLUMNS, _CELLS)",
                {
                    "sheet": sheet,
                    "dimension": declared,
                    "rows": size[0],
                    "columns": size[1],
                    "limits": [
                        limits.max_sheet_rows,
                        limits.max_sheet_columns,
                        limits.max_sheet_cells,
                    ],
                },
            )
