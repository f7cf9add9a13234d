"""Ingest the review exports of one review year into ``raw.*``, ``audit.quarantine`` and
``audit.source_files`` (tables fixed by ``docs/architecture.md``).

Why it is shaped this way:

- **Fast and typed in SQL.** A CSV is read by DuckDB's own ``read_csv`` with every column as text;
  only its header line is read in Python, to match headers after trimming, case-folding and NFC
  normalisation (``orchestration.lib.headers``). An XLSX sheet is read by python-calamine and
  handed to DuckDB as an Arrow table of strings. Typing, normalisation and validation then run
  as set operations in DuckDB, so a million rows cost seconds, not minutes. Cells are typed
  while the file is read (one parallel pass); the checks that need the reference units or the
  whole year follow over the typed rows, and only files with a quarantined row are read again,
  for those rows' raw text (``_StageSpec``).
- **Nothing lost.** Every non-blank row read is either loaded or quarantined with *every* reason
  that applies, its raw text (original header → cell), file and row number. Per file
  ``rows_read = rows_loaded + rows_quarantined`` (``audit.source_files``).
- **Idempotent.** One transaction deletes the year's rows of the dataset (raw and quarantine)
  and rebuilds them from the files on disk, so re-running a partition yields the same tables, a
  re-sent file replaces its old rows and identical copies are read once.
- **No personal data stored.** The head's name is never read into DuckDB; the id number is
  replaced by ``HMAC-SHA256(key, id)`` while the file is read (``orchestration.lib.pii``).

Decisions where the input contract is silent:

- *Required columns* (a file lacking one is quarantined whole with ``missing_required_column``):
  survey: review_year, province_code, commune_code, household_code, household_size, area_type,
  income_per_capita and the 12 deprivation marks, plus district_code for reviews before 2025.
  Optional: commune_name, village, head_name, head_id_number, head_sex, ethnicity, the three
  household flags (an absent flag column reads as "not flagged", the same as an empty cell) and
  reported_class (NULL when absent). commune_totals: all four columns. difficult_areas:
  review_year, commune_code, extremely_difficult; an absent village count reads as 0 difficult
  villages and an unknown (NULL) total.
- *Whole-file quarantine counting*: when a file is readable but misses a required column, its
  non-blank data rows count as read and quarantined (``rows_read = rows_quarantined``,
  ``rows_loaded = 0``) and a single ``audit.quarantine`` row with ``source_row`` NULL stands for
  them, its raw_record listing the missing columns; the rows themselves stay in the file, whose
  sha256 is recorded. An unreadable file, or a sheet with no ``Mã hộ`` header row, has no
  identifiable data rows: it counts 0 rows read, with the same single quarantine row.
- *Cells without a header* (a CSV line with more fields than the header, or a non-empty cell under
  an empty header cell) quarantine their row with ``unexpected_extra_fields``: the row is probably
  shifted, and dropping the cell silently would lose data. This reason code is an addition to the
  list in ``docs/architecture.md``.
- *District in reviews from 2025*: districts no longer exist, so a non-empty district code is
  ``invalid_district_code`` (it usually means the row is coded in the old units).
- *Province/commune mismatch*: a commune that exists but not in the row's province (or, before
  2025, district) is ``invalid_commune_code``.
- *Income*: ``1.500.000`` (dots grouping thousands) is 1,500,000; any other plain number,
  including a decimal from a spreadsheet formula, is rounded to whole đồng.
- *Spreadsheet id numbers*: a numeric id cell lost its leading zeros, so it is left-padded to 12
  digits before hashing; a text cell is hashed as typed (NFC, trimmed).
- *CSV row numbers*: DuckDB skips empty lines, so their positions are found from the bytes and
  added back. A file with both empty lines and line breaks inside quoted cells gets row numbers
  counted in physical lines after the first empty line (rare; documented rather than paid for).
- *Files gone from disk*: their current ``audit.source_files`` row turns ``replaced`` (status
  reason says so), as their rows leave the rebuilt year.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path

import duckdb
import pyarrow as pa

from orchestration.lib.admin_units import unit_version_for_year
from orchestration.lib.headers import (
    DEPRIVATION_COLUMNS,
    FLAG_COLUMNS,
    HEADER_ROW_MARKER,
    HeaderMatch,
    canonical_columns,
    match_headers,
    normalise_header,
    required_columns,
)
from orchestration.lib.pii import hmac_pads, hmac_sql

DATASETS = ("survey", "commune_totals", "difficult_areas")
RAW_TABLES = {
    "survey": "raw.survey_households",
    "commune_totals": "raw.commune_totals",
    "difficult_areas": "raw.difficult_areas",
}
SPARE_CSV_COLUMNS = 8
"""Extra columns declared beyond the header so that a line with too many fields is read, not
rejected; their content quarantines the row (``unexpected_extra_fields``)."""

_CHUNK = 8 << 20
_YEAR_NAME = re.compile(r"^\d{4}$")
_BLANK_LINE = re.compile(rb"\n(?=[ \t]*\r?\n)")

_LINEAGE_DDL = """
    source_file VARCHAR, source_sheet VARCHAR, source_row INTEGER, source_sha256 VARCHAR,
    run_id VARCHAR, loaded_at TIMESTAMP
