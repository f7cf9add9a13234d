"""Writing the sample's files: survey CSVs and workbooks in each office's style, the reference
files, and a corrected re-send of a file already written."""

from __future__ import annotations

import shutil
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import xlsxwriter
from xlsxwriter.utility import xl_rowcol_to_cell

from orchestration.base.headers import (
    DEPRIVATION_COLUMNS,
    EXPORT_HEADERS,
    FLAG_COLUMNS,
    ND351_OPTIONAL_COLUMNS,
    OPTIONAL_HEADERS,
    QD59_HEALTH_ACCESS,
    SURVEY_HEADERS,
    export_header,
    normalise_header,
)
from orchestration.sample.communes import ReferenceYear
from orchestration.sample.mess import (
    CLEAN,
    HIDDEN_TEMPLATE_SHEET,
    LINE_DEFECTS,
    PII_HEADER_VARIANTS,
    FilePlan,
    SampleSummary,
    Style,
    assemble,
    break_lines,
    plan_mess,
    strip_formula_value,
    style_for,
)
from orchestration.sample.population import YearRows
from orchestration.sample.standards import CLASS_LABELS, MARK_COLUMNS

TITLE = "DANH SÁCH HỘ NGHÈO, HỘ CẬN NGHÈO NĂM {year}"
DATA_SHEET = "DS ho ngheo"


def survey_headers(table: pa.Table) -> list[tuple[str, str]]:
    """(canonical, header) of a survey file in contract order; a review under Decision 59 also
    has its access-to-health-services mark, written after the 12 marks."""
    pairs = list(EXPORT_HEADERS["survey"])
    if QD59_HEALTH_ACCESS[0] in table.column_names:
        after = [c for c, _ in pairs].index(DEPRIVATION_COLUMNS[-1]) + 1
        pairs.insert(after, QD59_HEALTH_ACCESS)
    # The optional Decree 351/2025 marks, last, in the files that carry them.
    pairs.extend(p for p in OPTIONAL_HEADERS["survey"] if p[0] in table.column_names)
    return pairs


# Some offices add the indicators Decree 351/2025 is reported to introduce from the 2026 review
# on: every third file, with the share of households each mark is drawn for.
_ND351_OPTIONAL_SHARE = {"d_digital_services": 0.2, "d_internet_access": 0.12,
                         "d_waste_collection": 0.3}  # fmt: skip


def _with_nd351_columns(plans: list[FilePlan], year: int, rng: np.random.Generator) -> None:
    if year < 2026:
        return
    for i, plan in enumerate(plans):
        if i % 3 != 1:
            continue
        for name in ND351_OPTIONAL_COLUMNS:
            marks = rng.uniform(size=plan.table.num_rows) < _ND351_OPTIONAL_SHARE[name]
            plan.table = plan.table.append_column(name, pa.array(marks))


def slugify(text: str) -> str:
    """ASCII file-name form of a Vietnamese name (``Huyện Đồng Văn`` → ``huyen_dong_van``)."""
    text = unicodedata.normalize("NFD", text.replace("Đ", "D").replace("đ", "d"))
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    return "_".join("".join(ch if ch.isalnum() else " " for ch in text).split())


def _strip_zeros(codes: pa.Array) -> pa.Array:
    """Codes as a spreadsheet shows them after reading them as numbers (``00790`` → ``790``)."""
    return pc.cast(pc.cast(codes, pa.int64()), pa.string())


