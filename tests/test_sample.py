"""The synthetic review-export generator: contract layout, every kind of mess, determinism, and
magnitudes that look like the published ones (computed from the written files, not trusted)."""

from __future__ import annotations

import csv
import re
import shutil
import unicodedata
import zipfile
from collections import Counter
from pathlib import Path

import duckdb
import pytest
from python_calamine import CalamineWorkbook

from orchestration.base.admin_units import admin_unit_tables
from orchestration.base.headers import (
    DEPRIVATION_COLUMNS,
    EXPORT_HEADERS,
    FLAG_COLUMNS,
    HEADER_VARIANTS,
    OPTIONAL_HEADERS,
    QD59_HEALTH_ACCESS,
    normalise_header,
)
from orchestration.base.headers import SURVEY_HEADERS as INGEST_HEADERS
from orchestration.base.settings import DBT_PROJECT_DIR
from orchestration.sample import (
    DEMO_PROVINCES,
    SCALES,
    NoStandardError,
    Scale,
    generate_sample,
    write_corrected_resend,
)
from orchestration.sample.mess import STRUCTURAL_MESS

YEARS = (2021, 2022, 2023, 2024, 2025)
SURVEY_HEADERS = EXPORT_HEADERS["survey"]
DEPRIVATION_HEADERS = [(c, h) for c, h in SURVEY_HEADERS if c in DEPRIVATION_COLUMNS]
# The totals carry the optional ethnic-minority households column (Tổng số hộ DTTS) last.
COMMUNE_TOTALS_HEADER = [
    *(h for _, h in EXPORT_HEADERS["commune_totals"]),
    *(h for _, h in OPTIONAL_HEADERS["commune_totals"]),
]
DIFFICULT_AREAS_HEADER = [h for _, h in EXPORT_HEADERS["difficult_areas"]]
CANONICAL = {
    unicodedata.normalize("NFC", h).strip().casefold(): c
    for c, h in (*SURVEY_HEADERS, *HEADER_VARIANTS["survey"], QD59_HEALTH_ACCESS)
}
MARKS = set(DEPRIVATION_COLUMNS)
FLAGS = set(FLAG_COLUMNS)


def _norm(header: str) -> str:
    return " ".join(unicodedata.normalize("NFC", header).split()).casefold()


def _read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """Header texts and rows keyed by canonical name, read the way the contract describes: one
    physical line is one record. A row also holds ``_line`` (its line number), ``_cells`` (how
    many cells it has) and ``_broken`` (whether a quote that opens a cell fails to close on the
    line; a quote inside an unquoted cell is text)."""
    lines = path.read_bytes().decode("utf-8-sig").splitlines()
    header = next(csv.reader([lines[0]]))
    names = [CANONICAL.get(_norm(h), h) for h in header]
    rows = []
    for number, line in enumerate(lines[1:], start=2):
        cells = next(csv.reader([line]))
        try:
            next(csv.reader([line], strict=True))
            broken = False
        except csv.Error:
            broken = True
        row = dict(zip(names, cells, strict=False))
        rows.append({**row, "_line": number, "_cells": len(cells), "_broken": broken})
    return header, rows


def _data_sheet(path: Path) -> str:
    """The sheet the contract reads: the first visible one holding a header row."""
    workbook = CalamineWorkbook.from_path(str(path))
    for sheet in workbook.sheets_metadata:
        if str(sheet.visible).endswith("Visible"):
            rows = workbook.get_sheet_by_name(sheet.name).to_python(skip_empty_area=False)
            if any("Mã hộ" in r for r in rows):
                return sheet.name
    raise AssertionError(f"{path.name} has no visible sheet with a header row")


def _xlsx_rows(path: Path) -> list[list[object]]:
    workbook = CalamineWorkbook.from_path(str(path))
    return workbook.get_sheet_by_name(_data_sheet(path)).to_python(skip_empty_area=False)


def _formulas_without_value(path: Path) -> list[int]:
    """Spreadsheet rows holding a formula cell with no stored result, read from the XML."""
    with zipfile.ZipFile(path) as archive:
        found = []
        for name in archive.namelist():
            if name.startswith("xl/worksheets/sheet"):
                xml = archive.read(name).decode("utf-8")
                for ref, body in re.findall(r'<c r="([A-Z]+\d+)"[^>]*>(.*?)</c>', xml):
                    if "<f>" in body and "<v>" not in body:
                        found.append(int(re.sub(r"[A-Z]", "", ref)))
        return found