"""
_DDL = [
    "create schema if not exists raw",
    "create schema if not exists audit",
    f"""
    create table if not exists raw.survey_households (
        review_year INTEGER, unit_version VARCHAR, province_code VARCHAR, district_code VARCHAR,
        commune_code VARCHAR, commune_name VARCHAR, village VARCHAR, household_code VARCHAR,
        head_id_hash VARCHAR, head_sex VARCHAR, ethnicity VARCHAR, household_size INTEGER,
        area_type VARCHAR, income_per_capita BIGINT,
        {", ".join(f"{name} BOOLEAN" for name in DEPRIVATION_COLUMNS)},
        is_meritorious_family BOOLEAN, is_social_protection BOOLEAN,
        is_no_labour_capacity BOOLEAN, reported_class VARCHAR,
        {_LINEAGE_DDL}
    )
    """,
    f"""
    create table if not exists raw.commune_totals (
        review_year INTEGER, unit_version VARCHAR, commune_code VARCHAR,
        total_households BIGINT, total_population BIGINT,
        {_LINEAGE_DDL}
    )
    """,
    f"""
    create table if not exists raw.difficult_areas (
        review_year INTEGER, unit_version VARCHAR, commune_code VARCHAR,
        is_extremely_difficult BOOLEAN, difficult_villages INTEGER, total_villages INTEGER,
        {_LINEAGE_DDL}
    )
    """,
    """
    create table if not exists audit.quarantine (
        review_year INTEGER, dataset VARCHAR, source_file VARCHAR, source_sheet VARCHAR,
        source_row INTEGER, reasons VARCHAR[], raw_record JSON, source_sha256 VARCHAR,
        run_id VARCHAR, quarantined_at TIMESTAMP
    )
    """,
    """
    create table if not exists audit.source_files (
        review_year INTEGER, dataset VARCHAR, file_name VARCHAR, sha256 VARCHAR,
        size_bytes BIGINT, rows_read BIGINT, rows_loaded BIGINT, rows_quarantined BIGINT,
        status VARCHAR, status_reason VARCHAR, run_id VARCHAR, first_seen_at TIMESTAMP,
        last_seen_at TIMESTAMP
    )
    """,
]

# Whitespace a spreadsheet leaves around values, including the no-break space.
_WHITESPACE = "' \t\r\n' || chr(160) || chr(65279)"
# Text made only of these characters is already NFC, so nfc_normalize (utf8proc, ~3x the cost of
# this RE2 test) can be skipped: they are all starters (combining class 0) that never compose
# with a neighbour and are their own NFC, checked for every character and every pair of them
# against DuckDB's nfc_normalize. U+0000 is left out (DuckDB's NFC treats it specially). The
# range covers ASCII, Latin-1, Latin Extended-A/B and Latin Extended Additional, i.e. all of
# precomposed Vietnamese; anything else (decomposed accents included) is normalised as before.
_NFC_STABLE = r"'[\x{1}-\x{2ff}\x{1e00}-\x{1eff}]*'"
# Text that is NFC-stable (as above) and starts and ends with a visible character (not a control,
# a space or the no-break space) is already clean: trimming it changes nothing. One RE2 test
# recognises it; trimming a custom character set costs 3-4x that on every cell.
_STABLE_VISIBLE = r"[\x{21}-\x{9f}\x{a1}-\x{2ff}\x{1e00}-\x{1eff}]"
_ALREADY_CLEAN = (
    f"'{_STABLE_VISIBLE}([\\x{{1}}-\\x{{2ff}}\\x{{1e00}}-\\x{{1eff}}]*{_STABLE_VISIBLE})?'"
)
_MACROS = [
    # Free text: NFC and every kind of surrounding whitespace removed.
    f"""create or replace temp macro _clean(x) as
        case when regexp_full_match(x, {_ALREADY_CLEAN}) then x else nullif(trim(
            case when regexp_full_match(x, {_NFC_STABLE}) then x else nfc_normalize(x) end,
            {_WHITESPACE}), '') end""",
    # Codes, numbers and marks: only spaces are trimmed, as NFC and the wider trim cost 5x more
    # on a million rows; a code padded with a tab or a no-break space is quarantined, visibly.
    "create or replace temp macro _trimmed(x) as nullif(trim(x), '')",
    # A code of up to n digits, left-padded (spreadsheets drop leading zeros); NULL if not digits.
    """create or replace temp macro _code(x, n) as
        case when regexp_full_match(x, '[0-9]{1,' || n || '}') then lpad(x, n, '0') end""",
    # A whole number, possibly with dots grouping thousands (1.500.000).
    """create or replace temp macro _count(x) as
        case when regexp_full_match(x, '[0-9]{1,3}(\\.[0-9]{3})+')
             then try_cast(replace(x, '.', '') as BIGINT)
             when regexp_full_match(x, '[0-9]{1,18}') then x::BIGINT end""",
    # An amount: as _count, or any other plain decimal number rounded to a whole đồng.
    """create or replace temp macro _amount(x) as
        case when regexp_full_match(x, '[0-9]{1,3}(\\.[0-9]{3})+')
             then try_cast(replace(x, '.', '') as BIGINT)
             when regexp_full_match(x, '[0-9]{1,18}(\\.[0-9]+)?')
             then try_cast(round(x::DOUBLE) as BIGINT) end""",
    # TRUE/FALSE for an accepted mark, NULL for anything else (an empty cell is FALSE).
    """create or replace temp macro _mark(x) as
        case when x is null or x = '0' then false when x in ('x', 'X', '1') then true end""",
]


@dataclass
class FileReport:
    """What happened to one file in one ingest run (mirrors its ``audit.source_files`` row)."""

    file_name: str
    sha256: str
    size_bytes: int
    status: str = "loaded"
    status_reason: str | None = None
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0


@dataclass
class IngestReport:
    dataset: str
    review_year: int
    files: list[FileReport] = field(default_factory=list)

    @property
    def rows_read(self) -> int:
        return sum(report.rows_read for report in self.files)

    @property
    def rows_loaded(self) -> int:
        return sum(report.rows_loaded for report in self.files)

    @property
    def rows_quarantined(self) -> int:
        return sum(report.rows_quarantined for report in self.files)


def ensure_schemas(con: duckdb.DuckDBPyConnection) -> None:
    """Create the raw and audit schemas and tables if missing (never alters existing ones)."""
    for statement in _DDL:
        con.execute(statement)


def list_review_years(raw_dir: Path) -> list[int]:
    """Every review year with at least one file or folder in the raw layout."""
    raw_dir = Path(raw_dir)
    years: set[int] = set()
    survey = raw_dir / "survey"
    if survey.is_dir():
        years.update(
            int(p.name) for p in survey.iterdir() if p.is_dir() and _YEAR_NAME.match(p.name)
        )
    for dataset in ("commune_totals", "difficult_areas"):
        folder = raw_dir / dataset
        if folder.is_dir():
            years.update(
                int(p.stem)
                for p in folder.iterdir()
                if p.is_file() and p.suffix.lower() == ".csv" and _YEAR_NAME.match(p.stem)
            )
    return sorted(years)


def dataset_files(raw_dir: Path, dataset: str, review_year: int) -> list[Path]:
    """The files of one dataset and year, sorted by name. Hidden files and Excel lock files
    (``~$…``) are skipped; any other file in a survey year folder is ingested (or quarantined)."""
    raw_dir = Path(raw_dir)
    if dataset == "survey":
        folder = raw_dir / "survey" / str(review_year)
        if not folder.is_dir():
            return []
        return sorted(
            p for p in folder.iterdir() if p.is_file() and not p.name.startswith((".", "~$"))
        )
    if dataset in ("commune_totals", "difficult_areas"):
        path = raw_dir / dataset / f"{review_year}.csv"
        return [path] if path.is_file() else []
    raise ValueError(f"unknown dataset {dataset!r}; expected one of {DATASETS}")


def _layout_files(raw_dir: Path) -> list[Path]:
    files: list[Path] = []
    for year in list_review_years(raw_dir):
        for dataset in DATASETS:
            files.extend(dataset_files(raw_dir, dataset, year))
    return files


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def raw_files_fingerprint(
    raw_dir: Path, previous: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Relative path → ``"size:mtime_ns:sha256"`` for every file in the raw layout.

    A file whose size and mtime equal those in ``previous`` keeps its recorded hash, so a sensor
    tick re-hashes only files that were touched; comparing the sha256 part then tells a real
    change from a mere touch.
    """
    raw_dir = Path(raw_dir)
    previous = previous or {}
    result: dict[str, str] = {}
    for path in _layout_files(raw_dir):
        relative = path.relative_to(raw_dir).as_posix()
        stat = path.stat()
        prefix = f"{stat.st_size}:{stat.st_mtime_ns}:"
        known = previous.get(relative, "")
        result[relative] = known if known.startswith(prefix) else prefix + file_sha256(path)
    return result


