"""Ingest the review exports of one review year into ``raw.*``, ``audit.quarantine`` and
``audit.source_files`` (tables fixed by ``docs/architecture.md``).

The package is split by concern:

- ``registry``: the three datasets (raw table, layout, headers, required and typed columns),
  from which the DDL, the insert lists, the test fixtures and the Dagster assets are generated;
- ``layout``: the raw directory (strict names, symbolic links never followed, ignored files)
  and one pass over each file's bytes (sha256, physical lines, UTF-8);
- ``limits``: how large a workbook, a sheet and a cell may be, checked before calamine reads;
- ``readers``: CSV into a staging table, strictly (one physical line is one record), and what
  the two readers share; ``xlsx``: a workbook's first visible sheet with a header row;
- ``rules``: typing and quarantine rules as DuckDB SQL, and the masked raw record;
- ``writes``: the raw, quarantine and audit writes of a year;
- ``years``: a dataset's review years, two at a time (what the raw assets run);
- ``inputs``: what a year's rows are made from besides its files (the rules, the key, the
  reference units, the limits), as the digest that tells an unchanged year;
- ``raw_watch``: what the raw-files sensor compares the raw directory with;
- ``assets`` and ``checks``: the Dagster assets (the reference units, one raw table per dataset)
  and their row-balance checks, the only modules here that import Dagster.

Why it is shaped this way:

- **Fast and typed in SQL.** Files are read by DuckDB (CSV lines by a multi-file scan) or
  python-calamine (XLSX) and typed, normalised and validated as set operations, so a million
  rows cost seconds. Only files with a quarantined row are read again, for those rows' masked
  raw text.
- **Nothing lost, nothing invented.** Every line of every file is accounted for: lines (counted
  from the bytes) = title lines + blank lines + rows read, and rows read = rows loaded + rows
  quarantined, every quarantined row with every reason that applies.
- **The warehouse mirrors the raw directory.** One transaction deletes the year's rows of the
  dataset and rebuilds them from the files on disk; a file gone from disk turns ``removed``, and
  ``remove_years_not_on_disk`` empties the years that have no file left. A year whose files and
  other inputs (``inputs``) are those its rows were made from is left as it is.
- **No personal data stored.** The head's name is never read into a table; the id number is
  replaced by ``HMAC-SHA256(key, id)`` while the file is read (``orchestration.base.pii``), and a
  quarantined row's raw text is masked (``rules.raw_records_sql``).

Decisions where the input contract is silent:

- *Required columns*: see ``registry`` (district_code before 2025; d_health_access in the review
  years of Decision 59/2015). An absent optional flag column reads as "not flagged", an absent
  reported_class as NULL; difficult_areas without village counts reads 0 difficult villages and
  an unknown total.
- *Whole-file quarantine counting*: a readable file quarantined whole (a missing or duplicated
  column) counts its non-blank data lines as read and quarantined, behind one ``audit.quarantine``
  row with ``source_row`` NULL. A CSV that is not UTF-8 counts every line after the first that is
  not blank as read and quarantined; a workbook that cannot be read, or has no visible sheet with
  a header row, counts 0 lines.
- *Control characters*: C0 controls other than the tab, and DEL; a CR ending a line is the line
  ending of a Windows file, not a control character.
- *Quotes*: RFC 4180: a quote may only open a cell; ``ab"c`` is ``malformed_quoting``.
- *District in reviews from 2025*: a non-empty district code is ``invalid_district_code``.
- *Income*: ``1.500.000`` is 1,500,000; any other plain number is rounded to whole đồng.
- *Spreadsheet id numbers*: a numeric id cell is left-padded to 12 digits before hashing.
- *Empty files*: a CSV of 0 bytes or with an empty first line is ``empty_file``, not a file
  missing every required column.
- *The bytes loaded*: each file read is hashed again after loading; a file whose bytes moved is
  ``changed_during_read`` (quarantined whole under the hash taken before, the new one named).
- *Ignored entries*: other file types, Excel lock files (``~$…``) and symbolic links are listed
  as ``ignored``; hidden files (``.DS_Store``) are skipped without a row.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from orchestration.base.admin_units import unit_version_for_year
from orchestration.base.pii import hmac_pads, require_key
from orchestration.ingest.inputs import inputs_digest, keep_unchanged_year
from orchestration.ingest.layout import (
    RawLayout,
    RawLayoutError,
    changed_since,
    file_sha256,
    list_review_years,
    raw_files_fingerprint,
    review_year_of_path,
    scan_entry,
    validate_raw_dir,
)
from orchestration.ingest.limits import LimitError, ReadLimits
from orchestration.ingest.readers import (
    CELLS_FIRST_BYTES,
    FileReport,
    FileState,
    StageSpec,
    WholeFileProblem,
    check_header,
    create_stage,
    read_csv_header,
    stage_csv_fast,
    stage_csv_lines,
    type_staged_cells,
)
from orchestration.ingest.registry import (
    DATASETS,
    DDL,
    RAW_TABLES,
    REGISTRY,
    TABLE_COLUMNS,
    dataset,
)
from orchestration.ingest.rules import (
    _MACROS,
    JUDGE_SQL,
    RecordLayout,
    raw_record_layout,
    raw_records_sql,
)
from orchestration.ingest.writes import (
    record_inputs,
    stored_years,
    write_audit,
    write_year,
)
from orchestration.ingest.xlsx import stage_xlsx

__all__ = [
    "DATASETS",
    "RAW_TABLES",
    "REGISTRY",
    "FileReport",
    "IngestReport",
    "LimitError",
    "RawLayout",
    "RawLayoutError",
    "ReadLimits",
    "ensure_schemas",
    "file_sha256",
    "ingest_dataset",
    "list_review_years",
    "raw_files_fingerprint",
    "remove_years_not_on_disk",
    "review_year_of_path",
    "validate_raw_dir",
]

_TEMP_TABLES = (
    "_stage",
    "_cell_stage",
    "_text_stage",
    "_file_ranges",
    "_text_file_ranges",
    "_bad",
    "_bad_rows",
    "_files",
    "_paths",
)


class IngestReport:
    """Per-file outcomes of one dataset and review year."""

    def __init__(self, dataset: str, review_year: int) -> None:
        self.dataset = dataset
        self.review_year = review_year
        self.files: list[FileReport] = []
        # The run that wrote the year's rows, when this run found them unchanged and kept them.
        self.unchanged_since: str | None = None

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
    """Create the raw and audit schemas and tables if missing, adding any new column.

    One catalog query when nothing is missing, as in every ingest of a run after its first:
    the DDL's hundred-odd idempotent statements cost 17 ms per dataset and review year.
    """
    present = con.execute(
        """
        select table_schema || '.' || table_name, column_name
        from information_schema.columns where table_schema in ('raw', 'audit')
        """
    ).fetchall()
    if set(present) >= TABLE_COLUMNS:
        return
    for statement in DDL:
        con.execute(statement)


def _rollback(con: duckdb.DuckDBPyConnection) -> None:
    """Roll back after a failed write, keeping that failure the one raised: a commit refused
    by a full disk has already ended the transaction, and "no transaction is active" would
    otherwise replace "No space left on device"."""
    with contextlib.suppress(duckdb.Error):
        con.execute("rollback")


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
            "reference/admin_units asset (orchestration.base.admin_units.load_admin_units) first"
        )


def _plan_files(
    con: duckdb.DuckDBPyConnection,
    layout: RawLayout,
    dataset_name: str,
    review_year: int,
    report: IngestReport,
) -> list[FileState]:
    """Scan the files (hash, lines, UTF-8), list the ignored ones, mark identical copies.

    Of identical files, the one already loaded with those bytes stays the one read (so a new
    copy does not flip the audit trail), else the first by name.
    """
    previously_loaded = {
        (name, sha)
        for name, sha in con.execute(
            """
            select file_name, sha256 from audit.source_files
            where review_year = ? and dataset = ? and status in ('loaded', 'quarantined')
            """,
            [review_year, dataset_name],
        ).fetchall()
    }
    entries = list(layout.files(dataset_name, review_year))
    # Two files scanned at a time: hashlib and the reads release the GIL (docs/performance.md).
    with ThreadPoolExecutor(max_workers=2) as pool:
        scans = list(pool.map(scan_entry, entries))
    states = []
    for index, (entry, scan) in enumerate(zip(entries, scans, strict=True)):
        if entry.ignored is not None:
            file_report = FileReport(
                file_name=entry.relative,
                sha256=None if scan is None else scan.sha256,
                size_bytes=None if scan is None else scan.size_bytes,
                status="ignored",
                status_reason=entry.ignored,
            )
            report.files.append(file_report)
            states.append(FileState(index=index, path=entry.path, report=file_report))
            continue
        is_csv = entry.path.suffix.lower() == ".csv"
        assert scan is not None
        file_report = FileReport(
            file_name=entry.relative,
            sha256=scan.sha256,
            size_bytes=scan.size_bytes,
            lines=scan.lines if is_csv else 0,
        )
        report.files.append(file_report)
        states.append(
            FileState(
                index=index,
                path=entry.path,
                report=file_report,
                has_control_characters=scan.has_control_characters,
                scan=scan,
            )
        )

    readable = [s for s in states if s.report.status != "ignored"]
    ordered = sorted(
        readable,
        key=lambda s: ((s.report.file_name, s.report.sha256) not in previously_loaded, s.index),
    )
    first_by_sha: dict[str, str] = {}
    for state in ordered:
        original = first_by_sha.setdefault(state.report.sha256, state.report.file_name)
        if original != state.report.file_name:
            state.report.status = "duplicate"
            state.report.status_reason = f"same bytes as {original}; not read"
    return states


def _not_utf8(state: FileState) -> None:
    """A CSV that is not UTF-8: quarantined whole; its lines counted from the bytes."""
    text = state.path.read_bytes().decode("utf-8", errors="replace").split("\n")
    if text and text[-1] == "":
        text.pop()
    blank = sum(1 for line in text[1:] if not line.strip(' \t\r,"\u00a0\ufeff'))
    state.report.title_lines = 1 if text else 0
    state.report.blank_lines = blank
    state.problem = WholeFileProblem(
        "not_utf8",
        f"not UTF-8 text (line {state.not_utf8_line}): save the file as CSV UTF-8",
        {"line": state.not_utf8_line},
    )


def _changed_during_read(states: list[FileState]) -> list[FileState]:
    """Quarantine every file read whose bytes are no longer those hashed before reading it.

    The sha256 recorded must be that of the bytes loaded: each file read is hashed again once
    every pass over it is done, and one whose hash moved (an overwrite during the run, even
    with the same size and modification time) is quarantined whole (``changed_during_read``)
    under the hash taken before, with the new one named; the next run reads it afresh.
    """
    read = [s for s in states if s.scan is not None and s.report.status == "loaded"]
    if not read:
        return []
    # hashlib releases the GIL on large buffers: two files are hashed at once.
    with ThreadPoolExecutor(max_workers=2) as pool:
        found = list(pool.map(_rehash, read))
    changed = []
    for state, now in zip(read, found, strict=True):
        if now is None:
            continue
        changed.append(state)
        state.problem = WholeFileProblem(
            "changed_during_read",
            f"the file changed while it was read (sha256 {state.scan.sha256} before, {now} "
            "after): nothing of it was loaded; the next run reads it again",
            {"sha256_before": state.scan.sha256, "sha256_after": now},
        )
        report = state.report
        report.status, report.status_reason = "quarantined", state.problem.message
        report.rows_quarantined, report.rows_loaded = report.rows_read, 0
    return changed


def _rehash(state: FileState) -> str | None:
    try:
        return changed_since(state.path, state.scan)
    except OSError as error:  # removed or unreadable since: not the bytes that were loaded
        return f"unreadable ({error.strerror or error})"


def _stage_files(
    con: duckdb.DuckDBPyConnection,
    states: list[FileState],
    spec: StageSpec,
    hmac: dict[str, bytes],
) -> None:
    """Stage the files: CSVs sharing a header line together (by DuckDB's fast scan when they
    are plain, else line by line), workbooks one by one."""
    fast: dict[tuple[str, ...], list[FileState]] = {}
    by_line: dict[tuple[str, ...], list[FileState]] = {}
    for state in states:
        if state.path.suffix.lower() != ".csv":
            try:
                stage_xlsx(con, state, spec, hmac)
            except WholeFileProblem as problem:
                if spec.typed:
                    state.problem = problem
            continue
        if spec.typed:
            state.report.title_lines = min(1, state.report.lines)
        try:
            header = tuple(read_csv_header(state.path))
        except WholeFileProblem as problem:
            # Staged without a header, so that its lines are still counted.
            if spec.typed:
                state.problem = problem
            header = ()
        plain = spec.typed and not state.has_control_characters
        (fast if plain else by_line).setdefault(header, []).append(state)
    for header, group in fast.items():
        for state in stage_csv_fast(con, group, list(header), spec, hmac):
            by_line.setdefault(header, []).append(state)
    for header, group in by_line.items():
        for state in stage_csv_lines(con, group, list(header), spec, hmac):
            if spec.typed:
                _not_utf8(state)
    if not spec.typed:
        return
    for state in states:
        if state.problem is None:
            try:
                check_header(state, spec.dataset, spec.review_year)
            except WholeFileProblem as problem:
                state.problem = problem


def _count_rows(con: duckdb.DuckDBPyConnection, states: list[FileState]) -> None:
    counts = {
        index: (read, blank, quarantined)
        for index, read, blank, quarantined in con.execute(
            """
            select s._file_index, count(*) filter (where not s._blank),
                   count(*) filter (where s._blank), coalesce(any_value(b.quarantined), 0)
            from _numbered s
            left join (select _file_index, count(*) as quarantined from _bad group by all) b
                using (_file_index)
            group by s._file_index
            """
        ).fetchall()
    }
    for state in states:
        if state.report.status in ("duplicate", "ignored"):
            continue
        read, blank, quarantined = counts.get(state.index, (0, 0, 0))
        if state.not_utf8_line is not None:
            report = state.report
            read = report.lines - report.title_lines - report.blank_lines
        else:
            state.report.blank_lines = blank
        state.report.rows_read = read
        if state.problem is not None:
            state.report.status = "quarantined"
            state.report.status_reason = state.problem.message
            state.report.rows_quarantined = read
        else:
            state.report.rows_quarantined = quarantined
            state.report.rows_loaded = read - quarantined
        if state.hidden_sheets:
            hidden = "hidden sheet(s) not read: " + ", ".join(state.hidden_sheets)
            reason = state.report.status_reason
            state.report.status_reason = f"{reason}; {hidden}" if reason else hidden


def _collect_quarantined_rows(
    con: duckdb.DuckDBPyConnection,
    spec: StageSpec,
    states: list[FileState],
    hmac: dict[str, bytes],
) -> None:
    """Give each quarantined row its masked raw record in the small ``_bad_rows`` table.

    The typed stage holds no cell text, so the files with quarantined rows (few, or none) are
    read again by the text pass, which numbers their lines the same way.
    """
    con.execute(
        """
        create or replace temp table _bad_rows (
            _file_index INTEGER, source_sheet VARCHAR, source_row INTEGER, reasons VARCHAR[],
            raw_record JSON
        )
        """
    )
    with_bad_rows = [
        state
        for state in states
        if state.report.status not in ("duplicate", "ignored")
        and state.problem is None
        and state.report.rows_quarantined
    ]
    if not with_bad_rows:
        return
    text = StageSpec(spec.dataset, spec.review_year, typed=False, limits=spec.limits)
    create_stage(con, text)
    _stage_files(con, with_bad_rows, text, hmac)
    layouts: dict[RecordLayout, list[int]] = {}
    for state in with_bad_rows:
        layouts.setdefault(raw_record_layout(state.match), []).append(state.index)
    wanted = ", ".join(str(state.index) for state in with_bad_rows)
    rows = f"""
        select b._file_index, b.source_sheet, b.source_row, b.reasons,
               t._file_index is not null as _matched, t._cells, t.head_id_hash
        from _bad b
        left join {text.rows} t on t._file_index = b._file_index and t.source_row = b.source_row
        where b._file_index in ({wanted})
    """
    con.execute(
        f"""
        insert into _bad_rows
        select _file_index, source_sheet, source_row, string_split(reasons, ','),
               case when _matched then raw_record end
        from ({raw_records_sql(rows, layouts, spec.limits.max_cell_chars)})
        """,
        hmac,
    )
    con.execute(f"drop view if exists temp.{text.rows}")
    con.execute(f"drop view if exists temp.{text.numbered}")
    con.execute(f"drop table if exists temp.{text.stage}")


def ingest_dataset(
    con: duckdb.DuckDBPyConnection,
    raw_dir: Path,
    dataset_name: str,
    review_year: int,
    *,
    run_id: str,
    pii_key: bytes,
    on_file: Callable[[int, int, int], None] | None = None,
    limits: ReadLimits | None = None,
    layout: RawLayout | None = None,
) -> IngestReport:
    """Rebuild one dataset's rows for one review year from the files on disk, in one transaction,
    unless nothing they are made from changed since they were written
    (``inputs.keep_unchanged_year``: the rows stay, ``unchanged_since`` names their run).

    ``on_file(done, total, rows)`` is called once per file when its rows are counted (progress).

    Validates the raw directory first (``RawLayoutError``), unless given its ``layout``
    (``validate_raw_dir`` of ``raw_dir`` by the caller). A year with no file left is emptied.
    Requires ``reference.admin_units`` (the ``admin_units`` asset) when there is a file to read.
    ``limits`` bounds what a file may hold (default: ``ReadLimits.from_environment()``).
    Returns per-file counts.
    """
    dataset(dataset_name)
    layout = validate_raw_dir(Path(raw_dir)) if layout is None else layout
    unit_version = unit_version_for_year(review_year)
    ensure_schemas(con)
    for macro in _MACROS:
        con.execute(macro)
    inner, outer = hmac_pads(require_key(pii_key))
    hmac = {"hmac_inner": inner, "hmac_outer": outer}
    now = datetime.now(UTC).replace(tzinfo=None)
    report = IngestReport(dataset=dataset_name, review_year=review_year)
    limits = limits or ReadLimits.from_environment()

    inputs = inputs_digest(con, pii_key=pii_key, unit_version=unit_version, limits=limits)
    if keep_unchanged_year(con, report, layout.files(dataset_name, review_year), inputs, now):
        _report_progress(report, on_file)
        return report

    try:
        states = _plan_files(con, layout, dataset_name, review_year, report)
        to_read = [s for s in states if s.report.status not in ("duplicate", "ignored")]
        if to_read:
            _require_reference(con, unit_version)
        year_bytes = sum(state.report.size_bytes or 0 for state in to_read)
        spec = StageSpec(
            dataset_name,
            review_year,
            typed=True,
            limits=limits,
            cells_first=year_bytes <= CELLS_FIRST_BYTES,
        )
        create_stage(con, spec)
        _stage_files(con, to_read, spec, hmac)
        type_staged_cells(con, spec)
        con.execute(JUDGE_SQL[dataset_name](review_year), {"unit_version": unit_version})
        _count_rows(con, states)
        _report_progress(report, on_file)
        _collect_quarantined_rows(con, spec, states, hmac)
        _changed_during_read(states)
        con.execute("begin transaction")
        try:
            write_year(con, dataset_name, review_year, unit_version, states, run_id, now)
            write_audit(con, dataset_name, review_year, states, run_id, now)
            record_inputs(con, dataset_name, review_year, inputs, run_id, now)
            con.execute("commit")
        except BaseException:
            _rollback(con)
            raise
    finally:
        for view in ("_rows", "_text_rows", "_numbered", "_text_numbered"):
            con.execute(f"drop view if exists temp.{view}")
        for table in _TEMP_TABLES:
            con.execute(f"drop table if exists temp.{table}")
    return report


def _report_progress(report: IngestReport, on_file: Callable[[int, int, int], None] | None) -> None:
    """``on_file(done, total, rows)`` once per file of the year, read or kept."""
    if on_file is not None:
        for done, file in enumerate(report.files, start=1):
            on_file(done, len(report.files), file.rows_read)


def remove_years_not_on_disk(
    con: duckdb.DuckDBPyConnection, raw_dir: Path, dataset_name: str, *, run_id: str
) -> list[int]:
    """Empty every review year of the dataset that has no entry left in the raw directory.

    Its raw and quarantine rows are deleted and its current files turn ``removed``, so a year
    folder deleted from disk leaves the warehouse even when no run names that year. Returns the
    years removed.
    """
    ensure_schemas(con)
    on_disk = {
        year for name, year in validate_raw_dir(Path(raw_dir)).entries if name == dataset_name
    }
    gone = [year for year in stored_years(con, dataset_name) if year not in on_disk]
    if not gone:
        return []
    now = datetime.now(UTC).replace(tzinfo=None)
    con.execute("begin transaction")
    try:
        for year in gone:
            write_year(con, dataset_name, year, unit_version_for_year(year), [], run_id, now)
            write_audit(con, dataset_name, year, [], run_id, now)
            record_inputs(con, dataset_name, year, None, run_id, now)
        con.execute("commit")
    except BaseException:
        _rollback(con)
        raise
    return gone