def _dotted(values: pa.Array) -> pa.Array:
    """Integers as text with ``.`` grouping thousands (``1500000`` → ``1.500.000``)."""
    v = pc.cast(values, pa.int64())
    millions = pc.divide(v, 1_000_000)
    thousands = pc.divide(pc.subtract(v, pc.multiply(millions, 1_000_000)), 1000)
    units = pc.subtract(v, pc.multiply(pc.divide(v, 1000), 1000))

    def pad(x: pa.Array) -> pa.Array:
        return pc.utf8_lpad(pc.cast(x, pa.string()), 3, "0")

    big = pc.binary_join_element_wise(
        pc.cast(millions, pa.string()), pad(thousands), pad(units), "."
    )
    mid = pc.binary_join_element_wise(pc.cast(thousands, pa.string()), pad(units), ".")
    small = pc.cast(units, pa.string())
    return pc.if_else(
        pc.greater_equal(v, 1_000_000), big, pc.if_else(pc.greater_equal(v, 1000), mid, small)
    )


def _format(table: pa.Table, style: Style) -> pa.Table:
    """The typed rows as the cell text the office's file holds (NULL = empty cell)."""
    cols: dict[str, pa.Array] = {}
    for name, _ in survey_headers(table):
        col = table.column(name).combine_chunks()
        if name in ("province_code", "district_code", "commune_code") and style.dropped_zeros:
            col = _strip_zeros(col)
        elif name == "income_per_capita":
            col = _dotted(col) if style.dotted_income else pc.cast(col, pa.string())
        elif name in ("review_year", "household_size"):
            col = pc.cast(col, pa.string())
        elif name in MARK_COLUMNS or name in ND351_OPTIONAL_COLUMNS:
            no = pa.scalar("0" if style.mark == "1" else None, pa.string())
            col = pc.if_else(col, pa.scalar(style.mark, pa.string()), no)
        elif name in FLAG_COLUMNS:
            col = pc.if_else(col, pa.scalar("x", pa.string()), pa.scalar(None, pa.string()))
        cols[name] = col
    return pa.table(cols)


def _headers(style: Style, rng: np.random.Generator, table: pa.Table) -> list[tuple[str, str]]:
    """(canonical, header text) in file order, with the office's spacing/case habits."""
    pairs = survey_headers(table)
    if style.pii_variant:
        pairs = [(c, PII_HEADER_VARIANTS.get(c, h)) for c, h in pairs]
    if style.reordered:
        pairs = [pairs[i] for i in rng.permutation(len(pairs))]
    if style.header_variant:
        variants = (str.upper, lambda h: f" {h}  ", str.lower)
        pairs = [(c, variants[i % 3](h)) for i, (c, h) in enumerate(pairs)]
    return pairs


def _write_csv(path: Path, table: pa.Table, headers: list[tuple[str, str]], style: Style) -> None:
    """Header line by hand (for BOM and header variants), rows by Arrow's CSV writer."""
    path.parent.mkdir(parents=True, exist_ok=True)
    eol = "\r\n" if style.crlf else "\n"
    with path.open("wb") as handle:
        if style.bom:
            handle.write(b"\xef\xbb\xbf")
        handle.write((",".join(h for _, h in headers) + eol).encode("utf-8"))
        if table.num_rows:
            pa_csv.write_csv(
                table.select([c for c, _ in headers]),
                handle,
                pa_csv.WriteOptions(include_header=False, quoting_style="none", eol=eol),
            )


_XLSX_TITLE_ROWS = 3  # title, subtitle, empty row; the header is spreadsheet row 4


@dataclass
class _WorkbookLayout:
    """Where things landed in a written workbook (spreadsheet row numbers, 1-based)."""

    blank_row: int = 0
    formula_rows: list[int] = field(default_factory=list)  # formulas with a stored result
    formula_without_value: tuple[int, str] | None = None  # (row, cell reference)