def review_year_of_path(relative_path: str) -> int | None:
    """The review year a layout path belongs to (``survey/2023/x.csv`` → 2023)."""
    parts = relative_path.split("/")
    if len(parts) == 3 and parts[0] == "survey" and _YEAR_NAME.match(parts[1]):
        return int(parts[1])
    if len(parts) == 2 and parts[0] in ("commune_totals", "difficult_areas"):
        stem = parts[1].rsplit(".", 1)[0]
        return int(stem) if _YEAR_NAME.match(stem) else None
    return None


# --------------------------------------------------------------------------- reading files


class WholeFileProblem(Exception):
    """A file none of whose rows can be loaded; ``reason`` is its quarantine reason code."""

    def __init__(self, reason: str, message: str, detail: dict[str, object] | None = None):
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.detail = detail or {}


@dataclass
class _FileState:
    index: int
    path: Path
    report: FileReport
    match: HeaderMatch | None = None
    problem: WholeFileProblem | None = None


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _stage_columns(dataset: str) -> list[str]:
    """Text columns of a source row: canonical columns, without the head's name and with the id
    number already replaced by its hash."""
    names = [c for c in canonical_columns(dataset) if c not in ("head_name", "head_id_number")]
    if dataset == "survey":
        names.append("head_id_hash")
    return names


@dataclass(frozen=True)
class _StageSpec:
    """What a staging pass writes, and where.

    The **typed** pass (every file) types each cell while the file is read, in parallel, and
    keeps only what loading and checking need: the values of ``raw.*`` and a few row-local
    flags. The **text** pass re-reads only the files with quarantined rows, to rebuild those
    rows' raw records (original header → cell text). Typing in the text stage and then again in
    a separate checked table wrote every row twice (2 of a national review year's 11 s).
    """

    dataset: str
    review_year: int
    typed: bool

    @property
    def stage(self) -> str:
        return "_stage" if self.typed else "_text_stage"

    @property
    def rows(self) -> str:
        return "_rows" if self.typed else "_text_rows"

    @property
    def ranges(self) -> str:
        return "_file_ranges" if self.typed else "_text_file_ranges"

    def columns(self) -> list[tuple[str, str]]:
        """(name, type) of the stage's value columns, between its position and lineage columns."""
        if self.typed:
            return [
                (name, kind) for name, kind, _ in _typed_columns(self.dataset, self.review_year)
            ]
        return [(name, "VARCHAR") for name in _stage_columns(self.dataset)] + [("_extra", "JSON")]


# A typed column's expression names the text cells it reads as @name (the text expressions of
# _stage_select: ``c{position}``, the id hash, or NULL for a column the file lacks).
_CELL = re.compile(r"@(\w+)")


def _typed_columns(dataset: str, review_year: int) -> list[tuple[str, str, str]]:
    """(name, type, expression) of the typed stage; the checks that need joins or the whole year
    (reference codes, duplicates) are judged afterwards over these columns."""
    extra = ("_has_extra_fields", "BOOLEAN", "@_has_extra_fields")
    # The two per-commune datasets clean every cell; the survey only trims codes and numbers.
    commune = [
        ("_year_mismatch", "BOOLEAN", f"_clean(@review_year) is distinct from '{review_year}'"),
        ("commune_code", "VARCHAR", "_code(_clean(@commune_code), 5)"),
    ]
    if dataset == "commune_totals":
        return [
            *commune,
            ("total_households", "BIGINT", "_count(_clean(@total_households))"),
            ("total_population", "BIGINT", "_count(_clean(@total_population))"),
            extra,
        ]
    if dataset == "difficult_areas":
        return [
            *commune,
            ("is_extremely_difficult", "BOOLEAN", "_mark(_clean(@extremely_difficult))"),
            (
                "difficult_villages",
                "INTEGER",
                "case when _clean(@difficult_villages) is null then 0 "
                "when regexp_full_match(_clean(@difficult_villages), '[0-9]{1,9}') "
                "then _clean(@difficult_villages)::INTEGER end",
            ),
            (
                "total_villages",
                "INTEGER",
                "case when regexp_full_match(_clean(@total_villages), '[0-9]{1,9}') "
                "then _clean(@total_villages)::INTEGER end",
            ),
            ("_total_villages_given", "BOOLEAN", "_clean(@total_villages) is not null"),
            extra,
        ]
    head_sex = "case lower(_clean(@head_sex)) when 'nam' then 'male' when 'nữ' then 'female' end"
    reported = (
        "case regexp_replace(lower(_clean(@reported_class)), '^hộ\\s+', '') "
        "when 'nghèo' then 'poor' when 'cận nghèo' then 'near_poor' "
        "when 'có mức sống trung bình' then 'middle' when 'không nghèo' then 'not_poor' end"
    )
    size = "_trimmed(@household_size)"
    return [
        ("_year_mismatch", "BOOLEAN", f"_trimmed(@review_year) is distinct from '{review_year}'"),
        ("province_code", "VARCHAR", "_code(_trimmed(@province_code), 2)"),
        (
            "district_code",
            "VARCHAR",
            "_code(_trimmed(@district_code), 3)" if review_year < 2025 else "NULL",
        ),
        ("_district_given", "BOOLEAN", "_trimmed(@district_code) is not null"),
        ("commune_code", "VARCHAR", "_code(_trimmed(@commune_code), 5)"),
        ("commune_name", "VARCHAR", "_clean(@commune_name)"),
        ("village", "VARCHAR", "_clean(@village)"),
        ("household_code", "VARCHAR", "_clean(@household_code)"),
        ("head_id_hash", "VARCHAR", "@head_id_hash"),
        ("head_sex", "VARCHAR", head_sex),
        ("_bad_head_sex", "BOOLEAN", f"({head_sex}) is null and _clean(@head_sex) is not null"),
        ("ethnicity", "VARCHAR", "_clean(@ethnicity)"),
        (
            "household_size",
            "INTEGER",
            f"case when regexp_full_match({size}, '[0-9]{{1,9}}') then {size}::INTEGER end",
        ),
        (
            "area_type",
            "VARCHAR",
            "case lower(_clean(@area_type)) when 'nông thôn' then 'rural' "
            "when 'thành thị' then 'urban' when 'đô thị' then 'urban' end",
        ),
        ("income_per_capita", "BIGINT", "_amount(_trimmed(@income_per_capita))"),
        *((name, "BOOLEAN", f"_mark(_trimmed(@{name}))") for name in DEPRIVATION_COLUMNS),
        ("_bad_marks", "BOOLEAN", _bad_marks(DEPRIVATION_COLUMNS)),
        *((f"is_{name}", "BOOLEAN", f"_mark(_trimmed(@{name}))") for name in FLAG_COLUMNS),
        ("_bad_flags", "BOOLEAN", _bad_marks(FLAG_COLUMNS)),
        ("reported_class", "VARCHAR", reported),
        (
            "_bad_reported_class",
            "BOOLEAN",
            f"({reported}) is null and _clean(@reported_class) is not null",
        ),
        extra,
    ]