def _survey_files(raw: Path, year: int) -> list[Path]:
    return sorted((raw / "survey" / str(year)).iterdir())


def _units_by_version() -> dict[str, set[str]]:
    units = admin_unit_tables().units.to_pydict()
    out: dict[str, set[str]] = {"pre2025": set(), "2025": set()}
    for version, code in zip(units["unit_version"], units["commune_code"], strict=True):
        out[version].add(code)
    return out


def _defects(row: dict[str, str], year: int, communes: set[str]) -> set[str]:
    """Reason codes a row deserves under the contract (independent of the generator)."""
    if row["_broken"]:
        return {"malformed_quoting"}  # the line is quarantined whole, its cells unread
    if row["_cells"] < len(SURVEY_HEADERS):
        return {"missing_fields"}
    found = set()
    if row["review_year"] != str(year):
        found.add("year_mismatch")
    if row["commune_code"].zfill(5) not in communes:
        found.add("invalid_commune_code")
    if not row["household_code"]:
        found.add("missing_household_code")
    if not row["household_size"].isdigit() or int(row["household_size"]) < 1:
        found.add("invalid_household_size")
    if not re.fullmatch(r"\d+|\d{1,3}(\.\d{3})+", row["income_per_capita"]):
        found.add("invalid_income")
    if any(row[c] not in ("", "x", "X", "1", "0") for c in MARKS):
        found.add("invalid_deprivation_mark")
    if any(row[c] not in ("", "x", "X") for c in FLAGS):
        found.add("invalid_flag_mark")
    if row["area_type"] not in ("Nông thôn", "Thành thị", "Đô thị"):
        found.add("invalid_area_type")
    if row["head_sex"] not in ("Nam", "Nữ"):
        found.add("invalid_head_sex")
    # An empty approved class is accepted (the class by rule stands in).
    if row["reported_class"] not in (
        "Hộ nghèo",
        "Hộ cận nghèo",
        "Hộ có mức sống trung bình",
        "Hộ không nghèo",
        "",
    ):
        found.add("invalid_reported_class")
    return found


@pytest.fixture(scope="module")
def sample_clean(tmp_path_factory):
    """A clean sample of the two demo provinces at 3 % of households (demo-like, faster)."""
    raw = tmp_path_factory.mktemp("sample_clean") / "raw"
    scale = Scale("test_3pct", DEMO_PROVINCES, 0.03)
    return generate_sample(raw, scale=scale, seed=11, years=(2022, 2023, 2024, 2025), messy=False)


def test_layout_and_headers_follow_the_contract(sample_tiny):
    raw = sample_tiny.raw_dir
    expected = {c for c, _ in SURVEY_HEADERS}
    for year in YEARS:
        for name, header in (
            ("commune_totals", COMMUNE_TOTALS_HEADER),
            ("difficult_areas", DIFFICULT_AREAS_HEADER),
        ):
            lines = (raw / name / f"{year}.csv").read_text(encoding="utf-8").splitlines()
            assert lines[0] == ",".join(header)
            assert len(lines) > 100
        files = _survey_files(raw, year)
        assert len(files) >= 10
        for path in files:
            assert re.fullmatch(r"[a-z0-9_]+\.(csv|xlsx)", path.name), path.name
            if path.suffix == ".xlsx":
                header = next(r for r in _xlsx_rows(path) if "Mã hộ" in r)
            else:
                header = _read_csv(path)[0]
            got = {CANONICAL.get(_norm(h), h) for h in header}
            if path.name.startswith("bo_sung_"):
                assert got == expected - {"household_code"}
            else:
                assert got == expected, path
    assert sorted(sample_tiny.files) == sorted(
        p.relative_to(raw).as_posix() for p in raw.rglob("*") if p.is_file()
    )


