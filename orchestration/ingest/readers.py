"""Reading the export files into a staging table, strictly.

**CSV: one physical line is one record.** CSV files sharing a header line are first read by
DuckDB's parallel multi-file ``read_csv`` (``stage_csv_fast``), strictly: short and long rows and
unreadable lines are rejected, not padded or skipped. ``read_csv`` still lets a quoted cell run
over several lines and skips empty lines, so a file stands only when nothing was rejected and
its records plus its header equal its lines as counted from the bytes (``layout.scan_file``):
then each record is exactly one line. Every other file (and every file with a control
character, which ``read_csv`` would cut at a NUL) is read line by line (``stage_csv_lines``):
DuckDB reads it whole (``read_text``), splits it into numbered physical lines, and splits each
line into cells in SQL: a line without a quote at its commas; a line with quotes must match one
RE2 pattern of a record whose quoted cells close on the same line, and is then split by a second
pattern. A line that does not match is ``malformed_quoting`` on its own: it never merges with
the lines after it. A line with fewer cells than the header is ``missing_fields`` (a missing
cell is never read as "not deprived"), with more ``unexpected_extra_fields``; a NUL or another
control character (tab excepted) is ``control_characters``, and the cell is kept whole. Empty
lines, and lines of empty cells, are blank. So every line is a title line (the header), a blank
line or a row read, and their sum must equal the count of lines made from the bytes.

**XLSX** workbooks are read by ``xlsx.py`` into the same staging table.

Whole-file problems raise ``WholeFileProblem``: ``not_utf8`` (naming the line), a header matched
twice (``duplicate_column``), a missing required column, an unreadable workbook.

Two passes share this code (``StageSpec``): the **typed** pass types every cell while the file is
read (``rules.typed_columns``); the **text** pass re-reads only files with quarantined rows and
keeps each line's cells as a list, for the masked raw record (``rules.raw_records_sql``).
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from orchestration.base.headers import (
    HeaderMatch,
    canonical_columns,
    match_headers,
)
from orchestration.base.pii import hmac_sql
from orchestration.base.warehouse_connection import insert_rows
from orchestration.ingest.layout import FileScan
from orchestration.ingest.limits import ReadLimits
from orchestration.ingest.registry import dataset as dataset_entry
from orchestration.ingest.rules import _CELL, _sql_text, typed_columns


class WholeFileProblem(Exception):
    """A file none of whose rows can be loaded; ``reason`` is its quarantine reason code."""

    def __init__(self, reason: str, message: str, detail: dict[str, object] | None = None):
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.detail = detail or {}


@dataclass
class FileReport:
    """What happened to one file in one ingest run (mirrors its ``audit.source_files`` row)."""

    file_name: str
    sha256: str | None
    size_bytes: int | None
    status: str = "loaded"
    status_reason: str | None = None
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    lines: int = 0
    title_lines: int = 0
    blank_lines: int = 0


@dataclass
class FileState:
    index: int
    path: Path
    report: FileReport
    not_utf8_line: int | None = None
    has_control_characters: bool = False
    match: HeaderMatch | None = None
    problem: WholeFileProblem | None = None
    sheet: str | None = None
    hidden_sheets: tuple[str, ...] = ()
    scan: FileScan | None = None


CELLS_FIRST_BYTES = 8_000_000
"""A typed pass over a year whose files hold at most this many bytes writes the cells first
(``StageSpec.cells_first``). Writing the cells costs about 12 ms per MB of files (a clean
province year of 33 MB, one header: 0.4 s more), planning the typing about 0.1 s per group a
year has (the tiny sample's year of 0.4 MB: eight): so only small years, which are most of
what the tests and a district's exports hold, write them first (``docs/performance.md``)."""


@dataclass(frozen=True)
class StageSpec:
    """What a staging pass writes: typed values (every file) or each line's cells (text).

    With ``cells_first`` (a typed pass over a small year), the readers write each file's cells,
    the row's hash and its line verdicts to ``_cell_stage`` with plain expressions, and
    ``type_staged_cells`` types the whole year in one statement: DuckDB plans the typing
    expressions (about 0.1 s a statement, whatever the rows) once a year instead of once a
    header group, workbook or line-read group. A large year types its cells as they are read,
    rather than writing them twice.
    """

    dataset: str
    review_year: int
    typed: bool
    limits: ReadLimits = ReadLimits()
    cells_first: bool = False

    @property
    def stage(self) -> str:
        return "_stage" if self.typed else "_text_stage"

    @property
    def written(self) -> str:
        """The table the readers insert into."""
        return "_cell_stage" if self.cells_first else self.stage

    @property
    def rows(self) -> str:
        return "_rows" if self.typed else "_text_rows"

    @property
    def numbered(self) -> str:
        return "_numbered" if self.typed else "_text_numbered"

    @property
    def ranges(self) -> str:
        return "_file_ranges" if self.typed else "_text_file_ranges"

    def columns(self) -> list[tuple[str, str]]:
        if self.typed:
            return [(name, kind) for name, kind, _ in typed_columns(self.dataset, self.review_year)]
        return [("head_id_hash", "VARCHAR"), ("_cells", "VARCHAR[]")]


def create_stage(con: duckdb.DuckDBPyConnection, spec: StageSpec) -> None:
    """The stage holds every line read with its number; the rows view is its non-blank lines.

    Rows staged by the fast multi-file ``read_csv`` scan carry their file's path instead of an
    index and a line number: with ``preserve_insertion_order`` (DuckDB's default) their records
    land in file order, and the line accounting has proven that each record is one line, so a
    row's line is its ``rowid`` minus its file's first ``rowid``, plus 2 (the header is line 1).
    Numbering rows with ``row_number() over ()`` instead forces the whole staging pipeline onto
    one thread.
    """
    columns = ", ".join(f"{name} {kind}" for name, kind in spec.columns())
    # With the cells first, a row's rowid is its cell row's: the typing statement carries it.
    rowid = "_rowid" if spec.cells_first else "rowid"
    carried = ", _rowid" if spec.cells_first else ""
    con.execute(
        f"""
        create or replace temp table {spec.stage} (
            _file_index INTEGER, source_sheet VARCHAR, source_row INTEGER, {columns},
            _blank BOOLEAN, _source_path VARCHAR{", _rowid BIGINT" if spec.cells_first else ""}
        )
        """
    )
    if spec.cells_first:
        cells = ", ".join(f"{name} {kind}" for name, kind in _cell_columns(spec.dataset))
        con.execute(
            f"""
            create or replace temp table {spec.written} (
                _file_index INTEGER, source_sheet VARCHAR, source_row INTEGER, {cells},
                _blank BOOLEAN, _source_path VARCHAR
            )
            """
        )
    con.execute(
        f"create or replace temp table {spec.ranges} "
        "(_source_path VARCHAR, file_index INTEGER, first_rowid BIGINT)"
    )
    con.execute(
        f"""
        create or replace temp view {spec.numbered} as
        select s.* exclude (_file_index, source_row, _source_path{carried}),
               coalesce(s._file_index, r.file_index) as _file_index,
               coalesce(s.source_row, s.{rowid} - r.first_rowid + 2)::INTEGER as source_row
        from {spec.stage} s left join {spec.ranges} r on r._source_path = s._source_path
        """
    )
    con.execute(
        f"create or replace temp view {spec.rows} as "
        f"select * exclude (_blank) from {spec.numbered} where not _blank"
    )


# A cell of a CSV record: quoted (quotes doubled inside, closed on the line) or unquoted (no
# quote, no comma). A record is cells separated by commas.
_CELL_RE = r'"(?:[^"]|"")*"|(?:[^,"][^,]*)?'
_RECORD_RE = f"(?:{_CELL_RE})(?:,(?:{_CELL_RE}))*"
# The common quoted record (spreadsheets and DuckDB quote empty cells as ""): quoted cells hold no
# comma and no quote, unquoted cells no quote, so dropping every quote and splitting at the commas
# gives its cells; RE2's extract-all is ten times slower.
_PLAIN_CELL_RE = r'"[^",]*"|[^,"]*'
_PLAIN_RECORD_RE = f"(?:{_PLAIN_CELL_RE})(?:,(?:{_PLAIN_CELL_RE}))*"
# Control characters other than the tab (a CR ending the line is removed before the test).
_CONTROL_RE = r"[\x{0}-\x{8}\x{a}-\x{1f}\x{7f}]"
# A line that holds something other than spaces, commas and quotes is not blank.
_VISIBLE_RE = r'[^\s,"\x{a0}\x{feff}]'


# First characters of a cell that ``_VISIBLE_RE`` may not count as visible (0: an empty cell).
_MAYBE_INVISIBLE_FIRST = "(0, 9, 10, 12, 13, 32, 34, 44, 160, 65279)"


def blank_line(cells: list[str]) -> str:
    """TRUE when no cell of a record holds a visible character (``_VISIBLE_RE``).

    The first cell is tested alone first: concatenating every cell of every row cost more than
    the rest of the staging expressions, and RE2 stops at the first visible character. Before
    RE2, a first cell whose first character is visible (nearly every row) settles the question
    with one integer comparison.
    """
    if not cells:
        return "true"
    return (
        f"case when ascii({cells[0]}) not in {_MAYBE_INVISIBLE_FIRST} then false "
        f"when regexp_matches({cells[0]}, '{_VISIBLE_RE}') then false "
        f"else not regexp_matches(concat({', '.join(cells)}), '{_VISIBLE_RE}') end"
    )


def _too_long(cells: list[str], limit: int) -> str:
    """``'cell_too_long'`` when one of ``cells`` holds more than ``limit`` characters.

    ``strlen`` (bytes, stored with the string) rules out almost every row at no cost; the
    characters are counted only in a row with a cell of more than ``limit`` bytes.
    """
    if not cells:
        return "NULL::VARCHAR"
    longest_bytes = f"greatest({', '.join(f'strlen({c})' for c in cells)})"
    longest = f"greatest({', '.join(f'length({c})' for c in cells)})"
    return f"case when {longest_bytes} > {limit} and {longest} > {limit} then 'cell_too_long' end"


def _stage_columns(dataset: str) -> list[str]:
    """Canonical columns a typed expression may read, the id number as its hash."""
    names = [c for c in canonical_columns(dataset) if c not in ("head_name", "head_id_number")]
    if dataset == "survey":
        names.append("head_id_hash")
    return names


def _cell_columns(dataset: str) -> list[tuple[str, str]]:
    """(name, type) of ``_cell_stage``: what a typed expression reads as ``@name``."""
    names = _stage_columns(dataset)
    return [
        ("_line_problem", "VARCHAR"),
        ("_has_extra_fields", "BOOLEAN"),
        *((name, "VARCHAR") for name in names),
        *((f"{name}__present", "BOOLEAN") for name in names if name != "head_id_hash"),
    ]


def type_staged_cells(con: duckdb.DuckDBPyConnection, spec: StageSpec) -> None:
    """Type every row of ``_cell_stage`` into the stage, in one statement (``cells_first``)."""
    if not spec.cells_first:
        return
    expressions = [
        _CELL.sub(lambda m: m.group(1), expression)
        for _, _, expression in typed_columns(spec.dataset, spec.review_year)
    ]
    con.execute(
        f"""
        insert into {spec.stage}
        select _file_index, source_sheet, source_row, {", ".join(expressions)}, _blank,
               _source_path, rowid
        from {spec.written}
        """
    )
    con.execute(f"drop table {spec.written}")


def _select(
    spec: StageSpec,
    match: HeaderMatch,
    cell: Callable[[int], str],
    width: int,
    line_problem: str = "_line_problem",
) -> list[str]:
    """The written table's value expressions over a source whose 0-based cell ``i`` is
    ``cell(i)``: the stage's typed values, or with ``cells_first`` the cells they are typed
    from (``_cell_columns``)."""
    if not spec.typed:
        position = match.positions.get("head_id_number")
        hashed = "NULL" if position is None else hmac_sql(f"_clean({cell(position)})")
        return [hashed, "_cells"]
    cells: dict[str, str] = {"_line_problem": line_problem}
    for name in _stage_columns(spec.dataset):
        if name == "head_id_hash":
            position = match.positions.get("head_id_number")
            cells[name] = "NULL" if position is None else hmac_sql(f"_clean({cell(position)})")
        else:
            position = match.positions.get(name)
            cells[name] = "NULL::VARCHAR" if position is None else cell(position)
            # Whether the file has the column at all: an optional mark it lacks is unknown.
            cells[f"{name}__present"] = "false" if position is None else "true"
    # A non-empty cell under an empty header cell flags the row: dropping it would lose data.
    unheaded = [p for p in range(width) if not match.originals[p]]
    cells["_has_extra_fields"] = (
        "(" + (" or ".join(f"_clean({cell(p)}) is not null" for p in unheaded) or "false") + ")"
    )
    if spec.cells_first:
        return [cells[name] for name, _ in _cell_columns(spec.dataset)]
    return [
        _CELL.sub(lambda m: cells[m.group(1)], expression)
        for _, _, expression in typed_columns(spec.dataset, spec.review_year)
    ]


def _params_used(expressions: list[str], hmac: dict[str, bytes]) -> dict[str, bytes] | None:
    """The HMAC pads when the id column is hashed (DuckDB rejects unused named parameters)."""
    return hmac if any("$hmac_inner" in expression for expression in expressions) else None


_LONGEST_HEADER = 1 << 20


def read_csv_header(path: Path) -> list[str]:
    """The cells of the first line (``[]`` for an empty file or an empty first line).

    At most 1 MiB is read: a longer first line, or one the csv module refuses (a cell over its
    field limit), raises ``WholeFileProblem`` (``cell_too_long``) instead of loading it all.
    """
    with path.open("r", encoding="utf-8-sig", newline="", errors="replace") as handle:
        line = handle.readline(_LONGEST_HEADER)
        longer = len(line) == _LONGEST_HEADER and not line.endswith("\n")
    if not longer and not line.strip():
        return []
    try:
        if longer:
            raise csv.Error("line too long")
        return next(csv.reader([line]))
    except csv.Error as error:
        raise WholeFileProblem(
            "cell_too_long",
            f"the header line is longer than {_LONGEST_HEADER:,} characters or holds a cell the "
            f"CSV reader refuses ({error})",
        ) from None


def stage_csv_fast(
    con: duckdb.DuckDBPyConnection,
    group: list[FileState],
    header: list[str],
    spec: StageSpec,
    hmac: dict[str, bytes],
) -> list[FileState]:
    """Stage CSV files sharing one header line with DuckDB's parallel multi-file ``read_csv``,
    and return the files it did not read exactly; their rows are taken out of the stage again,
    for ``stage_csv_lines``.

    Exports usually come as one file per commune or district: hundreds of small files a year,
    and one statement per file cost more than reading the rows. ``read_csv`` is strict here (no
    padding of short rows, rejected lines stored, not skipped silently), but it lets a quoted
    cell run over several lines and skips empty lines. So a file stands only when no line was
    rejected and its records plus its header equal its lines counted from the bytes: then every
    record is exactly one line. Files with control characters never come here (``read_csv``
    cuts a cell at a NUL).
    """
    match = match_headers(header, spec.dataset)
    width = len(header)
    # Files with control characters never come here; field counts and quoting are checked by
    # the reader and the line accounting. Every typed expression reads a cell through _clean or
    # _trimmed, which already turn an empty cell into NULL.
    too_long = _too_long([f"c{p}" for p in range(width)], spec.limits.max_cell_chars)
    expressions = _select(spec, match, lambda p: f"c{p}", width, too_long)
    columns = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(width)) + "}"
    paths = "[" + ", ".join(_sql_text(str(state.path)) for state in group) + "]"
    blank = blank_line([f"c{i}" for i in range(width)])
    source = (
        f"read_csv({paths}, header = true, columns = {columns}, delim = ',', quote = '\"', "
        "escape = '\"', null_padding = false, strict_mode = true, auto_detect = false, "
        "filename = true, store_rejects = true, rejects_table = '_rejects', "
        "rejects_scan = '_reject_scans')"
    )
    try:
        con.execute(
            f"""
            insert into {spec.written}
            select NULL, NULL, NULL, {", ".join(expressions)}, {blank}, filename
            from {source}
            """,
            _params_used(expressions, hmac),
        )
        rejected = _rejected_lines(con)
    except duckdb.Error:
        # A file the reader refuses outright fails the whole statement: read them line by line.
        con.execute(
            f"delete from {spec.written} where _source_path in (select unnest({paths}::VARCHAR[]))"
        )
        return group
    finally:
        con.execute("drop table if exists temp._rejects")
        con.execute("drop table if exists temp._reject_scans")
    # One pass gives each file's records and first rowid (its rows are numbered from it).
    stats = {
        path: (count, first_rowid)
        for path, count, first_rowid in con.execute(
            f"""
            select _source_path, count(*), min(rowid) from {spec.written}
            where _source_path in (select unnest({paths}::VARCHAR[])) group by all
            """
        ).fetchall()
    }
    failed = [
        s
        for s in group
        if rejected.get(str(s.path)) or stats.get(str(s.path), (0, None))[0] + 1 != s.report.lines
    ]
    if failed:
        failed_paths = "[" + ", ".join(_sql_text(str(s.path)) for s in failed) + "]"
        con.execute(
            f"delete from {spec.written} where _source_path in "
            f"(select unnest({failed_paths}::VARCHAR[]))"
        )
    stood = [s for s in group if s not in failed]
    if stood:
        insert_rows(
            con,
            spec.ranges,
            [(str(s.path), s.index, stats.get(str(s.path), (0, None))[1]) for s in stood],
        )
    for state in stood:
        state.match = match
    return failed