def _bad_marks(names: tuple[str, ...] | list[str]) -> str:
    """A cell that is neither empty nor an accepted mark, in any of the named columns."""
    return " or ".join(
        f"(_mark(_trimmed(@{n})) is null and _trimmed(@{n}) is not null)" for n in names
    )


def _create_stage(con: duckdb.DuckDBPyConnection, spec: _StageSpec) -> None:
    """The stage holds every staged row; the rows view is its non-blank rows with their numbers.

    A CSV without empty lines is staged by a parallel scan with no row number: with
    ``preserve_insertion_order`` (DuckDB's default) its records land in file order, so a record's
    number is its ``rowid`` minus the stage's size before the file (``_row_offset``). Blank rows
    are therefore kept, flagged ``_blank``, so as not to break that contiguity. Numbering rows
    with ``row_number() over ()`` instead forces the whole staging pipeline (HMAC, typing, blank
    test) onto one thread. For the same reason the staging statement only projects: no join.
    """
    columns = ", ".join(f"{name} {kind}" for name, kind in spec.columns())
    con.execute(
        f"""
        create or replace temp table {spec.stage} (
            _file_index INTEGER, source_sheet VARCHAR, source_row INTEGER, {columns},
            _row_offset BIGINT, _blank BOOLEAN, _source_path VARCHAR
        )
        """
    )
    # Files staged together by one multi-file scan (see _stage_csv_batch) carry their path; this
    # maps it to the file's index and its first rowid, from which its rows are numbered.
    con.execute(
        f"create or replace temp table {spec.ranges} "
        "(_source_path VARCHAR, file_index INTEGER, first_rowid BIGINT)"
    )
    con.execute(
        f"""
        create or replace temp view {spec.rows} as
        select s.* exclude (_file_index, source_row, _row_offset, _blank, _source_path),
               coalesce(s._file_index, r.file_index) as _file_index,
               coalesce(
                   s.source_row, s.rowid + s._row_offset, s.rowid - r.first_rowid + 2
               )::INTEGER as source_row
        from {spec.stage} s left join {spec.ranges} r on r._source_path = s._source_path
        where not s._blank
        """
    )


def _stage_select(spec: _StageSpec, match: HeaderMatch, width: int) -> tuple[list[str], str]:
    """Expressions turning a source with columns ``c0…c{width-1}`` into the stage's value
    columns, and the condition that the row is blank (every cell empty once trimmed)."""
    cells: dict[str, str] = {}
    for name in _stage_columns(spec.dataset):
        if name == "head_id_hash":
            position = match.positions.get("head_id_number")
            cells[name] = "NULL" if position is None else hmac_sql(f"_clean(c{position})")
        else:
            position = match.positions.get(name)
            cells[name] = "NULL::VARCHAR" if position is None else f"c{position}"

    # Every matched column, the head's name included, is loaded or deliberately left out; other
    # columns are kept for the quarantine's raw record, and cells under no header flag the row.
    matched = set(match.positions.values())
    originals = match.originals
    unheaded = [
        p for p in range(width) if p not in matched and not (p < len(originals) and originals[p])
    ]
    has_extra = " or ".join(f"_clean(c{p}) is not null" for p in unheaded) or "false"
    if spec.typed:
        cells["_has_extra_fields"] = f"({has_extra})"
        expressions = [
            _CELL.sub(lambda m: cells[m.group(1)], expression)
            for _, _, expression in _typed_columns(spec.dataset, spec.review_year)
        ]
    else:
        # The raw record's cells beyond the matched columns: named ones always, unheaded ones
        # when any holds something.
        named_pairs = [
            f"{_sql_text(originals[p])}, c{p}"
            for p in range(min(width, len(originals)))
            if p not in matched and originals[p]
        ]
        unheaded_pairs = [f"{_sql_text(f'(no header, column {p + 1})')}, c{p}" for p in unheaded]
        named_json = f"json_object({', '.join(named_pairs)})" if named_pairs else "NULL::JSON"
        if unheaded:
            all_pairs = ", ".join(named_pairs + unheaded_pairs)
            extra = f"case when {has_extra} then json_object({all_pairs}) else {named_json} end"
        else:
            extra = named_json
        expressions = [cells[name] for name in _stage_columns(spec.dataset)] + [extra]

    name_position = match.positions.get("head_name")
    every_cell = ", ".join(f"c{p}" for p in range(width) if p != name_position) or "''"
    # RE2 stops at the first visible character, so a normal row costs a few bytes of scanning.
    # The first cell is tested alone first: concatenating every cell of every row cost more than
    # the rest of the staging expressions together (1.6 s of a national review year's 6.5 s).
    visible = r"'[^\s\x{a0}\x{feff}]'"
    everything_empty = f"not regexp_matches(concat({every_cell}), {visible})"
    # A row holding only the head's name is not blank: it is a row with every required cell empty.
    if name_position is not None:
        everything_empty += f" and _clean(c{name_position}) is null"
    blank = f"case when regexp_matches(c0, {visible}) then false else {everything_empty} end"
    return expressions, blank


def _params_used(expressions: list[str], hmac: dict[str, bytes]) -> dict[str, bytes] | None:
    """The HMAC pads when the id column is hashed (DuckDB rejects unused named parameters)."""
    return hmac if any("$hmac_inner" in expression for expression in expressions) else None


def _read_csv_header(path: Path) -> list[str]:
    try:
        with path.open("r", encoding="utf-8-sig", newline="") as handle:
            line = handle.readline()
    except UnicodeDecodeError as error:
        raise WholeFileProblem("unreadable_file", f"not UTF-8 text: {error}") from error
    if not line.strip():
        return []
    return next(csv.reader([line]))


def _blank_line_numbers(path: Path) -> tuple[list[int], int]:
    """1-based numbers of the empty lines of a file, and its number of lines.

    The common case (no empty line) costs one ``re.search`` per chunk; positions are only
    computed when an empty line exists.
    """
    found = False
    with path.open("rb") as handle:
        tail = b""
        while chunk := handle.read(_CHUNK):
            if _BLANK_LINE.search(tail + chunk):
                found = True
                break
            tail = chunk[-64:]
    if not found:
        return [], 0
    data = path.read_bytes()
    numbers = []
    line, last = 1, 0
    for found_at in _BLANK_LINE.finditer(data):
        line += data.count(b"\n", last, found_at.start() + 1)
        last = found_at.start() + 1
        numbers.append(line)
    return numbers, data.count(b"\n") + 1