def test_every_kind_of_mess_is_present(sample_tiny):
    raw = sample_tiny.raw_dir
    mess = sample_tiny.expected_mess
    formats = mess["formats"]
    csvs = [p for y in YEARS for p in _survey_files(raw, y) if p.suffix == ".csv"]
    assert any(p.read_bytes().startswith(b"\xef\xbb\xbf") for p in csvs)
    assert any(not p.read_bytes().startswith(b"\xef\xbb\xbf") for p in csvs)
    assert any(b"\r\n" in p.read_bytes() for p in csvs)

    for year in YEARS:
        xlsx = [p for p in _survey_files(raw, year) if p.suffix == ".xlsx"]
        assert xlsx, f"no spreadsheet in {year}"
        rows = _xlsx_rows(xlsx[0])
        assert str(rows[0][0]).startswith(f"DANH SÁCH HỘ NGHÈO, HỘ CẬN NGHÈO NĂM {year}")
        header_at = next(i for i, r in enumerate(rows) if "Mã hộ" in r)
        assert header_at >= 2
        assert any(all(c == "" for c in r) for r in rows[header_at + 1 :]), "blank row inside"

    cells = Counter()
    for path in csvs:
        header, rows = _read_csv(path)
        if [h for h in header if h != h.strip() or (h.isupper() and len(h) > 3)]:
            cells["header_variant"] += 1
        if [CANONICAL.get(_norm(h)) for h in header] != [c for c, _ in SURVEY_HEADERS]:
            cells["column_order_or_set_changed"] += 1
        for row in rows:
            if row["_cells"] < len(header):
                continue
            cells["province " + row["province_code"]] += 1
            if re.fullmatch(r"\d{1,3}(\.\d{3})+", row["income_per_capita"]):
                cells["dotted"] += 1
            for c in MARKS:
                cells["mark " + row[c]] += 1
    assert cells["province 2"] and cells["province 02"], "codes with and without leading zeros"
    assert cells["dotted"] > 0
    assert cells["mark x"] and cells["mark X"] and cells["mark 1"] and cells["mark 0"]
    assert cells["header_variant"] and cells["column_order_or_set_changed"]
    assert formats["reordered_columns"] and formats["dropped_zeros"]

    assert mess["identical_resends"]
    for resend in mess["identical_resends"]:
        assert resend["file"].endswith("_gui_lai.csv")
        assert (raw / resend["file"]).read_bytes() == (raw / resend["same_as"]).read_bytes()
    (bad_file,) = mess["bad_files"]
    header, _ = _read_csv(raw / bad_file["file"])
    assert bad_file["reason"] == "missing_required_column" and "Mã hộ" not in header

    reasons = {r["reason"] for r in mess["bad_rows"]}
    assert reasons >= {
        "year_mismatch",
        "invalid_commune_code",
        "missing_household_code",
        "duplicate_household",
        "invalid_household_size",
        "invalid_income",
        "invalid_deprivation_mark",
        "invalid_flag_mark",
        "invalid_area_type",
        "invalid_head_sex",
        "invalid_reported_class",
    }
    details = {r["detail"] for r in mess["bad_rows"]}
    assert {"negative income", "income is text"} <= details
    dup_files = {r["file"] for r in mess["bad_rows"] if "also listed in" in r["detail"]}
    assert len(dup_files) == 2, "a household duplicated across two files"


def test_expected_mess_names_exactly_the_bad_rows(sample_tiny):
    """Re-derive every defect from the files; it must match expected_mess row for row."""
    raw = sample_tiny.raw_dir
    mess = sample_tiny.expected_mess
    skip = {r["file"] for r in mess["identical_resends"]} | {f["file"] for f in mess["bad_files"]}
    units = _units_by_version()
    found: set[tuple[str, int, str]] = set()
    total = 0
    for year in YEARS:
        communes = units["2025" if year >= 2025 else "pre2025"]
        codes: list[tuple[str, int, str]] = []
        for path in _survey_files(raw, year):
            rel = path.relative_to(raw).as_posix()
            if rel in skip:
                continue
            if path.suffix == ".xlsx":
                rows = _xlsx_rows(path)
                start = next(i for i, r in enumerate(rows) if "Mã hộ" in r)
                at = rows[start].index("Mã hộ")
                codes += [(rel, i + 1, r[at]) for i, r in enumerate(rows) if i > start and r[at]]
                total += sum(1 for r in rows[start + 1 :] if any(c != "" for c in r))
                found |= {(rel, n, "formula_without_value") for n in _formulas_without_value(path)}
                continue
            _, rows = _read_csv(path)
            total += len(rows)
            for row in rows:
                defects = _defects(row, year, communes)
                found |= {(rel, row["_line"], reason) for reason in defects}
                if not defects & {"malformed_quoting", "missing_fields"}:
                    codes.append((rel, row["_line"], row["household_code"]))
        counts = Counter(code for _, _, code in codes if code)
        found |= {(f, n, "duplicate_household") for f, n, code in codes if counts[code] > 1}
    assert found == sample_tiny.expected_quarantined_rows()
    assert len(found) / total < 0.005, "bad rows must stay a small fraction"
    for year in YEARS:
        assert sample_tiny.expected_loaded_rows[year] > 0.85 * sample_tiny.rows["survey"][year]


