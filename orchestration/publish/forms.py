"""The annual review summary of each province as the workbook offices send upward.

One workbook per province territory and review year in the territory's own units (a pre-2025
province for reviews up to 2024, a 2025 province from review 2025 on): the province by district
up to 2024, by commune from 2025, with the province's total last, from ``review_summary`` of the
published file, so the workbook and the table cannot disagree. Vietnamese headings, counts as
integers with thousands separators, rates with two decimals, the header frozen, the build id in
the sheet's header. Written with xlsxwriter (pinned); the file name replaces the territory's
colon, which Windows forbids in file names: ``pre2025-02_2024.xlsx``.

A workbook is written from its rows, the build id and the build's time (its creation date), so
the same three give the same bytes. Each one's manifest entry keeps ``content_sha256``, the
digest of what it shows besides the build (its rows, territory, year and level, this module's
code and xlsxwriter's version). A workbook whose digest equals the one the live export lists
for the same file, and whose file still has the hash listed, is copied from it with the new
build id and time written in, not written again: in a national publish after a year is added,
273 of the 320 workbooks (``docs/performance.md``). The copy is the workbook a fresh write
gives (``tests/test_publish.py`` compares them byte for byte).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import xlsxwriter

FORMS_DIR_NAME = "forms"
HEADER_ROWS = 5
"""Title, area, build id, a blank line, then the column headings (rows 1-5 of the sheet)."""

COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("area_code", "Mã đơn vị", "text"),
    ("area_name_vi", "Tên đơn vị", "text"),
    ("total_households", "Tổng số hộ dân cư", "count"),
    ("poor_start", "Hộ nghèo đầu kỳ", "count"),
    ("poor_exited", "Số hộ thoát nghèo", "count"),
    ("poor_not_reassessed", "Hộ nghèo không được rà soát lại", "count"),
    ("poor_moved_out", "Hộ nghèo chuyển đi", "count"),
    ("poor_moved_in", "Hộ nghèo chuyển đến", "count"),
    ("poor_newly", "Hộ nghèo phát sinh mới", "count"),
    ("poor_returned", "Hộ tái nghèo", "count"),
    ("poor_end", "Hộ nghèo cuối kỳ", "count"),
    ("poverty_rate_end", "Tỷ lệ hộ nghèo cuối kỳ (%)", "rate"),
    ("poor_end_ethnic_minority", "Trong đó: hộ nghèo dân tộc thiểu số", "count"),
    ("poor_end_meritorious_family", "Trong đó: hộ nghèo có công với cách mạng", "count"),
    ("poor_people_end", "Số nhân khẩu hộ nghèo", "count"),
    ("near_poor_start", "Hộ cận nghèo đầu kỳ", "count"),
    ("near_poor_exited", "Số hộ thoát cận nghèo", "count"),
    ("near_poor_to_poor", "Hộ cận nghèo chuyển thành hộ nghèo", "count"),
    ("near_poor_from_poor", "Hộ nghèo chuyển thành hộ cận nghèo", "count"),
    ("near_poor_newly", "Hộ cận nghèo phát sinh mới", "count"),
    ("near_poor_other_change", "Thay đổi khác (không rà soát lại, chuyển đi/đến)", "count"),
    ("near_poor_end", "Hộ cận nghèo cuối kỳ", "count"),
    ("near_poverty_rate_end", "Tỷ lệ hộ cận nghèo cuối kỳ (%)", "rate"),
    ("near_poor_end_ethnic_minority", "Trong đó: hộ cận nghèo dân tộc thiểu số", "count"),
    ("near_poor_end_meritorious_family", "Trong đó: hộ cận nghèo có công với cách mạng", "count"),
    ("near_poor_people_end", "Số nhân khẩu hộ cận nghèo", "count"),
)
"""(review_summary column, Vietnamese heading, format) of each column after the row number."""


def form_file_name(territory: str, review_year: int) -> str:
    return f"{territory.replace(':', '-')}_{review_year}.xlsx"


def _tables(con: duckdb.DuckDBPyConnection, database: str) -> set[str]:
    return {
        name
        for (name,) in con.execute(
            "select table_name from duckdb_tables() where database_name = ?", [database]
        ).fetchall()
    }


def write_forms(
    con: duckdb.DuckDBPyConnection,
    database: str,
    directory: Path,
    build_id: str,
    built_at: datetime,
    previous: tuple[Path, Mapping[str, Any]] | None = None,
) -> list[dict]:
    """Write every province territory's workbook per review year; their manifest entries
    (file relative to the Parquet directory, territory, review_year, rows, content_sha256).
    ``previous`` is the live export directory and its manifest: its unchanged workbooks are
    copied (above)."""
    if not {"review_summary", "territory_year"} <= _tables(con, database):
        return []
    native = con.execute(
        f"""
        select distinct territory, province_code, territory_unit_version, review_year
        from {database}.main.territory_year
        where territory_unit_version = review_unit_version
        order by territory, review_year
        """
    ).fetchall()
    if not native:
        return []
    directory.mkdir(exist_ok=True)
    selected = ", ".join(name for name, _, _ in COLUMNS)
    # One query for every workbook (one per workbook cost 2-3 ms each, 0.7 s for a country),
    # grouped here in the order each sheet lists its rows: the areas, then the total.
    areas: dict[tuple, list] = {}
    for review_year, unit_version, province_code, *row in con.execute(
        f"""
        select review_year, unit_version, province_code, area_level, {selected}
        from {database}.main.review_summary
        where area_level in ('district', 'commune', 'territory')
        order by review_year, unit_version, province_code, area_level = 'territory', area_code
        """
    ).fetchall():
        areas.setdefault((review_year, unit_version, province_code), []).append(tuple(row))
    previous_dir, previous_build, listed = _listed_workbooks(previous)
    entries = []
    for territory, province_code, unit_version, review_year in native:
        level = "district" if unit_version == "pre2025" else "commune"
        rows = [
            row
            for row in areas.get((review_year, unit_version, province_code), ())
            if row[0] == level or (row[0] == "territory" and row[1] == territory)
        ]
        name = form_file_name(territory, review_year)
        file = f"{FORMS_DIR_NAME}/{name}"
        content = _content_digest(territory, review_year, level, rows)
        entry = listed.get(file)
        copied = (
            entry is not None
            and entry.get("content_sha256") == content
            and _copy_with_build(
                previous_dir / file, entry, previous_build, directory / name, build_id, built_at
            )
        )
        if not copied:
            _write_workbook(directory / name, rows, level, review_year, build_id, built_at)
        entries.append(
            {
                "file": file,
                "territory": territory,
                "review_year": review_year,
                "rows": len(rows),
                "content_sha256": content,
            }
        )
    return entries


# What a workbook shows besides its rows and build: this module's code and xlsxwriter's version.
_LAYOUT = hashlib.sha256(Path(__file__).read_bytes() + xlsxwriter.__version__.encode()).hexdigest()
# Where a workbook holds its build id: the sheet's third line (a shared string) and the file's
# comments; and its creation time.
BUILD_LINE = "Mã bản dựng (build id): {}. Đơn vị tính: hộ, người; tỷ lệ: %."
BUILD_COMMENT = "build {}"
_BUILD_PARTS = {
    "xl/sharedStrings.xml": "<t>" + BUILD_LINE + "</t>",
    "docProps/core.xml": "<dc:description>" + BUILD_COMMENT + "</dc:description>",
}
_CREATED = re.compile(rb"(<dcterms:(?:created|modified) [^>]*>)[^<]*")


def _content_digest(territory: str, review_year: int, level: str, rows: list) -> str:
    """The digest of what a workbook shows besides its build id and time."""
    shown = json.dumps([_LAYOUT, territory, review_year, level, rows], default=str)
    return hashlib.sha256(shown.encode("utf-8")).hexdigest()


def _listed_workbooks(
    previous: tuple[Path, Mapping[str, Any]] | None,
) -> tuple[Path, str, dict[str, Mapping[str, Any]]]:
    """The live export's directory, the build id written in its workbooks, and its manifest's
    entry of each workbook (none when the manifest does not read as one of this module's)."""
    if previous is None:
        return Path(), "", {}
    directory, manifest = previous
    try:
        return directory, str(manifest["build_id"]), {e["file"]: e for e in manifest["forms"]}
    except (KeyError, TypeError):
        return directory, "", {}


def _copy_with_build(
    source: Path,
    listed: Mapping[str, Any],
    source_build: str,
    target: Path,
    build_id: str,
    built_at: datetime,
) -> bool:
    """``source`` written again as ``target`` with ``build_id`` and ``built_at`` in place of its
    own, each part stored as xlsxwriter stores it; False (nothing written) if ``source`` is gone,
    no longer has the hash its manifest entry ``listed`` gives, or holds its build id other than
    where a workbook of this module does."""
    try:
        packed = source.read_bytes()
    except OSError:
        return False
    if hashlib.sha256(packed).hexdigest() != listed.get("sha256"):
        return False
    created = _created(built_at).strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    with zipfile.ZipFile(io.BytesIO(packed)) as archive:
        parts = [(info.filename, archive.read(info)) for info in archive.infolist()]
    rewritten = []
    for name, data in parts:
        if name in _BUILD_PARTS:
            text = _BUILD_PARTS[name]
            was, now = text.format(source_build).encode(), text.format(build_id).encode()
            if data.count(was) != 1:
                return False
            data = _CREATED.sub(lambda found: found.group(1) + created, data.replace(was, now))
        rewritten.append((name, data))
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=False) as copy:
        for name, data in rewritten:
            info = zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            copy.writestr(info, data)
    return True