def _write_xlsx(
    path: Path,
    table: pa.Table,
    year: int,
    district_name: str,
    style: Style,
    *,
    hidden_template: bool = False,
    formula_without_value: bool = False,
) -> _WorkbookLayout:
    """A commune-office spreadsheet: form titles above the header, a blank row inside.

    Codes are numbers (so they lost their leading zeros), incomes numeric. With
    ``hidden_template`` the first sheet is the office's blank form, hidden, and the data sit on
    the second sheet; with ``formula_without_value`` two incomes are formulas (total income over
    household size): the first with its stored result, the last without any.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    workbook.set_properties({"created": datetime(year + 1, 1, 15), "author": "UBND"})
    headers = survey_headers(table)
    template = None
    if hidden_template:
        template = workbook.add_worksheet(HIDDEN_TEMPLATE_SHEET)
        template.write_string(0, 0, TITLE.format(year=year))
        for col, (_, header) in enumerate(headers):
            template.write_string(_XLSX_TITLE_ROWS, col, header)
    sheet = workbook.add_worksheet(DATA_SHEET)
    sheet.write_string(0, 0, TITLE.format(year=year))
    sheet.write_string(1, 0, f"(Kèm theo Quyết định phê duyệt kết quả rà soát của {district_name})")
    for col, (_, header) in enumerate(headers):
        sheet.write_string(_XLSX_TITLE_ROWS, col, header)
    numeric = {"review_year", "province_code", "district_code", "commune_code", "household_size",
               "income_per_capita"}  # fmt: skip
    marks = set(MARK_COLUMNS)
    flags = set(FLAG_COLUMNS)
    data = table.to_pydict()
    blank_at = max(1, table.num_rows // 2)
    out_row = _XLSX_TITLE_ROWS + 1
    layout = _WorkbookLayout()
    formulas = {0: True, table.num_rows - 1: False} if formula_without_value else {}
    for i in range(table.num_rows):  # a loop per row is fine for the few spreadsheet files
        if i == blank_at:
            layout.blank_row = out_row + 1
            out_row += 1
        for col, (name, _) in enumerate(headers):
            value = data[name][i]
            if name == "income_per_capita" and i in formulas:
                size = int(data["household_size"][i])
                stored = int(value) if formulas[i] else None
                sheet.write_formula(out_row, col, f"={int(value) * size}/{size}", None, stored)
                if formulas[i]:
                    layout.formula_rows.append(out_row + 1)
                else:
                    cell = xl_rowcol_to_cell(out_row, col)
                    layout.formula_without_value = (out_row + 1, cell)
                continue
            if value is None or value is False:
                if name in marks and style.mark == "1":
                    sheet.write_number(out_row, col, 0)
                continue
            if name in numeric:
                sheet.write_number(out_row, col, int(value))
            elif name in marks:
                if style.mark == "1":
                    sheet.write_number(out_row, col, 1)
                else:
                    sheet.write_string(out_row, col, style.mark)
            elif name in flags:
                sheet.write_string(out_row, col, "x")
            else:
                sheet.write_string(out_row, col, str(value))
        out_row += 1
    if template is not None:
        sheet.activate()
        template.hide()
    workbook.close()
    if layout.formula_without_value is not None:
        part = f"xl/worksheets/sheet{2 if hidden_template else 1}.xml"
        strip_formula_value(path, part, layout.formula_without_value[1])
    return layout


def survey_files_for_year(
    rows: list[YearRows], year: int, relname: dict[object, tuple[str, str]]
) -> list[FilePlan]:
    """Split one group-year's rows into per-file tables, sorted like a commune office sorts."""
    table = pa.concat_tables([r.table for r in rows])
    keys = np.concatenate([r.file_key for r in rows]).astype(str)
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    table = table.take(pa.array(order))
    bounds = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1], True])
    plans = []
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        relpath, label = relname[keys[a]]
        part = table.slice(int(a), int(b - a)).sort_by(
            [("commune_code", "ascending"), ("village", "ascending"),
             ("household_code", "ascending")]
        )  # fmt: skip
        plans.append(FilePlan(f"survey/{year}/{relpath}", part, CLEAN, label))
    return sorted(plans, key=lambda p: p.relpath)