def test_same_seed_same_bytes_other_seed_differs(tmp_path, sample_tiny):
    again = generate_sample(tmp_path / "again", scale="tiny")
    assert again.files == sample_tiny.files
    for rel in again.files:
        assert (tmp_path / "again" / rel).read_bytes() == (sample_tiny.raw_dir / rel).read_bytes()
    other = generate_sample(tmp_path / "other", scale="tiny", seed=99)
    changed = [
        rel
        for rel in other.files
        if rel.startswith("survey/2023/")
        and (sample_tiny.raw_dir / rel).exists()
        and (tmp_path / "other" / rel).read_bytes() != (sample_tiny.raw_dir / rel).read_bytes()
    ]
    assert changed


def _classified(raw: Path) -> str:
    """SQL of every survey row with its Decree 07 class, computed here from the raw cells."""
    marks = " + ".join(f'("{h}" is not null)::int' for _, h in DEPRIVATION_HEADERS)
    return f"""
        select "Năm rà soát"::int as review_year, "Mã tỉnh" as province_code,
               "Mã huyện" as district_code, "Mã xã" as commune_code, "Mã hộ" as household_code,
               "Kết quả phân loại" as reported_class,
               "Thu nhập BQ (đồng/người/tháng)"::bigint as income,
               case when "Khu vực" = 'Nông thôn' then 1500000 else 2000000 end as line,
               case when income <= line and {marks} >= 3 then 'Hộ nghèo'
                    when income <= line then 'Hộ cận nghèo'
                    when income <= 1.5 * line then 'Hộ có mức sống trung bình'
                    else 'Hộ không nghèo' end as computed_class
        from read_csv('{raw}/survey/*/*.csv', all_varchar = true, normalize_names = false)
    """


def test_poverty_rates_look_like_the_published_ones(sample_clean):
    raw = sample_clean.raw_dir
    units = admin_unit_tables().units  # noqa: F841 (DuckDB replacement scan)
    with duckdb.connect() as con:
        con.execute("set enable_progress_bar = false")
        rows = con.execute(
            f"""
            with households as ({_classified(raw)}),
            totals as (
                select "Năm"::int as review_year, "Mã xã" as commune_code,
                       "Tổng số hộ"::bigint as total
                from read_csv('{raw}/commune_totals/*.csv', all_varchar = true)
            ),
            located as (
                select t.review_year, t.total, u.province_code
                from totals t join units u on u.commune_code = t.commune_code
                    and u.unit_version = 'pre2025' and t.review_year < 2025
            ),
            poor as (
                select review_year, province_code,
                       count(*) filter (where computed_class = 'Hộ nghèo') as poor,
                       count(*) filter (where computed_class = 'Hộ cận nghèo') as near_poor
                from households where review_year < 2025 group by all
            )
            select p.review_year, p.province_code, 100 * p.poor / sum(l.total),
                   100 * p.near_poor / sum(l.total)
            from poor p join located l using (review_year, province_code)
            group by p.review_year, p.province_code, p.poor, p.near_poor
            """
        ).fetchall()
        mismatch, on_line = con.execute(
            f"""select avg((reported_class <> computed_class)::int),
                       count(*) filter (where income = line)
                from ({_classified(raw)})"""
        ).fetchone()
    rate = {(y, p): (poor, near) for y, p, poor, near in rows}
    assert 20 <= rate[(2023, "02")][0] <= 40, rate
    assert 5 <= rate[(2023, "02")][1] <= 20, rate
    for province in DEMO_PROVINCES:
        assert rate[(2022, province)][0] > rate[(2023, province)][0] > rate[(2024, province)][0]
    assert rate[(2023, "08")][0] < rate[(2023, "02")][0] / 2
    assert 0.005 <= mismatch <= 0.03
    assert on_line > 0, "incomes exactly on the line exercise the ≤ rule"


