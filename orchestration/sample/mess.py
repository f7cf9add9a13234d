"""The mess a data office really sends, injected on purpose and recorded row by row.

Every injected defect is listed in ``SampleSummary.expected_mess`` (the sample's manifest), so
ingest tests can check exactly what is quarantined and why.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa


@dataclass
class SampleSummary:
    """What was written, so tests and benchmarks can check the pipeline against it.

    ``expected_mess`` keys: ``bad_rows`` (one dict per row that must be quarantined: ``file``,
    ``row`` as a person sees it (the line of a CSV, the spreadsheet row of a workbook, with its
    ``sheet``), ``reason``, ``review_year``, ``detail``; a duplicated household lists every one of
    its rows), ``bad_files`` (whole files to quarantine), ``identical_resends`` (byte copies that
    must be read once), ``hidden_sheets`` (workbooks whose first sheet is a hidden template:
    ``file``, ``hidden_sheet``, ``data_sheet``, ``rows`` on the data sheet),
    ``pii_header_variants`` (files naming the personal-data columns by a variant: ``file``,
    ``headers``), ``formats`` (which files carry BOM, title rows, lost zeros, dotted incomes,
    header variants, each mark style, formulas with a stored result).
    """

    raw_dir: Path
    scale: str
    seed: int
    years: tuple[int, ...]
    messy: bool
    files: list[str] = field(default_factory=list)
    rows: dict[str, dict[int, int]] = field(default_factory=dict)
    expected_mess: dict = field(default_factory=dict)
    expected_loaded_rows: dict[int, int] = field(default_factory=dict)

    def expected_quarantined_rows(self) -> set[tuple[str, int, str]]:
        """(file, row, reason) of every injected bad row."""
        return {(r["file"], r["row"], r["reason"]) for r in self.expected_mess.get("bad_rows", [])}

    def structural_mess(self) -> list[dict]:
        """One entry per injected structural defect (``STRUCTURAL_MESS``), for a test or a
        summary to find after a run: ``kind``, ``review_year``, ``file``, and where it must show
        (``audit.quarantine`` with ``row`` and ``reason``, or ``audit.source_files`` with the
        ``status_reason`` text it must name, or a file whose personal-data ``headers`` are
        variants and must load without the name or id in clear)."""
        mess = self.expected_mess
        found = [
            {"kind": r["reason"], "review_year": r["review_year"], "file": r["file"],
             "where": "audit.quarantine", "row": r["row"], "reason": r["reason"]}
            for r in mess.get("bad_rows", [])
            if r["reason"] in ("malformed_quoting", "missing_fields", "formula_without_value")
        ]  # fmt: skip
        found += [
            {"kind": "hidden_sheet", "review_year": h["review_year"], "file": h["file"],
             "where": "audit.source_files", "status_reason": h["hidden_sheet"]}
            for h in mess.get("hidden_sheets", [])
        ]  # fmt: skip
        found += [
            {"kind": "pii_header_variants", "review_year": v["review_year"], "file": v["file"],
             "where": "loaded", "headers": v["headers"]}
            for v in mess.get("pii_header_variants", [])
        ]  # fmt: skip
        return sorted(found, key=lambda entry: STRUCTURAL_MESS.index(entry["kind"]))


@dataclass(frozen=True)
class Style:
    """How one exporting office writes its file."""

    bom: bool = False
    crlf: bool = False
    dropped_zeros: bool = False
    dotted_income: bool = False
    mark: str = "x"
    header_variant: bool = False
    reordered: bool = False
    xlsx: bool = False
    pii_variant: bool = False  # the head's name and id under another usual header


# Defects of a file's structure rather than of a cell's value, each placed in one review year of
# the messy group (``structural_mess_years``): a CSV line whose quoting breaks, a CSV line with
# fewer cells than the header, a workbook whose first sheet is a hidden template, a formula cell
# without a stored result, and the personal-data columns under variant headers.
STRUCTURAL_MESS = (
    "malformed_quoting",
    "missing_fields",
    "hidden_sheet",
    "formula_without_value",
    "pii_header_variants",
)
# The line defects, written with the structural defect they go with. Two stray quotes: one inside
# a cell (``Nguyễn "Văn A``), which opens no quoted cell, so the line loads with the quote as text
# (no quarantine expected); and one opening a cell and never closing (``"Nguyễn Văn A``), which a
# lenient reader follows into the next lines (the defect that once merged a thousand lines into
# one quarantined row): ``malformed_quoting``.
LINE_DEFECTS = {
    "quote_inside_cell": "malformed_quoting",
    "quote_never_closes": "malformed_quoting",
    "short_row": "missing_fields",
}
PII_HEADER_VARIANTS = {"head_name": "Họ và tên chủ hộ", "head_id_number": "CCCD chủ hộ"}
"""Variants the input contract lists for the personal-data columns (the ingest knows them)."""
HIDDEN_TEMPLATE_SHEET = "Mau"


def structural_mess_years(years: tuple[int, ...]) -> dict[str, int]:
    """The review year that carries each structural defect, spread over the years written."""
    return {kind: years[i % len(years)] for i, kind in enumerate(STRUCTURAL_MESS)}


CLEAN = Style()


def style_for(index: int, year: int, messy: bool) -> Style:
    """Rotate the habits of different offices over a year's files (deterministic)."""
    if not messy:
        return CLEAN
    j = index + year
    return Style(
        bom=j % 2 == 0,
        crlf=j % 4 == 0,
        dropped_zeros=j % 5 == 1,
        dotted_income=j % 4 == 2,
        mark=("x", "X", "1")[j % 3],
        header_variant=j % 6 == 3,
        reordered=j % 7 == 4,
    )