def _created(built_at: datetime) -> datetime:
    """The workbook's creation time: the build's, in UTC, as xlsxwriter writes it."""
    return built_at.astimezone(UTC).replace(tzinfo=None)


def _write_workbook(
    path: Path, rows: list, level: str, review_year: int, build_id: str, built_at: datetime
) -> None:
    total = next((r for r in rows if r[0] == "territory"), None)
    parts = [r for r in rows if r[0] != "territory"]
    area_name = total[2] if total else ""
    by = "huyện" if level == "district" else "xã"
    # In memory: xlsxwriter's temporary files cost more to remove than the workbook to write.
    workbook = xlsxwriter.Workbook(str(path), {"nan_inf_to_errors": True, "in_memory": True})
    try:
        workbook.set_properties(
            {
                "title": f"Tổng hợp kết quả rà soát hộ nghèo, hộ cận nghèo năm {review_year}",
                "subject": area_name,
                "comments": BUILD_COMMENT.format(build_id),
                "created": _created(built_at),
            }
        )
        title = workbook.add_format({"bold": True, "font_size": 14})
        heading = workbook.add_format(
            {"bold": True, "text_wrap": True, "valign": "top", "border": 1, "bg_color": "#DDEBF7"}
        )
        formats = {
            "text": workbook.add_format({"border": 1}),
            "count": workbook.add_format({"num_format": "#,##0", "border": 1}),
            "rate": workbook.add_format({"num_format": "0.00", "border": 1}),
        }
        bold = {
            kind: workbook.add_format({**spec, "bold": True})
            for kind, spec in {
                "text": {"border": 1},
                "count": {"num_format": "#,##0", "border": 1},
                "rate": {"num_format": "0.00", "border": 1},
            }.items()
        }
        sheet = workbook.add_worksheet(f"Theo {by}")
        sheet.write(
            0, 0, f"TỔNG HỢP KẾT QUẢ RÀ SOÁT HỘ NGHÈO, HỘ CẬN NGHÈO NĂM {review_year}", title
        )
        sheet.write(1, 0, f"{area_name}, theo đơn vị cấp {by}")
        sheet.write(2, 0, BUILD_LINE.format(build_id))
        sheet.write(HEADER_ROWS - 1, 0, "STT", heading)
        for column, (_, text, _) in enumerate(COLUMNS, start=1):
            sheet.write(HEADER_ROWS - 1, column, text, heading)
        sheet.set_row(HEADER_ROWS - 1, 60)
        sheet.set_column(0, 0, 5)
        sheet.set_column(1, 1, 10)
        sheet.set_column(2, 2, 28)
        sheet.set_column(3, len(COLUMNS), 13)
        for number, row in enumerate(parts, start=1):
            _write_row(sheet, HEADER_ROWS + number - 1, number, row[1:], formats)
        if total is not None:
            at = HEADER_ROWS + len(parts)
            _write_row(sheet, at, "", ("", "Toàn tỉnh", *total[3:]), bold)
        sheet.freeze_panes(HEADER_ROWS, 3)
    finally:
        workbook.close()


def _write_row(sheet, at: int, number, values, formats: dict) -> None:
    sheet.write(at, 0, number, formats["text"])
    for column, ((_, _, kind), value) in enumerate(zip(COLUMNS, values, strict=True), start=1):
        if value is None or value == "":
            sheet.write_blank(at, column, None, formats[kind])
        elif kind == "text":
            sheet.write_string(at, column, str(value), formats[kind])
        else:  # the typed call: write() would test each value's type again
            sheet.write_number(at, column, value, formats[kind])