def write_group_year(
    raw_dir: Path,
    plans: list[FilePlan],
    year: int,
    seed: int,
    messy: bool,
    carries_mess: bool,
    kinds: list[str],
    missing_column_year: bool,
    old_code: str | None,
    summary: SampleSummary,
    structural: frozenset[str] = frozenset(),
) -> None:
    """Write one group's survey files for one year, with the mess assigned to it.

    ``structural``: the defects of ``mess.STRUCTURAL_MESS`` this year's files carry.
    """
    rng = np.random.default_rng([seed, 3, year, len(plans)])
    _with_nd351_columns(plans, year, np.random.default_rng([seed, 9, year, len(plans)]))
    formats = summary.expected_mess["formats"]
    for i, plan in enumerate(plans):
        plan.style = style_for(i, year, messy)
    if messy and carries_mess:
        sized = [p for p in plans if p.table.num_rows >= 10] or plans
        target = min(sized, key=lambda p: (p.table.num_rows, p.relpath))
        target.style = Style(xlsx=True, mark="1" if year % 2 else "X")
        target.relpath = target.relpath[: -len(".csv")] + ".xlsx"
    if messy and carries_mess and "pii_header_variants" in structural:
        # The largest CSV whose headers are otherwise exact, so the variant is the only change.
        exact = [p for p in plans if not p.style.xlsx and not p.style.header_variant] or [
            p for p in plans if not p.style.xlsx
        ]
        chosen = max(exact, key=lambda p: (p.table.num_rows, p.relpath))
        chosen.style = replace(chosen.style, pii_variant=True)
    for plan in plans:
        if not plan.style.xlsx:
            plan.formatted = _format(plan.table, plan.style)
    if messy and carries_mess:
        line_defects = [kind for kind, reason in LINE_DEFECTS.items() if reason in structural]
        plan_mess(plans, year, [*kinds, *line_defects], rng, old_code)

    written_rows = 0
    clean_candidates = []
    for plan in plans:
        path = raw_dir / plan.relpath
        style = plan.style
        if style.xlsx:
            hidden = "hidden_sheet" in structural
            layout = _write_xlsx(
                path, plan.table, year, plan.district_name, style, hidden_template=hidden,
                formula_without_value="formula_without_value" in structural,
            )  # fmt: skip
            formats["xlsx"].append(plan.relpath)
            formats["xlsx_blank_rows"].append({"file": plan.relpath, "row": layout.blank_row})
            for row in layout.formula_rows:
                formats["formulas_with_value"].append({"file": plan.relpath, "row": row})
            if layout.formula_without_value is not None:
                row, cell = layout.formula_without_value
                summary.expected_mess["bad_rows"].append(
                    {"file": plan.relpath, "sheet": DATA_SHEET, "row": row,
                     "reason": "formula_without_value", "review_year": year,
                     "detail": f"income cell {cell} is a formula with no stored result"}
                )  # fmt: skip
            if hidden:
                summary.expected_mess["hidden_sheets"].append(
                    {"file": plan.relpath, "review_year": year,
                     "hidden_sheet": HIDDEN_TEMPLATE_SHEET, "data_sheet": DATA_SHEET,
                     "rows": plan.table.num_rows}
                )  # fmt: skip
            written_rows += plan.table.num_rows
        else:
            headers = _headers(style, rng, plan.table)
            table, bad = assemble(plan, first_data_row=2)
            _write_csv(path, table, headers, style)
            broken = {b["row"]: b["line_defect"] for b in bad if "line_defect" in b}
            if broken:
                name_column = [c for c, _ in headers].index("head_name")
                break_lines(path, broken, name_column)
            if style.pii_variant:
                summary.expected_mess["pii_header_variants"].append(
                    {"file": plan.relpath, "review_year": year,
                     "headers": [PII_HEADER_VARIANTS[c] for c in ("head_name", "head_id_number")]}
                )  # fmt: skip
            written_rows += table.num_rows
            for b in bad:
                if b["reason"] is not None:
                    summary.expected_mess["bad_rows"].append(
                        {"file": plan.relpath, "review_year": year, **b}
                    )
            if messy:
                formats["bom" if style.bom else "no_bom"].append(plan.relpath)
                for flag, key in ((style.crlf, "crlf"), (style.dropped_zeros, "dropped_zeros"),
                                  (style.dotted_income, "dotted_income"),
                                  (style.header_variant, "header_variants"),
                                  (style.reordered, "reordered_columns")):  # fmt: skip
                    if flag:
                        formats[key].append(plan.relpath)
                formats["mark_styles"][style.mark].append(plan.relpath)
            if not bad and table.num_rows:
                clean_candidates.append(plan)
        summary.files.append(plan.relpath)
    summary.rows["survey"][year] = summary.rows["survey"].get(year, 0) + written_rows

    if messy and carries_mess and clean_candidates:
        source = clean_candidates[-1]
        copy = source.relpath[: -len(".csv")] + "_gui_lai.csv"
        shutil.copyfile(raw_dir / source.relpath, raw_dir / copy)
        summary.files.append(copy)
        summary.rows["survey"][year] += source.table.num_rows
        summary.expected_mess["identical_resends"].append(
            {"file": copy, "same_as": source.relpath, "review_year": year,
             "rows": source.table.num_rows}
        )  # fmt: skip
    if messy and carries_mess and missing_column_year:
        source = max(
            (p for p in plans if not p.style.xlsx), key=lambda p: (p.table.num_rows, p.relpath)
        )
        part = _format(source.table.slice(0, min(6, source.table.num_rows)), CLEAN)
        relpath = f"survey/{year}/bo_sung_{Path(source.relpath).stem}.csv"
        headers = [(c, h) for c, h in survey_headers(part) if c != "household_code"]
        _write_csv(raw_dir / relpath, part, headers, CLEAN)
        summary.files.append(relpath)
        summary.rows["survey"][year] += part.num_rows
        summary.expected_mess["bad_files"].append(
            {"file": relpath, "review_year": year, "reason": "missing_required_column",
             "missing_column": "Mã hộ", "rows": part.num_rows}
        )  # fmt: skip