def _stage_csv(
    con: duckdb.DuckDBPyConnection, state: _FileState, spec: _StageSpec, hmac: dict[str, bytes]
) -> None:
    header = _read_csv_header(state.path)
    match = match_headers(header, spec.dataset)
    state.match = match
    width = len(header) + SPARE_CSV_COLUMNS
    expressions, blank = _stage_select(spec, match, width)
    columns = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(width)) + "}"

    blanks, line_count = _blank_line_numbers(state.path)
    if blanks:
        # Rare: empty lines shift the line numbers, so records are numbered (on one thread) and
        # mapped to their lines.
        con.execute(
            """
            create or replace temp table _line_map as
            select row_number() over (order by line) as record, line
            from range(2, $line_count + 1) lines(line)
            anti join (select unnest($blanks::INTEGER[]) as line) empty using (line)
            """,
            {"line_count": line_count, "blanks": blanks},
        )
    # The first record is line 2 (after the header): see _create_stage for the offset.
    row_offset = 2 - con.execute(f"select count(*) from {spec.stage}").fetchone()[0]

    def insert(parallel: bool) -> None:
        source = (
            f"read_csv({_sql_text(str(state.path))}, header = true, columns = {columns}, "
            "delim = ',', quote = '\"', escape = '\"', null_padding = true, auto_detect = false, "
            f"parallel = {str(parallel).lower()})"
        )
        if blanks:
            select = f"""
                select {state.index}, NULL, m.line, {", ".join(expressions)}, NULL, false, NULL
                from (select *, row_number() over () as _record from {source}) r
                left join _line_map m on m.record = r._record
                where not ({blank})
            """
        else:
            select = f"""
                select {state.index}, NULL, NULL, {", ".join(expressions)}, {row_offset},
                       {blank}, NULL
                from {source}
            """
        con.execute(f"insert into {spec.stage} {select}", _params_used(expressions, hmac))

    try:
        try:
            insert(parallel=True)
        except duckdb.Error as error:
            # The parallel reader refuses line breaks inside quoted cells with null padding.
            if "parallel" not in str(error):
                raise
            insert(parallel=False)
    except duckdb.Error as error:
        first_line = str(error).strip().splitlines()[0]
        raise WholeFileProblem(
            "unreadable_file", f"DuckDB could not read the CSV: {first_line}"
        ) from error


def _stage_csv_batch(
    con: duckdb.DuckDBPyConnection,
    group: list[_FileState],
    header: list[str],
    spec: _StageSpec,
    hmac: dict[str, bytes],
) -> bool:
    """Stage CSV files that share one header line with a single multi-file scan.

    Exports usually come as one file per commune or district: hundreds of small files a year.
    Staged one statement per file, planning and starting each statement cost more than reading
    the rows (55 ms a file, 38 of 49 s for a national review year). With
    ``preserve_insertion_order`` the scan keeps the files in the order given and each file's
    records in file order, so a row's number is its ``rowid`` minus its file's first ``rowid``,
    plus 2 (the header is line 1). Only files without empty lines come here (their numbering
    needs the per-file path). Returns False, having staged nothing, when the group must go file
    by file instead: a missing required column (a per-file verdict) or a file the parallel
    multi-file reader refuses (one failed statement inserts nothing).
    """
    match = match_headers(header, spec.dataset)
    if match.missing(required_columns(spec.dataset, spec.review_year)):
        return False
    width = len(header) + SPARE_CSV_COLUMNS
    expressions, blank = _stage_select(spec, match, width)
    columns = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(width)) + "}"
    paths = "[" + ", ".join(_sql_text(str(state.path)) for state in group) + "]"
    source = (
        f"read_csv({paths}, header = true, columns = {columns}, delim = ',', quote = '\"', "
        "escape = '\"', null_padding = true, auto_detect = false, filename = true)"
    )
    try:
        con.execute(
            f"""
            insert into {spec.stage}
            select NULL, NULL, NULL, {", ".join(expressions)}, NULL, {blank}, filename
            from {source}
            """,
            _params_used(expressions, hmac),
        )
    except duckdb.Error:
        return False
    con.executemany(
        f"insert into {spec.ranges} values (?, ?, NULL)",
        [(str(state.path), state.index) for state in group],
    )
    con.execute(
        f"""
        update {spec.ranges} set first_rowid = f.first_rowid
        from (
            select _source_path, min(rowid) as first_rowid from {spec.stage}
            where _source_path is not null group by _source_path
        ) f
        where {spec.ranges}._source_path = f._source_path
        """
    )
    for state in group:
        state.match = match
    return True


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
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return "" if value is None else str(value)


def _id_cell_text(value: object) -> str:
    """An id number cell: a numeric cell lost its leading zeros, a citizen id has 12 digits."""
    if isinstance(value, float | int) and not isinstance(value, bool):
        text = _cell_text(value)
        return text.zfill(12) if text.isdigit() else text
    return _cell_text(value)


def _stage_xlsx(
    con: duckdb.DuckDBPyConnection, state: _FileState, spec: _StageSpec, hmac: dict[str, bytes]
) -> None:
    from python_calamine import CalamineWorkbook

    try:
        workbook = CalamineWorkbook.from_path(str(state.path))
        sheet = workbook.get_sheet_by_index(0)
        # skip_empty_area=False keeps leading empty rows, so list index + 1 is the sheet row.
        rows = sheet.to_python(skip_empty_area=False)
    except Exception as error:  # calamine raises its own types for every kind of damage
        raise WholeFileProblem(
            "unreadable_file", f"python-calamine could not read the workbook: {error}"
        ) from error

    header_index = next(
        (
            i
            for i, row in enumerate(rows)
            if any(isinstance(c, str) and normalise_header(c) == HEADER_ROW_MARKER for c in row)
        ),
        None,
    )
    if header_index is None:
        state.match = match_headers([], spec.dataset)
        raise WholeFileProblem(
            "missing_required_column",
            "no header row: no row of the first sheet holds a 'Mã hộ' cell",
            {"sheet": sheet.name},
        )
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
    # Blank rows are dropped in SQL; the row number a person sees is the list index + 1.
    arrays["_row"] = pa.array(range(header_index + 2, header_index + 2 + len(data)), pa.int32())
    sheet_table = pa.table(arrays)  # noqa: F841 (read by DuckDB's replacement scan)

    expressions, blank = _stage_select(spec, match, width)
    con.execute(
        f"""
        insert into {spec.stage}
        select {state.index}, {_sql_text(sheet.name)}, _row, {", ".join(expressions)}, NULL, false,
               NULL
        from sheet_table
        where not ({blank})
        """,
        _params_used(expressions, hmac),
    )


# --------------------------------------------------------------------------- validation SQL


