"""Reading a workbook into the staging table, strictly (the CSV side is ``readers.py``).

**XLSX:** the first visible sheet with a header row (a row holding ``Mã hộ``); rows above it are
titles; hidden sheets are never read and are named in the file's status reason. A formula cell is
read by its stored result; one without a stored result (calamine then gives an empty cell)
quarantines its row (``formula_without_value``), found in the sheet's XML. A date or time cell in
a code, income or size column quarantines its row (``unexpected_date_cell``).

The first visible sheet with a header row is read with python-calamine, after the archive's
size and the sheet's dimension are checked (``limits``); the cells go to DuckDB as an Arrow table
and are typed or kept as text by the same ``StageSpec`` select as a CSV's.
"""

from __future__ import annotations

import re
import zipfile
from datetime import date, datetime, time, timedelta
from xml.etree import ElementTree

import duckdb
import pyarrow as pa

from orchestration.base.headers import HEADER_ROW_MARKER, match_headers, normalise_header
from orchestration.ingest.limits import InputTooLarge, check_archive, check_sheet
from orchestration.ingest.readers import (
    _CONTROL_RE,
    _VISIBLE_RE,
    FileState,
    StageSpec,
    WholeFileProblem,
    _params_used,
    _select,
    _too_long,
)
from orchestration.ingest.rules import _sql_text


def _cell_text(value: object) -> str:
    """A spreadsheet cell as the text a person sees (``790.0`` → ``790``)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime | date | time | timedelta):
        return value.isoformat() if not isinstance(value, timedelta) else str(value)
    return "" if value is None else str(value)


def _id_cell_text(value: object) -> str:
    """An id number cell: a numeric cell lost its leading zeros, a citizen id has 12 digits."""
    if isinstance(value, float | int) and not isinstance(value, bool):
        text = _cell_text(value)
        return text.zfill(12) if text.isdigit() else text
    return _cell_text(value)


# Columns where a date or time cell is a typing accident (a code or a number turned into a date).
_NUMERIC_COLUMNS = (
    "review_year",
    "province_code",
    "district_code",
    "commune_code",
    "household_code",
    "household_size",
    "income_per_capita",
)


_NS = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}


_REL_NS = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"


_CELL_REF = re.compile(r"([A-Z]+)([0-9]+)")


def _sheet_parts(archive: zipfile.ZipFile) -> dict[str, str]:
    """Sheet name → the archive part holding its XML (``xl/worksheets/sheet1.xml``)."""
    workbook = ElementTree.fromstring(archive.read("xl/workbook.xml"))
    rels = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    targets = {r.get("Id"): r.get("Target", "") for r in rels}
    parts = {}
    for sheet in workbook.findall("m:sheets/m:sheet", _NS):
        target = targets.get(sheet.get(_REL_NS), "").lstrip("/")
        parts[sheet.get("name")] = target if target.startswith("xl/") else f"xl/{target}"
    return parts


def _formulas_without_value(archive: zipfile.ZipFile, part: str) -> set[tuple[int, int]]:
    """(row, column), 0-based, of the sheet's formula cells that hold no stored result."""
    data = archive.read(part)
    if b"<f" not in data:
        return set()
    found = set()
    for cell in ElementTree.fromstring(data).iter(f"{{{_NS['m']}}}c"):
        formula = cell.find("m:f", _NS)
        if formula is None:
            continue
        value = cell.find("m:v", _NS)
        inline = cell.find("m:is", _NS)
        if (value is None or not (value.text or "")) and inline is None:
            letters, digits = _CELL_REF.match(cell.get("r", "")).groups()
            column = 0
            for letter in letters:
                column = column * 26 + ord(letter) - 64
            found.add((int(digits) - 1, column - 1))
    return found