def _rejected_lines(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Lines ``read_csv`` rejected in the statement just run, per file (DuckDB creates the
    rejects tables only when it needs them)."""
    try:
        return dict(
            con.execute(
                """
                select s.file_path, count(*) from _rejects e
                join _reject_scans s using (scan_id, file_id) group by all
                """
            ).fetchall()
        )
    except duckdb.CatalogException:
        return {}


def stage_csv_lines(
    con: duckdb.DuckDBPyConnection,
    group: list[FileState],
    header: list[str],
    spec: StageSpec,
    hmac: dict[str, bytes],
) -> list[FileState]:
    """Stage CSV files that share one header line, one physical line at a time (see the module
    docstring): exact for every file, and the only reader of files with control characters or
    with lines that ``stage_csv_fast`` could not read as one record each.

    Returns the files that are not UTF-8 (staged: none of their lines). UTF-8 is checked by
    DuckDB while it reads; only a file it refuses is decoded again in Python, to name the line.
    """
    try:
        _stage_lines(con, group, header, spec, hmac)
        return []
    except duckdb.InvalidInputException:
        if len(group) > 1:
            return [
                state for one in group for state in stage_csv_lines(con, [one], header, spec, hmac)
            ]
        bad_line = first_non_utf8_line(group[0].path)
        if bad_line is None:
            raise
        group[0].not_utf8_line = bad_line
        return group


def first_non_utf8_line(path: Path) -> int | None:
    """The 1-based number of the first line that is not UTF-8, or None."""
    data = path.read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        return data.count(b"\n", 0, error.start) + 1
    return None


def _stage_lines(
    con: duckdb.DuckDBPyConnection,
    group: list[FileState],
    header: list[str],
    spec: StageSpec,
    hmac: dict[str, bytes],
) -> None:
    match = match_headers(header, spec.dataset)
    width = len(header)
    con.execute("create or replace temp table _paths (path VARCHAR, file_index INTEGER)")
    insert_rows(con, "_paths", [(str(s.path), s.index) for s in group])
    paths = "[" + ", ".join(_sql_text(str(state.path)) for state in group) + "]"
    # The typed pass reads no cell of a malformed line (an empty list); the text pass splits it
    # at its commas, so its raw record can still be masked cell by cell.
    malformed = "[]::VARCHAR[]" if spec.typed else "string_split(text, ',')"
    unquote = (
        "lambda x: case when starts_with(x, '\"') then replace(x[2:-2], '\"\"', '\"') else x end"
    )
    expressions = _select(spec, match, lambda p: f"c{p}", width)
    as_columns = "".join(f", nullif(_cells[{p + 1}], '') as c{p}" for p in range(width))
    limit = spec.limits.max_cell_chars
    con.execute(
        f"""
        insert into {spec.written}
        with files as (
            select filename, string_split(content, chr(10)) as lines from read_text({paths})
        ),
        numbered as (
            select filename, len(lines) as line_count, generate_subscripts(lines, 1) as line_no,
                   unnest(lines) as line
            from files
        ),
        texts as (
            select p.file_index, n.line_no,
                   case when ends_with(n.line, chr(13)) then n.line[:-2] else n.line end as text
            from numbered n join _paths p on p.path = n.filename
            -- Line 1 is the header; the empty string after a final newline is no line.
            where n.line_no > 1 and not (n.line_no = n.line_count and n.line = '')
        ),
        checked as (
            select *, not contains(text, '"') or regexp_full_match(text, '{_RECORD_RE}')
                      as quoting_ok
            from texts
        ),
        split as (
            select *,
                case when not contains(text, '"') then string_split(text, ',')
                     when regexp_full_match(text, '{_PLAIN_RECORD_RE}')
                     then string_split(replace(text, '"', ''), ',')
                     when quoting_ok then list_transform(
                         regexp_extract_all(text || ',', '({_CELL_RE}),', 1), {unquote})
                     else {malformed} end as _cells,
                not regexp_matches(text, '{_VISIBLE_RE}') as _blank
            from checked
        ),
        judged as (
            select *,
                case when _blank then NULL else concat_ws(',',
                    case when not quoting_ok then 'malformed_quoting'
                         when len(_cells) < {width} then 'missing_fields'
                         when len(_cells) > {width} then 'unexpected_extra_fields' end,
                    case when regexp_matches(text, '{_CONTROL_RE}')
                         then 'control_characters' end,
                    case when strlen(text) > {limit} and list_max(list_transform(_cells,
                             lambda x: length(x))) > {limit}
                         then 'cell_too_long' end) end as _line_problem
            from split
        ),
        cells as (select *{as_columns} from judged)
        select file_index, NULL, line_no, {", ".join(expressions)}, _blank, NULL from cells
        """,
        _params_used(expressions, hmac),
    )
    for state in group:
        state.match = match


def check_header(state: FileState, dataset: str, review_year: int) -> None:
    """Whole-file verdicts on the matched header: a column twice, a required column missing."""
    match = state.match
    if match is None:
        return
    if state.path.suffix.lower() == ".csv" and not any(c.strip() for c in match.originals):
        raise WholeFileProblem(
            "empty_file",
            "the file is empty (0 bytes)"
            if not state.report.size_bytes
            else "the first line, where the header belongs, is empty",
        )
    if match.duplicates:
        raise WholeFileProblem(
            "duplicate_column",
            "column(s) appearing twice: " + ", ".join(match.duplicates),
            {"duplicate_columns": list(match.duplicates)},
        )
    missing = match.missing(dataset_entry(dataset).required_columns(review_year))
    if missing:
        raise WholeFileProblem(
            "missing_required_column",
            "missing required column(s): " + ", ".join(missing),
            {"missing_columns": missing},
        )