def test_2025_uses_the_new_units_and_follows_households(sample_clean):
    raw = sample_clean.raw_dir
    tables = admin_unit_tables()
    units, mapping = tables.units, tables.mapping  # noqa: F841 (DuckDB replacement scan)
    with duckdb.connect() as con:
        con.execute("set enable_progress_bar = false")
        con.execute(f"create table h as {_classified(raw)}")
        provinces = con.execute(
            "select distinct province_code, district_code from h where review_year = 2025"
        ).fetchall()
        unknown = con.execute(
            """select count(*) from h where review_year = 2025 and commune_code not in
               (select commune_code from units where unit_version = '2025' and province_code = '08')
            """
        ).fetchone()[0]
        unmapped = con.execute(
            """
            select count(*) from h a join h b on a.household_code = b.household_code
            where a.review_year = 2024 and b.review_year = 2025
              and not exists (
                select 1 from mapping m
                where m.old_commune_code = a.commune_code and m.new_commune_code = b.commune_code
              )
            """
        ).fetchone()[0]
        followed = con.execute(
            """select count(distinct household_code) from h where review_year = 2025
               and household_code in (select household_code from h where review_year = 2024)"""
        ).fetchone()[0]
        files = {p.name for p in _survey_files(raw, 2025)}
    assert provinces == [("08", None)]
    assert unknown == 0
    assert followed > 100 and unmapped < 0.01 * followed  # only movers change commune
    assert all(name.startswith("tuyen_quang_08_") for name in files)


def test_households_move_exit_return_and_appear(sample_clean):
    raw = sample_clean.raw_dir
    with duckdb.connect() as con:
        con.execute("set enable_progress_bar = false")
        con.execute(f"create table h as {_classified(raw)} where review_year < 2025")
        counts = con.execute(
            """
            with poor as (
                select household_code, review_year, computed_class = 'Hộ nghèo' as is_poor,
                       commune_code from h
            )
            select
                count(*) filter (where a.is_poor and not coalesce(b.is_poor, false)),
                count(*) filter (where b.is_poor and not a.is_poor),
                count(distinct a.household_code) filter (where a.commune_code <> b.commune_code)
            from poor a left join poor b
              on a.household_code = b.household_code and b.review_year = a.review_year + 1
            where a.review_year < 2024
            """
        ).fetchone()
        newly = con.execute(
            "select count(*) from h where review_year = 2024 and household_code not in "
            "(select household_code from h where review_year < 2024)"
        ).fetchone()[0]
        back = con.execute(
            """select count(*) from h a where a.review_year = 2024
               and household_code in (select household_code from h where review_year = 2022)
               and household_code not in (select household_code from h where review_year = 2023)"""
        ).fetchone()[0]
    exited, fell_back, moved = counts
    assert exited > 0 and fell_back > 0 and moved > 0 and newly > 0 and back > 0


def test_clean_sample_has_no_mess(sample_clean):
    raw = sample_clean.raw_dir
    assert not sample_clean.expected_mess["bad_rows"]
    assert not sample_clean.structural_mess()
    for rel in sample_clean.files:
        assert rel.endswith(".csv") and "_gui_lai" not in rel
        data = (raw / rel).read_bytes()
        assert not data.startswith(b"\xef\xbb\xbf")
        if rel.startswith("survey/"):
            assert data.decode().split("\n", 1)[0] == ",".join(h for _, h in SURVEY_HEADERS)