def stage_xlsx(
    con: duckdb.DuckDBPyConnection, state: FileState, spec: StageSpec, hmac: dict[str, bytes]
) -> None:
    """Stage the first visible sheet with a header row, reading only its used cells.

    The archive's uncompressed size and each sheet's dimension are checked before calamine
    reads anything (``limits``): a workbook over a limit is quarantined whole. calamine then
    builds the range from the sheet's first used cell to its last (``start``), not from A1.
    """
    from python_calamine import CalamineWorkbook, SheetVisibleEnum

    try:
        with zipfile.ZipFile(state.path) as archive:
            check_archive(archive, spec.limits)
            parts = _sheet_parts(archive)
            workbook = CalamineWorkbook.from_path(str(state.path))
            chosen = None
            hidden = []
            for index, meta in enumerate(workbook.sheets_metadata):
                if meta.visible != SheetVisibleEnum.Visible:
                    hidden.append(meta.name)
                    continue
                if chosen is not None:
                    continue
                if meta.name in parts:
                    check_sheet(archive, parts[meta.name], meta.name, spec.limits)
                sheet = workbook.get_sheet_by_index(index)
                rows = sheet.to_python(skip_empty_area=True)
                start = sheet.start or (0, 0)
                header_index = next(
                    (
                        i
                        for i, row in enumerate(rows)
                        if any(
                            isinstance(c, str) and normalise_header(c) == HEADER_ROW_MARKER
                            for c in row
                        )
                    ),
                    None,
                )
                if header_index is not None:
                    chosen = (meta.name, rows, header_index, start)
            formulas = _formulas_without_value(archive, parts[chosen[0]]) if chosen else set()
    except InputTooLarge as error:
        raise WholeFileProblem(error.reason, error.message, error.detail) from None
    except Exception as error:  # calamine and zipfile raise their own types for every damage
        raise WholeFileProblem(
            "unreadable_file", f"the workbook could not be read: {error}"
        ) from error
    state.hidden_sheets = tuple(hidden)
    if chosen is None:
        state.match = match_headers([], spec.dataset)
        raise WholeFileProblem(
            "missing_required_column",
            "no header row: no visible sheet has a row holding a 'Mã hộ' cell",
            {"hidden_sheets": hidden},
        )
    sheet_name, rows, header_index, (first_row, first_column) = chosen
    state.sheet = sheet_name
    # Rows above the first used one count as title lines, as rows above the header do.
    state.report.lines = first_row + len(rows)
    state.report.title_lines = first_row + header_index + 1
    header = [_cell_text(c) for c in rows[header_index]]
    match = match_headers(header, spec.dataset)
    state.match = match
    width = len(header)
    data = rows[header_index + 1 :]
    columns = list(zip(*data, strict=True)) if data else [() for _ in range(width)]
    id_position = match.positions.get("head_id_number")
    arrays = {}
    for position in range(width):
        if position == id_position:
            values = [_id_cell_text(v) for v in columns[position]]
        else:
            values = [v if type(v) is str else _cell_text(v) for v in columns[position]]
        arrays[f"c{position}"] = pa.array(values, type=pa.string())
    # Row-local problems only the workbook shows: formulas without a result, dates in numbers.
    dated = [match.positions[n] for n in _NUMERIC_COLUMNS if n in match.positions]
    problems = []
    for offset, row in enumerate(data):
        sheet_row = first_row + header_index + 1 + offset
        found = []
        if formulas and any((sheet_row, first_column + p) in formulas for p in range(width)):
            found.append("formula_without_value")
        if any(isinstance(row[p], datetime | date | time | timedelta) for p in dated):
            found.append("unexpected_date_cell")
        problems.append(",".join(found) or None)
    arrays["_problem"] = pa.array(problems, type=pa.string())
    first_data_row = first_row + header_index + 2
    arrays["_row"] = pa.array(range(first_data_row, first_data_row + len(data)), pa.int32())
    sheet_table = pa.table(arrays)  # noqa: F841 (read by DuckDB's replacement scan)

    cell_list = "list_value(" + ", ".join(f"c{p}" for p in range(width)) + ")"
    everything = "concat(" + ", ".join(f"c{p}" for p in range(width)) + ")" if width else "''"
    expressions = _select(spec, match, lambda p: f"nullif(c{p}, '')", width)
    too_long = _too_long([f"c{p}" for p in range(width)], spec.limits.max_cell_chars)
    con.execute(
        f"""
        insert into {spec.written}
        with cells as (
            select *, {cell_list} as _cells,
                   not regexp_matches({everything}, '{_VISIBLE_RE}') as _blank
            from sheet_table
        ),
        judged as (
            select *, case when _blank then NULL else nullif(concat_ws(',', _problem,
                case when regexp_matches({everything}, '{_CONTROL_RE}')
                     then 'control_characters' end,
                {too_long}), '') end as _line_problem
            from cells
        )
        select {state.index}, {_sql_text(sheet_name)}, _row, {", ".join(expressions)}, _blank,
               NULL
        from judged
        """,
        _params_used(expressions, hmac),
    )