# --------------------------------------------------------------------------------------------
# Denominators and difficult areas
# --------------------------------------------------------------------------------------------


def _write_small_csv(path: Path, header: Sequence[str], columns: dict[str, pa.Array]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.table(columns)
    with path.open("wb") as handle:
        handle.write((",".join(header) + "\n").encode("utf-8"))
        pa_csv.write_csv(
            table, handle, pa_csv.WriteOptions(include_header=False, quoting_style="none")
        )


def write_reference_files(
    raw_dir: Path, references: list[ReferenceYear], summary: SampleSummary
) -> None:
    """``commune_totals`` (every resident household) and ``difficult_areas`` for each year."""
    for ref in references:
        m = len(ref.codes)
        year_col = pa.array(np.full(m, ref.year, dtype=np.int64))
        codes = pa.array(ref.codes, pa.string())
        path = f"commune_totals/{ref.year}.csv"
        columns = {
            "y": year_col,
            "c": codes,
            "h": pa.array(ref.households),
            "p": pa.array(ref.people),
        }
        header = [header for _, header in EXPORT_HEADERS["commune_totals"]]
        if ref.ethnic_minority_households is not None:
            # The optional ethnic-minority total; an empty cell where a commune does not give it.
            minority = ref.ethnic_minority_households
            columns["m"] = pa.array(np.where(minority >= 0, minority, 0), mask=minority < 0)
            header.append(export_header("commune_totals", "total_ethnic_minority_households"))
        _write_small_csv(raw_dir / path, header, columns)
        summary.files.append(path)
        summary.rows["commune_totals"][ref.year] = m
        path = f"difficult_areas/{ref.year}.csv"
        _write_small_csv(
            raw_dir / path,
            [header for _, header in EXPORT_HEADERS["difficult_areas"]],
            {"y": year_col, "c": codes,
             "x": pa.array(np.where(ref.extremely_difficult, "x", None), pa.string()),
             "d": pa.array(ref.difficult_villages), "v": pa.array(ref.villages)},
        )  # fmt: skip
        summary.files.append(path)
        summary.rows["difficult_areas"][ref.year] = m


def write_corrected_resend(raw_dir: Path, review_year: int, *, seed: int = 2025) -> Path:
    """Overwrite one survey CSV of ``review_year`` under the same name with a corrected version.

    The commune office found a wrong income: one clean household row (valid cells, its code
    listed nowhere else that year) gets its income raised by 250,000 đồng, written in the file's
    own style (dotted or plain); everything else, BOM and line endings included, is kept byte
    for byte. Re-sent copies (``*_gui_lai.csv``), files that have such a copy, and supplementary
    files are never chosen, so the new bytes match no other file and no row turns duplicate.
    """
    folder = Path(raw_dir) / "survey" / str(review_year)
    every_csv = sorted(folder.glob("*.csv"))
    candidates = [
        p
        for p in every_csv
        if "_gui_lai" not in p.name
        and "bo_sung" not in p.name
        and not p.with_name(f"{p.stem}_gui_lai.csv").exists()
    ]
    if not candidates:
        raise FileNotFoundError(f"no survey CSV for {review_year} under {folder}")
    rng = np.random.default_rng([seed, 5, review_year])
    start = int(rng.integers(len(candidates)))
    for path in candidates[start:] + candidates[:start]:
        data = path.read_bytes()
        bom = data.startswith(b"\xef\xbb\xbf")
        text = data[3:].decode("utf-8") if bom else data.decode("utf-8")
        eol = "\r\n" if "\r\n" in text else "\n"
        lines = text.split(eol)
        header = [SURVEY_HEADERS.get(normalise_header(h)) for h in lines[0].split(",")]
        if "household_code" not in header or "income_per_capita" not in header:
            continue
        at = {name: i for i, name in enumerate(header) if name}
        rows = [line.split(",") for line in lines[1:]]
        counts = Counter(cells[at["household_code"]] for cells in rows if len(cells) == len(header))
        for i, cells in enumerate(rows, start=1):
            if len(cells) != len(header) or not _is_clean_row(cells, at, review_year):
                continue
            code = cells[at["household_code"]]
            if counts[code] != 1 or any(
                code.encode() in other.read_bytes() for other in every_csv if other != path
            ):
                continue
            income = cells[at["income_per_capita"]]
            new_income = int(income.replace(".", "")) + 250_000
            dotted = "." in income
            cells[at["income_per_capita"]] = (
                f"{new_income:,}".replace(",", ".") if dotted else str(new_income)
            )
            lines[i] = ",".join(cells)
            out = eol.join(lines).encode("utf-8")
            path.write_bytes(b"\xef\xbb\xbf" + out if bom else out)
            return path
    raise ValueError(f"no survey CSV of {review_year} has a row that can be corrected")


def _is_clean_row(cells: list[str], at: dict[str, int], review_year: int) -> bool:
    """Whether a CSV row has none of the defects the generator injects (for the resend)."""
    income = cells[at["income_per_capita"]].replace(".", "")
    size = cells[at["household_size"]]
    return (
        cells[at["review_year"]] == str(review_year)
        and bool(cells[at["household_code"]])
        and income.isdigit()
        and size.isdigit()
        and int(size) >= 1
        and cells[at["area_type"]] in ("Nông thôn", "Thành thị", "Đô thị")
        and cells[at["head_sex"]] in ("Nam", "Nữ")
        and cells[at["reported_class"]] in CLASS_LABELS
        and all(cells[at[c]] in ("", "x", "X", "1", "0") for c in DEPRIVATION_COLUMNS)
        and all(cells[at[c]] in ("", "x") for c in FLAG_COLUMNS)
        and not cells[at["commune_code"]].startswith("99999")
        and not cells[at["household_code"]][8:].startswith("9")
    )