def _judge_survey_sql(review_year: int) -> str:
    """``_bad``: the survey rows with at least one reason, judged over the typed stage.

    Row-local verdicts were typed while the file was read (``_typed_columns``); this adds the
    ones that need the reference units or the whole year (duplicates), and lists every reason
    in a fixed order.
    """
    if review_year < 2025:
        # A district must exist in the row's province, or anywhere when the province is wrong
        # (that row is flagged for its province; the district is judged on its own).
        district_bad = """district_code is null
            or (province_ok and not district_in_province)
            or (not province_ok and not district_any)"""
        commune_district_bad = "or (not district_bad and unit_district_code <> district_code)"
    else:
        district_bad = "_district_given"
        commune_district_bad = ""
    return f"""
    create or replace temp table _bad as
    with units as (
        select province_code, district_code, commune_code
        from reference.admin_units where unit_version = $unit_version
    ),
    provinces as (select distinct province_code from units),
    districts as (
        select distinct province_code, district_code from units where district_code is not null
    ),
    district_codes as (select distinct district_code from districts),
    -- An aggregate, not a window: a window would carry every column of every row through it.
    duplicates as (
        select household_code from _rows
        where household_code is not null group by all having count(*) > 1
    ),
    joined as (
        select
            t._file_index, t.source_sheet, t.source_row, t._year_mismatch, t.province_code,
            t.district_code, t._district_given, t.commune_code, t.household_code,
            t.household_size, t.income_per_capita, t._bad_marks, t._bad_flags, t.area_type,
            t._bad_head_sex, t._bad_reported_class, t._has_extra_fields,
            p.province_code is not null as province_ok,
            d.district_code is not null as district_in_province,
            dc.district_code is not null as district_any,
            u.commune_code is not null as commune_exists,
            u.province_code as unit_province_code,
            u.district_code as unit_district_code,
            dup.household_code is not null as is_duplicate
        from _rows t
        left join provinces p on p.province_code = t.province_code
        left join districts d
            on d.province_code = t.province_code and d.district_code = t.district_code
        left join district_codes dc on dc.district_code = t.district_code
        left join units u on u.commune_code = t.commune_code
        left join duplicates dup on dup.household_code = t.household_code
    ),
    judged as (
        select *, coalesce({district_bad}, true) as district_bad from joined
    ),
    reasoned as (
        select
            _file_index, source_sheet, source_row,
            concat_ws(',',
                case when _year_mismatch then 'year_mismatch' end,
                case when province_code is null or not province_ok
                     then 'invalid_province_code' end,
                case when district_bad then 'invalid_district_code' end,
                case when commune_code is null or not commune_exists
                          or (province_ok and unit_province_code <> province_code)
                          {commune_district_bad}
                     then 'invalid_commune_code' end,
                case when household_code is null then 'missing_household_code' end,
                case when is_duplicate then 'duplicate_household' end,
                case when household_size is null or household_size < 1
                     then 'invalid_household_size' end,
                case when income_per_capita is null then 'invalid_income' end,
                case when _bad_marks then 'invalid_deprivation_mark' end,
                case when _bad_flags then 'invalid_flag_mark' end,
                case when area_type is null then 'invalid_area_type' end,
                case when _bad_head_sex then 'invalid_head_sex' end,
                case when _bad_reported_class then 'invalid_reported_class' end,
                case when _has_extra_fields then 'unexpected_extra_fields' end
            ) as reasons
        from judged
    )
    select * from reasoned where reasons <> ''
    """


def _judge_commune_sql(reasons: str) -> str:
    """``_bad`` for the two per-commune datasets: ``reasons`` adds to the shared commune checks."""
    return f"""
    create or replace temp table _bad as
    with judged as (
        select
            t.*,
            exists (select 1 from reference.admin_units u where u.unit_version = $unit_version
                    and u.commune_code = t.commune_code) as commune_exists,
            count(*) over (partition by t.commune_code) as commune_rows
        from _rows t
    ),
    reasoned as (
        select
            _file_index, source_sheet, source_row,
            concat_ws(',',
                case when _year_mismatch then 'year_mismatch' end,
                case when commune_code is null or not commune_exists
                     then 'invalid_commune_code' end,
                case when commune_code is not null and commune_rows > 1
                     then 'duplicate_commune' end,
                {reasons},
                case when _has_extra_fields then 'unexpected_extra_fields' end
            ) as reasons
        from judged
    )
    select * from reasoned where reasons <> ''
    """


def _judge_commune_totals_sql(review_year: int) -> str:
    return _judge_commune_sql(
        """case when coalesce(total_households, 0) < 1 then 'invalid_total_households' end,
        case when coalesce(total_population, 0) < 1 then 'invalid_total_population' end"""
    )


def _judge_difficult_areas_sql(review_year: int) -> str:
    return _judge_commune_sql(
        """case when is_extremely_difficult is null then 'invalid_flag_mark' end,
        case when difficult_villages is null
                  or (_total_villages_given and total_villages is null)
                  or difficult_villages > total_villages
             then 'invalid_village_count' end"""
    )


_JUDGE_SQL = {
    "survey": _judge_survey_sql,
    "commune_totals": _judge_commune_totals_sql,
    "difficult_areas": _judge_difficult_areas_sql,
}
_RAW_COLUMNS = {
    "survey": [
        "$review_year",
        "$unit_version",
        "province_code",
        "district_code",
        "commune_code",
        "commune_name",
        "village",
        "household_code",
        "head_id_hash",
        "head_sex",
        "ethnicity",
        "household_size",
        "area_type",
        "income_per_capita",
        *DEPRIVATION_COLUMNS,
        *(f"is_{n}" for n in FLAG_COLUMNS),
        "reported_class",
    ],
    "commune_totals": [
        "$review_year",
        "$unit_version",
        "commune_code",
        "total_households",
        "total_population",
    ],
    "difficult_areas": [
        "$review_year",
        "$unit_version",
        "commune_code",
        "is_extremely_difficult",
        "difficult_villages",
        "total_villages",
    ],
}


def _raw_record_sql(dataset: str, match: HeaderMatch) -> str:
    """JSON of the file's original header → cell text for a staged row ``s`` (name dropped,
    id number replaced by its hash), merged with the cells the stage keeps in ``_extra``."""
    pairs = []
    for name, position in sorted(match.positions.items(), key=lambda item: item[1]):
        if name == "head_name":
            continue
        column = "head_id_hash" if name == "head_id_number" else name
        pairs.append(f"{_sql_text(match.originals[position])}, s.{column}")
    base = f"json_object({', '.join(pairs)})" if pairs else "json_object()"
    return f"coalesce(json_merge_patch({base}, s._extra), {base})"


# --------------------------------------------------------------------------- the entry point


def ingest_dataset(
    con: duckdb.DuckDBPyConnection,
    raw_dir: Path,
    dataset: str,
    review_year: int,
    *,
    run_id: str,
    pii_key: bytes,
    on_file: Callable[[int, int, int], None] | None = None,
) -> IngestReport:
    """Rebuild one dataset's rows for one review year from the files on disk, in one transaction.

    Requires ``reference.admin_units`` (the ``admin_units`` asset). Returns per-file counts.
    ``on_file(done, total, rows)`` is called once per file when its rows are counted (progress).
    """
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {DATASETS}")
    raw_dir = Path(raw_dir)
    unit_version = unit_version_for_year(review_year)
    ensure_schemas(con)
    _require_reference(con, unit_version)
    for macro in _MACROS:
        con.execute(macro)
    inner, outer = hmac_pads(pii_key)
    hmac = {"hmac_inner": inner, "hmac_outer": outer}
    now = datetime.now(UTC).replace(tzinfo=None)
    report = IngestReport(dataset=dataset, review_year=review_year)

    try:
        states = _plan_files(con, raw_dir, dataset, review_year, report)
        spec = _StageSpec(dataset, review_year, typed=True)
        _create_stage(con, spec)
        _stage_files(con, [s for s in states if s.report.status != "duplicate"], spec, hmac)
        con.execute(_JUDGE_SQL[dataset](review_year), {"unit_version": unit_version})
        _count_rows(con, states)
        if on_file is not None:
            for done, state in enumerate(states, start=1):
                on_file(done, len(states), state.report.rows_read)
        _collect_quarantined_rows(con, spec, states, hmac)
        con.execute("begin transaction")
        try:
            _write_year(con, dataset, review_year, unit_version, states, run_id, now)
            _write_audit(con, dataset, review_year, states, run_id, now)
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
    finally:
        for view in ("_rows", "_text_rows"):
            con.execute(f"drop view if exists temp.{view}")
        for table in (
            "_stage",
            "_file_ranges",
            "_text_stage",
            "_text_file_ranges",
            "_bad",
            "_bad_rows",
            "_line_map",
            "_files",
        ):
            con.execute(f"drop table if exists temp.{table}")
    return report