@dataclass
class Insertion:
    before: int  # index of the original row it goes before (num_rows = at the end)
    row: dict
    reason: str | None  # None for a copy whose reason is recorded with its original
    detail: str
    line_defect: str | None = None  # a ``LINE_DEFECTS`` kind, made on the written text


@dataclass
class FilePlan:
    relpath: str
    table: pa.Table  # typed, sorted
    style: Style
    district_name: str
    formatted: pa.Table | None = None
    insertions: list[Insertion] = field(default_factory=list)
    flagged: list[tuple[int, str, str]] = field(
        default_factory=list
    )  # original row, reason, detail


BAD_ROW_KINDS = (
    "year_mismatch",
    "invalid_commune_code",
    "missing_household_code",
    "duplicate_household",
    "invalid_household_size",
    "invalid_income_negative",
    "duplicate_household_across_files",
    "invalid_deprivation_mark",
    "invalid_income_text",
    "invalid_area_type",
    "invalid_flag_mark",
    "invalid_head_sex",
    "invalid_reported_class",
)


def _break_row(kind: str, row: dict, year: int, old_code: str | None) -> tuple[dict, str, str]:
    """A copy of ``row`` with exactly one problem; returns (row, reason code, what was done)."""
    bad = dict(row)
    if kind == "year_mismatch":
        bad["review_year"] = str(year - 1)
        return bad, kind, "review year of the previous review"
    if kind == "invalid_commune_code":
        if year >= 2025 and old_code:
            bad["commune_code"] = old_code
            return bad, kind, f"pre-2025 commune {old_code} no longer exists in 2025"
        bad["commune_code"] = "99999"
        return bad, kind, "commune code 99999 does not exist"
    if kind == "missing_household_code":
        bad["household_code"] = None
        return bad, kind, "empty household code"
    if kind == "invalid_household_size":
        bad["household_size"] = "0"
        return bad, kind, "household size 0"
    if kind == "invalid_income_negative":
        bad["income_per_capita"] = "-350000"
        return bad, "invalid_income", "negative income"
    if kind == "invalid_income_text":
        bad["income_per_capita"] = "không rõ"
        return bad, "invalid_income", "income is text"
    if kind == "invalid_deprivation_mark":
        bad["d_water"] = "có"
        return bad, kind, "deprivation mark 'có'"
    if kind == "invalid_flag_mark":
        bad["meritorious_family"] = "không"
        return bad, kind, "flag mark 'không'"
    if kind == "invalid_area_type":
        bad["area_type"] = "Miền núi"
        return bad, kind, "area type 'Miền núi'"
    if kind == "invalid_head_sex":
        bad["head_sex"] = "M"
        return bad, kind, "head sex 'M'"
    # Line defects: the line itself is broken once written (``break_lines``).
    if kind == "quote_inside_cell":
        # A quote inside an unquoted cell opens nothing: the line is one record and loads, the
        # quote being part of the name (which is never stored). No quarantine is expected.
        return bad, None, "a quote inside the head's name, in an unquoted cell"
    if kind == "quote_never_closes":
        return bad, LINE_DEFECTS[kind], "a quote opens the head's name and never closes"
    if kind == "short_row":
        return bad, LINE_DEFECTS[kind], "the line stops after half the header's cells"
    if kind == "invalid_reported_class":
        bad["reported_class"] = "Hộ thoát nghèo"
        return bad, kind, "reported class 'Hộ thoát nghèo'"
    raise ValueError(kind)