def test_corrected_resend_keeps_the_name_and_changes_one_row(sample_tiny, tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(sample_tiny.raw_dir, raw)
    before = {p: p.read_bytes() for p in (raw / "survey" / "2023").iterdir()}
    path = write_corrected_resend(raw, 2023)
    assert path in before and "_gui_lai" not in path.name
    after = path.read_bytes()
    assert after != before[path] and after[:3] == before[path][:3]
    old_lines, new_lines = before[path].splitlines(), after.splitlines()
    assert len(old_lines) == len(new_lines)
    assert sum(a != b for a, b in zip(old_lines, new_lines, strict=True)) == 1
    assert after not in {data for p, data in before.items() if p != path}
    assert write_corrected_resend(raw, 2023) == path  # deterministic choice of file


# --------------------------------------------------------------------------- structural mess


def test_each_structural_defect_is_in_the_written_files(sample_tiny):
    """The defects a strict reader must catch, each checked on the bytes or the workbook's XML
    (not on the generator's word), and each recorded in the manifest the ingest tests read."""
    raw = sample_tiny.raw_dir
    mess = sample_tiny.expected_mess
    by_reason: dict[str, list[dict]] = {}
    for row in mess["bad_rows"]:
        by_reason.setdefault(row["reason"], []).append(row)

    # Stray quotes: one opening a cell (quarantined, in the manifest) and one inside a cell (which
    # opens no quoted cell and loads, so only the bytes show it); each line's quoting breaks on
    # that line, and no other quote is in its file (a lenient reader would follow it to the end).
    (opening,) = by_reason["malformed_quoting"]
    assert opening["line_defect"] == "quote_never_closes"
    shapes = {
        "quote_inside_cell": rb'(^|,)[^,"]+ "[^,"]+(,|$)',  # Nguyễn "Văn A
        "quote_never_closes": rb'(^|,)"[^,"]+(,|\r?$)',  # "Nguyễn Văn A
    }
    lines = (raw / opening["file"]).read_bytes().split(b"\n")
    assert lines[opening["row"] - 1].count(b'"') == 1
    assert re.search(shapes["quote_never_closes"], lines[opening["row"] - 1]), opening
    assert sum(line.count(b'"') for line in lines) == 1, "no other quote in the file"
    inside = [
        (path, line)
        for path in sorted(raw.rglob("*.csv"))
        for line in path.read_bytes().split(b"\n")
        if line.count(b'"') == 1 and re.search(shapes["quote_inside_cell"], line)
    ]
    assert len(inside) == 1
    assert sum(line.count(b'"') for line in inside[0][0].read_bytes().split(b"\n")) == 1

    # A short row: fewer cells than the header, every other line complete.
    (short,) = by_reason["missing_fields"]
    header, rows = _read_csv(raw / short["file"])
    counts = {row["_line"]: row["_cells"] for row in rows}
    assert counts.pop(short["row"]) < len(header)
    assert set(counts.values()) == {len(header)}

    # A workbook whose first sheet is a hidden template; the data are on the visible second one.
    (hidden,) = mess["hidden_sheets"]
    workbook = CalamineWorkbook.from_path(str(raw / hidden["file"]))
    first, second = workbook.sheets_metadata
    assert (first.name, str(first.visible).endswith("Hidden")) == (hidden["hidden_sheet"], True)
    assert (second.name, str(second.visible).endswith("Visible")) == (hidden["data_sheet"], True)
    template = workbook.get_sheet_by_name(first.name).to_python(skip_empty_area=False)
    header_at = next(i for i, r in enumerate(template) if "Mã hộ" in r)
    assert not any(any(c != "" for c in r) for r in template[header_at + 1 :]), "a blank form"
    data = _xlsx_rows(raw / hidden["file"])
    header_at = next(i for i, r in enumerate(data) if "Mã hộ" in r)
    assert sum(1 for r in data[header_at + 1 :] if any(c != "" for c in r)) == hidden["rows"]

    # A formula cell without a stored result (and one with its result, which loads).
    (formula,) = by_reason["formula_without_value"]
    path = raw / formula["file"]
    assert _formulas_without_value(path) == [formula["row"]]
    rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_name(formula["sheet"])
    rows = rows.to_python(skip_empty_area=False)
    income = rows[next(i for i, r in enumerate(rows) if "Mã hộ" in r)].index(
        "Thu nhập BQ (đồng/người/tháng)"
    )
    assert rows[formula["row"] - 1][income] == "", "a reader finds no value, not 0"
    (with_value,) = [
        f for f in mess["formats"]["formulas_with_value"] if f["file"] == formula["file"]
    ]
    assert rows[with_value["row"] - 1][income] > 0

    # The personal-data columns under variant headers the ingest knows.
    (variant,) = mess["pii_header_variants"]
    header, rows = _read_csv(raw / variant["file"])
    assert variant["headers"] == ["Họ và tên chủ hộ", "CCCD chủ hộ"]
    assert set(variant["headers"]) <= set(header)
    assert not {"Họ tên chủ hộ", "Số định danh chủ hộ"} & set(header)
    known = {INGEST_HEADERS.get(normalise_header(h)) for h in variant["headers"]}
    assert known == {"head_name", "head_id_number"}
    assert all(re.fullmatch(r"\d{12}", row["head_id_number"]) for row in rows)

    # Each kind in its own review year, and all in the summary's one list.
    years = [opening, short, hidden, formula, variant]
    assert len({row["review_year"] for row in years}) == len(YEARS)
    assert f"/{opening['review_year']}/" in str(inside[0][0])
    listed = sample_tiny.structural_mess()
    assert [e["kind"] for e in listed] == list(STRUCTURAL_MESS)
    assert {e["file"] for e in listed} == {e["file"] for e in years}


# --------------------------------------------------------------------------- standards by year

STANDARDS_CSV = DBT_PROJECT_DIR / "seeds" / "poverty_standards.csv"
YEARS_ACROSS_STANDARDS = tuple(range(2019, 2028))


def _seed_lines() -> dict[tuple[int, str], dict[str, int | None | str]]:
    """(review year, area) → the seed's lines and rule, read here independently."""
    with STANDARDS_CSV.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    out = {}
    for row in rows:
        for year in range(int(row["first_review_year"]), int(row["last_review_year"]) + 1):
            out[(year, row["area_type"])] = {
                "standard": row["standard_id"],
                "rule": row["rule_type"],
                "count": int(row["indicator_count"]),
                **{
                    key: int(row[key]) if row[key] else None
                    for key in ("income_line", "upper_income_line", "middle_line")
                },
            }
    return out


@pytest.fixture(scope="module")
def sample_across_standards(tmp_path_factory):
    """Reviews 2019-2027: two under Decision 59, five under Decree 07, two under Decree 351."""
    raw = tmp_path_factory.mktemp("sample_years") / "raw"
    scale = Scale("test_years", DEMO_PROVINCES, 0.01)
    return generate_sample(raw, scale=scale, seed=5, years=YEARS_ACROSS_STANDARDS, messy=False)


def test_decision_59_years_carry_the_health_access_column(sample_across_standards):
    raw = sample_across_standards.raw_dir
    lines = _seed_lines()
    marks = [h for _, h in DEPRIVATION_HEADERS]
    for year in YEARS_ACROSS_STANDARDS:
        qd59 = lines[(year, "rural")]["rule"] == "qd59_upper_band"
        for path in _survey_files(raw, year):
            header, _ = _read_csv(path)
            if qd59:
                after = header.index(marks[-1]) + 1
                assert header[after] == QD59_HEALTH_ACCESS[1], path
                assert header[: header.index(marks[0])] == [h for _, h in SURVEY_HEADERS[:14]]
            else:
                assert QD59_HEALTH_ACCESS[1] not in header, path
            # Decree 351/2025's optional marks, in some files from review 2026 on, come last.
            optional = [h for _, h in OPTIONAL_HEADERS["survey"]]
            if year < 2026:
                assert not set(optional) & set(header), path
            elif set(optional) <= set(header):
                assert header[-3:] == optional, path
            core = [h for h in header if h not in optional]
            assert (core.count("Mã huyện") == 1) and len(core) == 30 + qd59


def test_classes_follow_each_years_standard(sample_across_standards):
    """Recompute every household's class from its cells with the seed's lines and rule for its
    review year; the reported class agrees but for the few deliberate misreports."""
    raw = sample_across_standards.raw_dir
    lines = _seed_lines()
    seen: dict[int, Counter] = {}
    for year in YEARS_ACROSS_STANDARDS:
        for path in _survey_files(raw, year):
            _, rows = _read_csv(path)
            for row in rows:
                area = "rural" if row["area_type"] == "Nông thôn" else "urban"
                rule = lines[(year, area)]
                counted = [c for c in (*DEPRIVATION_COLUMNS, QD59_HEALTH_ACCESS[0]) if c in row]
                if rule["rule"] == "qd59_upper_band":
                    counted = [c for c in counted if c not in DEPRIVATION_COLUMNS[:3]]
                assert len(counted) == rule["count"]
                k = sum(row[c] in ("x", "X", "1") for c in counted)
                income, line = int(row["income_per_capita"]), rule["income_line"]
                if rule["rule"] == "qd59_upper_band":
                    upper, middle = rule["upper_income_line"], rule["middle_line"]
                    band = line < income <= upper
                    computed = (
                        "Hộ nghèo"
                        if income <= line or (band and k >= 3)
                        else "Hộ cận nghèo"
                        if band
                        else "Hộ có mức sống trung bình"
                        if middle is not None and income <= middle
                        else "Hộ không nghèo"
                    )
                else:
                    middle = rule["middle_line"]
                    computed = (
                        ("Hộ nghèo" if k >= 3 else "Hộ cận nghèo")
                        if income <= line
                        else "Hộ có mức sống trung bình"
                        if middle is not None and income <= middle
                        else "Hộ không nghèo"
                    )
                counts = seen.setdefault(year, Counter())
                counts[computed] += 1
                counts["agree" if computed == row["reported_class"] else "differ"] += 1
                counts["empty"] += row["reported_class"] == ""
                counts["on the line"] += income == line
                if rule["middle_line"] is None:
                    assert row["reported_class"] != "Hộ có mức sống trung bình"
    for year, counts in seen.items():
        assert counts["Hộ nghèo"] > 30 and counts["Hộ cận nghèo"] > 5, (year, counts)
        # 1.5 % approved one class away from the rule (both ways) and 0.4 % left empty.
        assert counts["differ"] / (counts["agree"] + counts["differ"]) < 0.03, (year, counts)
        assert counts["empty"] > 0, (year, "an empty approved class lets the rule stand in")
        assert counts["on the line"] > 0, (year, "incomes on the line exercise the ≤ rule")
    rate = {y: c["Hộ nghèo"] for y, c in seen.items()}
    assert rate[2026] > rate[2025], "Decree 351's higher lines count more households poor"


def test_a_year_no_standard_covers_writes_nothing(tmp_path):
    with pytest.raises(NoStandardError, match="2014"):
        generate_sample(tmp_path / "raw", scale="tiny", years=(2014, 2015))
    assert not (tmp_path / "raw" / "survey").exists()


def test_the_demo_spans_the_plan_and_tiny_stays_small():
    assert SCALES["demo"].years == tuple(range(2021, 2028))
    assert SCALES["tiny"].years == YEARS


# --------------------------------------------------------------------------- territory


def test_2025_reaches_the_successors_of_a_split_commune(sample_across_standards):
    """The demo's provinces hold no 2025 commune formed across two old provinces (the package has
    none for Hà Giang + Tuyên Quang) but five communes the reorganisation divided (00688, 00967,
    00988 of Hà Giang, 02494, 02497 of Tuyên Quang): their households reach the successors, with
    the codes they had."""
    raw = sample_across_standards.raw_dir
    tables = admin_unit_tables()
    units, mapping = tables.units, tables.mapping  # noqa: F841 (DuckDB replacement scan)
    with duckdb.connect() as con:
        con.execute("set enable_progress_bar = false")
        con.execute(
            f"""create table h as
            select "Năm rà soát"::int as review_year, "Mã xã" as commune_code,
                   "Mã hộ" as household_code, "Mã huyện" as district_code
            from read_csv('{raw}/survey/*/*.csv', all_varchar = true, union_by_name = true)"""
        )
        reached = con.execute(
            """
            select m.old_commune_code, count(distinct b.commune_code),
                   count(distinct m.new_commune_code)
            from h a join h b on a.household_code = b.household_code
            join mapping m
              on m.old_commune_code = a.commune_code and m.new_commune_code = b.commune_code
            where a.review_year = 2024 and b.review_year = 2025 and m.is_split
            group by 1
            """
        ).fetchall()
        kept = con.execute(
            """select count(distinct household_code) from h where review_year = 2027
               and household_code in (select household_code from h where review_year = 2024)"""
        ).fetchone()[0]
        districts = con.execute(
            "select count(*) from h where review_year >= 2025 and district_code is not null"
        ).fetchone()[0]
        versions = con.execute(
            """select count(*) from h where review_year >= 2025 and commune_code not in
               (select commune_code from units where unit_version = '2025')"""
        ).fetchone()[0]
    assert any(successors > 1 for _, successors, _ in reached), "a divided commune, two successors"
    assert kept > 100, "households keep their codes across the reorganisation"
    assert districts == 0 and versions == 0, "reviews from 2025 use 2025 units, no districts"