def _stage_files(
    con: duckdb.DuckDBPyConnection,
    states: list[_FileState],
    spec: _StageSpec,
    hmac: dict[str, bytes],
) -> None:
    """Stage the files: CSVs sharing a header line by one multi-file scan, others one by one."""
    groups: dict[tuple[str, ...], list[_FileState]] = {}
    for state in states:
        header = _batchable_header(state)
        if header is None:
            _stage_file(con, state, spec, hmac)
        else:
            groups.setdefault(header, []).append(state)
    for header, group in groups.items():
        if len(group) > 1 and _stage_csv_batch(con, group, list(header), spec, hmac):
            continue
        for state in group:
            _stage_file(con, state, spec, hmac)


def _batchable_header(state: _FileState) -> tuple[str, ...] | None:
    """The header line of a CSV that may be staged with others, or None to stage it alone
    (XLSX, unreadable text, no header, or empty lines, whose row numbers need the per-file path).
    """
    if state.path.suffix.lower() != ".csv":
        return None
    try:
        header = _read_csv_header(state.path)
    except WholeFileProblem:
        return None
    if not header or _blank_line_numbers(state.path)[0]:
        return None
    return tuple(header)


def _require_reference(con: duckdb.DuckDBPyConnection, unit_version: str) -> None:
    try:
        count = con.execute(
            "select count(*) from reference.admin_units where unit_version = ?", [unit_version]
        ).fetchone()[0]
    except duckdb.CatalogException:
        count = 0
    if not count:
        raise RuntimeError(
            f"reference.admin_units has no {unit_version} units: materialize the "
            "reference/admin_units asset (orchestration.lib.admin_units.load_admin_units) first"
        )


def _plan_files(
    con: duckdb.DuckDBPyConnection,
    raw_dir: Path,
    dataset: str,
    review_year: int,
    report: IngestReport,
) -> list[_FileState]:
    """Hash the files and mark byte-identical copies as ``duplicate``.

    Of identical files, the one already loaded with those bytes stays the one read (so a new copy
    does not flip the audit trail), else the first by name.
    """
    previously_loaded = {
        (name, sha)
        for name, sha in con.execute(
            """
            select file_name, sha256 from audit.source_files
            where review_year = ? and dataset = ? and status in ('loaded', 'quarantined')
            """,
            [review_year, dataset],
        ).fetchall()
    }
    states = []
    for index, path in enumerate(dataset_files(raw_dir, dataset, review_year)):
        relative = path.relative_to(raw_dir).as_posix()
        file_report = FileReport(
            file_name=relative, sha256=file_sha256(path), size_bytes=path.stat().st_size
        )
        report.files.append(file_report)
        states.append(_FileState(index=index, path=path, report=file_report))

    ordered = sorted(
        states,
        key=lambda s: ((s.report.file_name, s.report.sha256) not in previously_loaded, s.index),
    )
    first_by_sha: dict[str, str] = {}
    for state in ordered:
        original = first_by_sha.setdefault(state.report.sha256, state.report.file_name)
        if original != state.report.file_name:
            state.report.status = "duplicate"
            state.report.status_reason = f"same bytes as {original}; not read"
    return states


def _stage_file(
    con: duckdb.DuckDBPyConnection, state: _FileState, spec: _StageSpec, hmac: dict[str, bytes]
) -> None:
    dataset, review_year = spec.dataset, spec.review_year
    suffix = state.path.suffix.lower()
    try:
        if suffix == ".csv":
            _stage_csv(con, state, spec, hmac)
        elif suffix == ".xlsx" and dataset == "survey":
            _stage_xlsx(con, state, spec, hmac)
        else:
            raise WholeFileProblem(
                "unreadable_file",
                f"unsupported file type {suffix or '(none)'}: expected .csv"
                + (" or .xlsx" if dataset == "survey" else ""),
            )
        missing = state.match.missing(required_columns(dataset, review_year))
        if missing:
            raise WholeFileProblem(
                "missing_required_column",
                "missing required column(s): " + ", ".join(missing),
                {"missing_columns": missing},
            )
    except WholeFileProblem as problem:
        # The text pass re-reads files the typed pass read whole; their verdict stands.
        if spec.typed:
            state.problem = problem


def _count_rows(con: duckdb.DuckDBPyConnection, states: list[_FileState]) -> None:
    counts = {
        index: (read, quarantined)
        for index, read, quarantined in con.execute(
            """
            select r._file_index, r.read, coalesce(b.quarantined, 0)
            from (select _file_index, count(*) as read from _rows group by all) r
            left join (select _file_index, count(*) as quarantined from _bad group by all) b
                using (_file_index)
            """
        ).fetchall()
    }
    for state in states:
        if state.report.status == "duplicate":
            continue
        read, quarantined = counts.get(state.index, (0, 0))
        state.report.rows_read = read
        if state.problem is not None:
            state.report.status = "quarantined"
            state.report.status_reason = state.problem.message
            state.report.rows_quarantined = read
        else:
            state.report.rows_quarantined = quarantined
            state.report.rows_loaded = read - quarantined


def _collect_quarantined_rows(
    con: duckdb.DuckDBPyConnection,
    spec: _StageSpec,
    states: list[_FileState],
    hmac: dict[str, bytes],
) -> None:
    """Give each quarantined row its raw record in the small ``_bad_rows`` table.

    The typed stage no longer holds the cells' text, so the files with quarantined rows (few, or
    none) are read again by the text pass, which numbers their rows the same way. One join serves
    every file; files sharing a header layout share one raw-record expression. A row the re-read
    cannot find (the file changed on disk meanwhile) keeps its reasons with a NULL raw record.
    """
    con.execute(
        """
        create or replace temp table _bad_rows (
            _file_index INTEGER, source_sheet VARCHAR, source_row INTEGER, reasons VARCHAR[],
            raw_record JSON
        )
        """
    )
    # Duplicates are not staged; a whole-file problem gets its one row in _write_year.
    with_bad_rows = [
        state
        for state in states
        if state.report.status != "duplicate"
        and state.problem is None
        and state.report.rows_quarantined
    ]
    if not with_bad_rows:
        return
    text = _StageSpec(spec.dataset, spec.review_year, typed=False)
    _create_stage(con, text)
    _stage_files(con, with_bad_rows, text, hmac)
    layouts: dict[str, list[int]] = {}
    for state in with_bad_rows:
        layouts.setdefault(_raw_record_sql(spec.dataset, state.match), []).append(state.index)
    branches = " ".join(
        f"when b._file_index in ({', '.join(map(str, indexes))}) then {record}"
        for record, indexes in layouts.items()
    )
    wanted = ", ".join(str(state.index) for state in with_bad_rows)
    con.execute(
        f"""
        insert into _bad_rows
        select b._file_index, b.source_sheet, b.source_row, string_split(b.reasons, ','),
               case when s._file_index is not null then case {branches} end end
        from _bad b
        left join {text.rows} s on s._file_index = b._file_index and s.source_row = b.source_row
        where b._file_index in ({wanted})
        """
    )
    con.execute(f"drop view if exists temp.{text.rows}")
    con.execute(f"drop table if exists temp.{text.stage}")