def plan_mess(
    plans: list[FilePlan],
    year: int,
    kinds: list[str],
    rng: np.random.Generator,
    old_code: str | None,
) -> None:
    """Insert the bad rows of ``kinds`` into the year's CSV files (recorded on each plan)."""
    candidates = sorted(
        (p for p in plans if not p.style.xlsx and p.table.num_rows >= 5),
        key=lambda p: (-p.table.num_rows, p.relpath),
    )
    if not candidates:
        return
    used: dict[str, set[int]] = {}
    counter = 0

    def pick_row(plan: FilePlan) -> int:
        taken = used.setdefault(plan.relpath, set())
        free = [i for i in range(plan.table.num_rows) if i not in taken]
        i = int(free[int(rng.integers(len(free)))])
        taken.add(i)
        return i

    def row_of(plan: FilePlan, i: int) -> dict:
        return plan.formatted.slice(i, 1).to_pylist()[0]

    for t, kind in enumerate(kinds):
        plan = candidates[t % len(candidates)]
        n = plan.table.num_rows
        if kind == "duplicate_household":
            i = pick_row(plan)
            plan.flagged.append((i, "duplicate_household", "same household twice in a file"))
            at = int(rng.integers(i + 1, n + 1))
            copy = Insertion(at, row_of(plan, i), "duplicate_household", "copy in the file")
            plan.insertions.append(copy)
            continue
        if kind == "duplicate_household_across_files":
            if len(candidates) < 2:
                continue
            source, target = candidates[0], candidates[1]
            i = pick_row(source)
            source.flagged.append(
                (i, "duplicate_household", f"household also listed in {target.relpath}")
            )
            at = int(rng.integers(0, target.table.num_rows + 1))
            detail = f"household also listed in {source.relpath}"
            target.insertions.append(
                Insertion(at, row_of(source, i), "duplicate_household", detail)
            )
            continue
        i = pick_row(plan)
        base = row_of(plan, i)
        counter += 1
        code = base["household_code"]
        base["household_code"] = f"{code[:8]}9{counter:04d}"
        bad, reason, detail = _break_row(kind, base, year, old_code)
        at = int(rng.integers(0, n + 1))
        line_defect = kind if kind in LINE_DEFECTS else None
        plan.insertions.append(Insertion(at, bad, reason, detail, line_defect))


def assemble(plan: FilePlan, first_data_row: int) -> tuple[pa.Table, list[dict]]:
    """The formatted table with insertions in place, and the bad rows with final row numbers."""
    table = plan.formatted
    inserts = sorted(enumerate(plan.insertions), key=lambda e: (e[1].before, e[0]))
    pieces, bad, last = [], [], 0
    for shift, (_, ins) in enumerate(inserts):
        if ins.before > last:
            pieces.append(table.slice(last, ins.before - last))
            last = ins.before
        pieces.append(pa.Table.from_pylist([ins.row], schema=table.schema))
        final = ins.before + shift
        if ins.reason or ins.line_defect:
            # A line defect without a reason (a quote inside a cell) is broken on the written
            # text but expected to load: the writer keeps it out of the bad rows.
            entry = {"row": final + first_data_row, "reason": ins.reason, "detail": ins.detail}
            if ins.line_defect:
                entry["line_defect"] = ins.line_defect
            bad.append(entry)
    if last < table.num_rows:
        pieces.append(table.slice(last))
    befores = np.array(sorted(i.before for i in plan.insertions), dtype=np.int64)
    for i, reason, detail in plan.flagged:
        final = i + int(np.searchsorted(befores, i, side="right"))
        bad.append({"row": final + first_data_row, "reason": reason, "detail": detail})
    out = pa.concat_tables(pieces) if pieces else table
    return out, bad


def break_lines(path: Path, defects: dict[int, str], name_column: int) -> None:
    """Break the given lines of a written CSV (line number → defect), byte for byte otherwise.

    ``quote_inside_cell`` puts a quote inside the head's name (``Nguyễn "Văn A``), the way a name
    typed with a nickname in quotes arrives; ``quote_never_closes`` opens the name cell with a
    quote (``"Nguyễn Văn A``); ``short_row`` cuts the line to half its cells. Arrow's CSV writer
    refuses all three, so they are made on the written text.
    """
    data = path.read_bytes()
    lines = data.split(b"\n")
    for number, defect in defects.items():
        line = lines[number - 1]
        end = b"\r" if line.endswith(b"\r") else b""
        cells = line[: len(line) - len(end)].decode("utf-8").split(",")
        if defect == "quote_inside_cell":
            first, _, rest = cells[name_column].partition(" ")
            cells[name_column] = f'{first} "{rest}'
        elif defect == "quote_never_closes":
            cells[name_column] = f'"{cells[name_column]}'
        elif defect == "short_row":
            cells = cells[: len(cells) // 2]
        else:
            raise ValueError(defect)
        lines[number - 1] = ",".join(cells).encode("utf-8") + end
    path.write_bytes(b"\n".join(lines))


def strip_formula_value(path: Path, sheet_part: str, cell: str) -> None:
    """Remove the stored result of one formula cell from a written workbook.

    xlsxwriter always stores a result (0 when none is given), and a reader then sees 0: the
    defect the contract guards against is a formula saved without any result, as files written
    by scripts or saved without recalculation arrive. The archive is rewritten entry by entry
    with the same names, dates and compression, so the bytes stay reproducible.
    """
    with zipfile.ZipFile(path) as source:
        entries = [(info, source.read(info)) for info in source.infolist()]
    pattern = re.compile(rf'(<c r="{cell}"[^>]*>)(<f>[^<]*</f>)<v>[^<]*</v>(</c>)'.encode())
    with zipfile.ZipFile(path, "w") as target:
        for info, content in entries:
            if info.filename == sheet_part:
                content, found = pattern.subn(rb"\1\2\3", content)
                if found != 1:
                    raise ValueError(f"no formula cell {cell} in {path.name}:{sheet_part}")
            target.writestr(info, content)