def _write_year(
    con: duckdb.DuckDBPyConnection,
    dataset: str,
    review_year: int,
    unit_version: str,
    states: list[_FileState],
    run_id: str,
    now: datetime,
) -> None:
    """Replace the year's raw and quarantine rows of this dataset with what the files hold."""
    table = RAW_TABLES[dataset]
    con.execute(f"delete from {table} where review_year = ?", [review_year])
    con.execute(
        "delete from audit.quarantine where review_year = ? and dataset = ?", [review_year, dataset]
    )
    rows = [
        (s.index, s.report.file_name, s.report.sha256, s.problem is not None)
        for s in states
        if s.report.status != "duplicate"
    ]
    if not rows:
        return
    con.execute(
        "create or replace temp table _files (file_index INTEGER, file_name VARCHAR, "
        "sha256 VARCHAR, is_whole_file_quarantined BOOLEAN)"
    )
    con.executemany("insert into _files values (?, ?, ?, ?)", rows)
    params = {
        "review_year": review_year,
        "unit_version": unit_version,
        "run_id": run_id,
        "now": now,
    }
    columns = ", ".join(
        column if column.startswith("$") else f"c.{column}" for column in _RAW_COLUMNS[dataset]
    )
    con.execute(
        f"""
        insert into {table}
        select {columns}, f.file_name, c.source_sheet, c.source_row, f.sha256, $run_id, $now
        from _rows c join _files f on f.file_index = c._file_index
        anti join _bad b on b._file_index = c._file_index and b.source_row = c.source_row
        where not f.is_whole_file_quarantined
        """,
        params,
    )
    for state in states:
        if state.report.status == "duplicate":
            continue
        file_params = {
            "year": review_year,
            "dataset": dataset,
            "file_name": state.report.file_name,
            "sha": state.report.sha256,
            "run_id": run_id,
            "now": now,
        }
        if state.problem is not None:
            detail = {
                "error": state.problem.message,
                **state.problem.detail,
                "headers": list(state.match.originals) if state.match else [],
            }
            con.execute(
                """
                insert into audit.quarantine values ($year, $dataset, $file_name, $sheet, NULL,
                    [$reason], $detail::JSON, $sha, $run_id, $now)
                """,
                {
                    **file_params,
                    "sheet": detail.pop("sheet", None),
                    "reason": state.problem.reason,
                    "detail": _json(detail),
                },
            )
            continue
        if not state.report.rows_quarantined:
            continue
        con.execute(
            f"""
            insert into audit.quarantine
            select $year, $dataset, $file_name, source_sheet, source_row, reasons, raw_record,
                   $sha, $run_id, $now
            from _bad_rows where _file_index = {state.index}
            order by source_row
            """,
            file_params,
        )


_PARAMETER = re.compile(r"\$(\w+)")


def _execute(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, object]) -> None:
    """Run ``sql`` with the named parameters it uses (DuckDB rejects unused ones)."""
    con.execute(sql, {name: params[name] for name in set(_PARAMETER.findall(sql))})


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def _write_audit(
    con: duckdb.DuckDBPyConnection,
    dataset: str,
    review_year: int,
    states: list[_FileState],
    run_id: str,
    now: datetime,
) -> None:
    """Record each file's outcome, keeping history (see ``docs/architecture.md``).

    Set-based: national exports are hundreds of files a year, and a statement per file cost
    0.5 s a year. ``_current`` is the trail as it was before this run: a file whose name and
    bytes are current gets its row updated; a current name with new bytes turns ``replaced`` and
    the new bytes get a row; a current name no longer on disk turns ``replaced``.
    """
    reports = [state.report for state in states]
    files_table = pa.table(
        {
            "file_name": pa.array([r.file_name for r in reports], pa.string()),
            "sha256": pa.array([r.sha256 for r in reports], pa.string()),
            "size_bytes": pa.array([r.size_bytes for r in reports], pa.int64()),
            "rows_read": pa.array([r.rows_read for r in reports], pa.int64()),
            "rows_loaded": pa.array([r.rows_loaded for r in reports], pa.int64()),
            "rows_quarantined": pa.array([r.rows_quarantined for r in reports], pa.int64()),
            "status": pa.array([r.status for r in reports], pa.string()),
            "status_reason": pa.array([r.status_reason for r in reports], pa.string()),
        }
    )
    params = {"year": review_year, "dataset": dataset, "run_id": run_id, "now": now}
    current = "review_year = $year and dataset = $dataset and status <> 'replaced'"
    con.register("_reports_arrow", files_table)
    try:
        con.execute("create or replace temp table _reports as select * from _reports_arrow")
    finally:
        con.unregister("_reports_arrow")
    statements = [
        f"""
        create or replace temp table _current as
        select file_name, sha256 from audit.source_files where {current}
        """,
        f"""
        update audit.source_files
        set status = 'replaced', last_seen_at = $now,
            status_reason = 'no longer in the raw directory (run ' || $run_id || ')'
        where {current} and file_name not in (select file_name from _reports)
        """,
        """
        update audit.source_files as a
        set rows_read = r.rows_read, rows_loaded = r.rows_loaded,
            rows_quarantined = r.rows_quarantined, status = r.status,
            status_reason = r.status_reason, run_id = $run_id, last_seen_at = $now,
            size_bytes = r.size_bytes
        from _reports as r
        where a.review_year = $year and a.dataset = $dataset and a.status <> 'replaced'
            and a.file_name = r.file_name and a.sha256 = r.sha256
        """,
        """
        update audit.source_files as a
        set status = 'replaced', last_seen_at = $now,
            status_reason = 're-sent with new bytes (sha256 ' || r.sha256 || ', run '
                || $run_id || ')'
        from _reports as r
        where a.review_year = $year and a.dataset = $dataset and a.status <> 'replaced'
            and a.file_name = r.file_name and a.sha256 <> r.sha256
        """,
        """
        insert into audit.source_files
        select $year, $dataset, r.file_name, r.sha256, r.size_bytes, r.rows_read, r.rows_loaded,
               r.rows_quarantined, r.status, r.status_reason, $run_id, $now, $now
        from _reports as r
        anti join _current as c on c.file_name = r.file_name and c.sha256 = r.sha256
        order by r.file_name
        """,
        "drop table _reports",
        "drop table _current",
    ]
    for statement in statements:
        _execute(con, statement, params)
