"""Strict reading, the raw directory and personal data: one test per failure of issue 11.

Every test writes real files on disk (CSV bytes, XLSX workbooks, symbolic links) and ingests
them into a real DuckDB file, then checks the contract's behaviour and the line accounting.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import zipfile
from datetime import datetime
from pathlib import Path

import duckdb
import pytest
import xlsxwriter
from fixtures.raw_exports import SURVEY_HEADERS, YEAR, valid_row

from orchestration.base.headers import QD59_HEALTH_ACCESS
from orchestration.base.pii import KEY_ENV, PiiKeyError, load_or_create_pii_key
from orchestration.ingest import (
    REGISTRY,
    RawLayoutError,
    ingest_dataset,
    remove_years_not_on_disk,
    validate_raw_dir,
)
from orchestration.ingest.checks import _BALANCE_SQL, row_balance_problems

KEY = bytes.fromhex("00112233445566778899aabbccddeeff" * 2)


def line(row: dict[str, object], headers: list[str] = SURVEY_HEADERS) -> str:
    """A CSV line written as an office tool would, without any quoting."""
    return ",".join(str(row.get(h, "")) for h in headers)


def write_lines(path: Path, lines: list[str], encoding: str = "utf-8") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))


def rows(count: int, start: int = 1, **overrides: object) -> list[dict[str, object]]:
    return [valid_row(f"S{n:04d}", n, **overrides) for n in range(start, start + count)]


def ingest(con, raw_dir: Path, year: int = YEAR, dataset: str = "survey"):
    return ingest_dataset(con, raw_dir, dataset, year, run_id="run", pii_key=KEY)


def balanced(con) -> list[str]:
    problems = []
    for entry in REGISTRY.values():
        query = _BALANCE_SQL.format(raw_table=entry.raw_table)
        problems += row_balance_problems(con.execute(query, {"dataset": entry.name}).fetchall())
    return problems


def quarantine(con) -> list[tuple]:
    return con.execute(
        "select source_file, source_row, reasons from audit.quarantine order by all"
    ).fetchall()


def text_columns_holding(con, needle: str) -> list[str]:
    """Every table.column of text (VARCHAR, JSON, lists of them) whose values contain needle."""
    found = []
    columns = con.execute(
        """
        select schema_name, table_name, column_name from duckdb_columns()
        where database_name = current_database() and not internal
          and (data_type like 'VARCHAR%' or data_type like 'JSON%')
        """
    ).fetchall()
    for schema, table, column in columns:
        hits = con.execute(
            f'select count(*) from "{schema}"."{table}" where contains("{column}"::VARCHAR, ?)',
            [needle],
        ).fetchone()[0]
        if hits:
            found.append(f"{schema}.{table}.{column}")
    return found


# --------------------------------------------------------------------------- strict CSV lines


def test_stray_quote_quarantines_its_line_alone(tmp_path, con):
    data = rows(40)
    lines = [",".join(SURVEY_HEADERS), *map(line, data)]
    lines[5] = lines[5].replace("Nguyễn", '"Nguyễn', 1)  # opens a quote that never closes
    write_lines(tmp_path / "raw/survey/2023/a.csv", lines)
    report = ingest(con, tmp_path / "raw").files[0]
    assert (report.lines, report.rows_read, report.rows_loaded) == (41, 40, 39)
    assert quarantine(con) == [("survey/2023/a.csv", 6, ["malformed_quoting"])]
    assert con.execute("select count(*) from raw.survey_households").fetchone() == (39,)
    assert balanced(con) == []


def test_quoted_cells_on_one_line_still_load(tmp_path, con):
    data = rows(3, **{"Thôn/Tổ": 'Tổ 1, "ngõ" 5'})
    header = ",".join(SURVEY_HEADERS)
    quoted = [line(r).replace('Tổ 1, "ngõ" 5', '"Tổ 1, ""ngõ"" 5"') for r in data]
    write_lines(tmp_path / "raw/survey/2023/a.csv", [header, *quoted])
    assert ingest(con, tmp_path / "raw").rows_loaded == 3
    villages = con.execute("select distinct village from raw.survey_households").fetchall()
    assert villages == [('Tổ 1, "ngõ" 5',)]


def test_short_and_long_rows_are_quarantined(tmp_path, con):
    data = rows(4)
    short = ",".join(line(data[1]).split(",")[:-5])  # the last marks and the class are missing
    long = line(data[2]) + ",x"
    header = ",".join(SURVEY_HEADERS)
    write_lines(tmp_path / "raw/survey/2023/a.csv", [header, line(data[0]), short, long, ""])
    report = ingest(con, tmp_path / "raw").files[0]
    assert (report.lines, report.blank_lines, report.rows_read) == (5, 1, 3)
    reasons = {row: r for _, row, r in quarantine(con)}
    assert reasons[3][0] == "missing_fields"
    assert reasons[4][0] == "unexpected_extra_fields"
    loaded = con.execute("select household_code from raw.survey_households").fetchall()
    assert loaded == [("S0001",)]
    assert balanced(con) == []


def test_nul_byte_is_quarantined_not_cut(tmp_path, con):
    data = rows(3)
    header = ",".join(SURVEY_HEADERS)
    bad = line(data[1]).replace("Tổ 1", "Tổ\x001")
    write_lines(tmp_path / "raw/survey/2023/a.csv", [header, line(data[0]), bad, line(data[2])])
    report = ingest(con, tmp_path / "raw").files[0]
    assert (report.rows_loaded, report.rows_quarantined) == (2, 1)
    assert quarantine(con) == [("survey/2023/a.csv", 3, ["control_characters"])]
    record = con.execute("select raw_record::VARCHAR from audit.quarantine").fetchone()[0]
    assert "Tổ\\u00001" in record  # the whole cell, not cut at the NUL
    assert balanced(con) == []


def test_utf16_file_is_quarantined_whole_naming_the_line(tmp_path, con):
    data = rows(3)
    lines = [",".join(SURVEY_HEADERS), *map(line, data)]
    write_lines(tmp_path / "raw/survey/2023/a.csv", lines, encoding="utf-16")
    report = ingest(con, tmp_path / "raw").files[0]
    assert report.status == "quarantined" and "line 1" in report.status_reason
    # Lines are counted as newline bytes, whatever the encoding (UTF-16 has a NUL after each).
    assert report.lines == report.title_lines + report.blank_lines + report.rows_read
    assert report.rows_read == report.rows_quarantined >= 3
    assert quarantine(con) == [("survey/2023/a.csv", None, ["not_utf8"])]
    assert balanced(con) == []


def test_duplicated_header_quarantines_the_file(tmp_path, con):
    headers = [*SURVEY_HEADERS, "Thu nhập BQ"]
    data = [{**r, "Thu nhập BQ": "0"} for r in rows(2)]
    write_lines(
        tmp_path / "raw/survey/2023/a.csv", [",".join(headers), *(line(r, headers) for r in data)]
    )
    report = ingest(con, tmp_path / "raw").files[0]
    assert report.status == "quarantined" and "income_per_capita" in report.status_reason
    assert quarantine(con) == [("survey/2023/a.csv", None, ["duplicate_column"])]
    assert con.execute("select count(*) from raw.survey_households").fetchone() == (0,)
    assert balanced(con) == []


# --------------------------------------------------------------------------- XLSX


def _workbook(path: Path) -> xlsxwriter.Workbook:
    path.parent.mkdir(parents=True, exist_ok=True)
    return xlsxwriter.Workbook(str(path))


def _write_sheet(sheet, data: list[dict[str, object]], title_rows: int = 1) -> None:
    sheet.write(0, 0, "DANH SÁCH HỘ NGHÈO")
    sheet.write_row(title_rows, 0, SURVEY_HEADERS)
    for offset, row in enumerate(data, start=title_rows + 1):
        sheet.write_row(offset, 0, [row.get(h, "") for h in SURVEY_HEADERS])


def test_hidden_first_sheet_is_never_read_and_named(tmp_path, con):
    path = tmp_path / "raw/survey/2023/b.xlsx"
    workbook = _workbook(path)
    template = workbook.add_worksheet("Mẫu ẩn")
    _write_sheet(template, rows(2, start=900))
    template.hide()
    visible = workbook.add_worksheet("Phiếu B")
    _write_sheet(visible, rows(3))
    visible.activate()
    workbook.close()
    report = ingest(con, tmp_path / "raw").files[0]
    assert report.status == "loaded" and "Mẫu ẩn" in report.status_reason
    assert (report.lines, report.title_lines, report.rows_loaded) == (5, 2, 3)
    codes = con.execute("select household_code, source_sheet from raw.survey_households")
    assert sorted(codes.fetchall()) == [
        ("S0001", "Phiếu B"),
        ("S0002", "Phiếu B"),
        ("S0003", "Phiếu B"),
    ]
    assert balanced(con) == []


def _strip_cached_values(path: Path) -> None:
    """Remove the stored results of the workbook's formulas (as a tool that never calculated
    them writes it): xlsxwriter always stores one."""
    copy = path.with_suffix(".tmp")
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(copy, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename.startswith("xl/worksheets/"):
                text = data.decode()
                text = re.sub(r"(<f>[^<]*</f>)<v>[^<]*</v>", r"\1", text)
                data = text.encode()
            target.writestr(item, data)
    copy.replace(path)


def test_formula_without_value_quarantines_its_row(tmp_path, con):
    income = SURVEY_HEADERS.index("Thu nhập BQ (đồng/người/tháng)")
    with_value = tmp_path / "raw/survey/2023/a.xlsx"
    workbook = _workbook(with_value)
    sheet = workbook.add_worksheet("Phiếu B")
    _write_sheet(sheet, rows(2))
    sheet.write_formula(2, income, "=1000000+500000", None, 1500000)
    workbook.close()
    without = tmp_path / "raw/survey/2023/b.xlsx"
    workbook = _workbook(without)
    sheet = workbook.add_worksheet("Phiếu B")
    _write_sheet(sheet, rows(2, start=10))
    sheet.write_formula(3, income, "=1000000+500000")
    workbook.close()
    _strip_cached_values(without)
    ingest(con, tmp_path / "raw")
    assert con.execute(
        "select income_per_capita from raw.survey_households where household_code = 'S0001'"
    ).fetchone() == (1500000,)
    # The empty result is also an invalid income: every reason that applies is listed.
    [(name, row, reasons)] = quarantine(con)
    assert (name, row, reasons[0]) == ("survey/2023/b.xlsx", 4, "formula_without_value")
    assert balanced(con) == []


def test_date_cell_in_a_code_column_quarantines_its_row(tmp_path, con):
    path = tmp_path / "raw/survey/2023/a.xlsx"
    workbook = _workbook(path)
    sheet = workbook.add_worksheet("Phiếu B")
    _write_sheet(sheet, rows(2))
    date_format = workbook.add_format({"num_format": "dd/mm/yyyy"})
    sheet.write_datetime(3, SURVEY_HEADERS.index("Mã xã"), datetime(1901, 11, 17), date_format)
    workbook.close()
    report = ingest(con, tmp_path / "raw").files[0]
    assert (report.rows_loaded, report.rows_quarantined) == (1, 1)
    assert "unexpected_date_cell" in quarantine(con)[0][2]


# --------------------------------------------------------------------------- raw directory


def test_symbolic_links_are_listed_ignored_and_never_read(tmp_path, con):
    marker = "SECRET-MARKER-7781"
    outside = tmp_path / "outside"
    outside.mkdir()
    secret_file = outside / "passwd.csv"
    secret_file.write_text(f"root:x:0:0:{marker}\n", encoding="utf-8")
    (outside / "inner.csv").write_text(f"{marker},{marker}\n", encoding="utf-8")
    raw = tmp_path / "raw"
    write_lines(raw / "survey/2023/a.csv", [",".join(SURVEY_HEADERS), line(rows(1)[0])])
    (raw / "survey/2023/passwd.csv").symlink_to(secret_file)
    (raw / "survey/2024").symlink_to(outside, target_is_directory=True)
    (raw / "commune_totals").mkdir()
    (raw / "commune_totals/2023.csv").symlink_to(secret_file)
    assert sorted(validate_raw_dir(raw).years) == [2023, 2024]
    for year in (2023, 2024):
        for dataset in REGISTRY:
            ingest(con, raw, year, dataset)
    ignored = con.execute(
        "select file_name, sha256, size_bytes, status_reason from audit.source_files "
        "where status = 'ignored' order by file_name"
    ).fetchall()
    assert ignored == [
        ("commune_totals/2023.csv", None, None, "symbolic link not followed"),
        ("survey/2023/passwd.csv", None, None, "symbolic link not followed"),
        ("survey/2024", None, None, "symbolic link not followed"),
    ]
    import hashlib

    secret_sha = hashlib.sha256(secret_file.read_bytes()).hexdigest()
    assert text_columns_holding(con, marker) == []
    assert text_columns_holding(con, secret_sha) == []
    assert balanced(con) == []


@pytest.mark.parametrize(
    ("relative", "named"),
    [
        ("survey/2023 /a.csv", "'survey/2023 '"),
        ("survey/20x3/a.csv", "'survey/20x3'"),
        ("survey/1999/a.csv", "review year 1999"),
        ("commune_totals/totals.csv", "'commune_totals/totals.csv'"),
        ("difficult_areas/2023.CSV", "'difficult_areas/2023.CSV'"),
    ],
)
def test_odd_names_stop_before_anything_is_written(tmp_path, con, relative, named):
    raw = tmp_path / "raw"
    write_lines(raw / "survey/2023/good.csv", [",".join(SURVEY_HEADERS), line(rows(1)[0])])
    write_lines(raw / relative, ["x"])
    with pytest.raises(RawLayoutError) as raised:
        validate_raw_dir(raw)
    assert named in str(raised.value)
    with pytest.raises(RawLayoutError):
        ingest(con, raw)
    assert con.execute(
        "select count(*) from duckdb_tables() where schema_name in ('raw', 'audit')"
    ).fetchone() == (0,)


def test_other_file_types_are_listed_ignored(tmp_path, con):
    raw = tmp_path / "raw"
    write_lines(raw / "survey/2023/a.csv", [",".join(SURVEY_HEADERS), line(rows(1)[0])])
    (raw / "survey/2023/notes.pdf").write_bytes(b"%PDF-1.4")
    files = {f.file_name: f for f in ingest(con, raw).files}
    assert files["survey/2023/notes.pdf"].status == "ignored"
    assert files["survey/2023/a.csv"].rows_loaded == 1


def test_removed_file_and_removed_year_leave_the_warehouse(tmp_path, con):
    raw = tmp_path / "raw"
    header = ",".join(SURVEY_HEADERS)
    write_lines(raw / "survey/2023/a.csv", [header, *map(line, rows(2))])
    write_lines(raw / "survey/2023/b.csv", [header, line(rows(1, start=50)[0]), "bad,row"])
    write_lines(
        raw / "survey/2024/c.csv",
        [header, *(line(r) for r in rows(2, start=70, **{"Năm rà soát": "2024"}))],
    )
    ingest(con, raw, 2023)
    ingest(con, raw, 2024)
    assert con.execute("select count(*) from raw.survey_households").fetchone() == (5,)

    (raw / "survey/2023/b.csv").unlink()
    ingest(con, raw, 2023)
    assert con.execute("select count(*) from raw.survey_households").fetchone() == (4,)
    assert con.execute("select count(*) from audit.quarantine").fetchone() == (0,)

    shutil.rmtree(raw / "survey/2024")
    assert remove_years_not_on_disk(con, raw, "survey", run_id="run-3") == [2024]
    assert con.execute("select distinct review_year from raw.survey_households").fetchall() == [
        (2023,)
    ]
    statuses = con.execute(
        "select file_name, status from audit.source_files order by file_name"
    ).fetchall()
    assert statuses == [
        ("survey/2023/a.csv", "loaded"),
        ("survey/2023/b.csv", "removed"),
        ("survey/2024/c.csv", "removed"),
    ]
    # Running the gone year's partition is harmless too: it stays empty.
    assert ingest(con, raw, 2024).files == []
    assert balanced(con) == []


# --------------------------------------------------------------------------- personal data


def test_personal_data_under_variant_headers_and_shifted_rows_never_in_clear(tmp_path, con):
    headers = [
        "Họ và tên chủ hộ"
        if h == "Họ tên chủ hộ"
        else "CCCD chủ hộ"
        if h.startswith("Số định")
        else h
        for h in SURVEY_HEADERS
    ] + ["Ghi chú"]
    people = rows(4)
    for row in people:
        row["Họ và tên chủ hộ"] = row.pop("Họ tên chủ hộ")
        row["CCCD chủ hộ"] = row.pop("Số định danh chủ hộ")
        row["Ghi chú"] = "gọi 0912345678"
    people[1]["Thu nhập BQ (đồng/người/tháng)"] = "khoảng 1 triệu"  # quarantined
    people[2]["Họ và tên chủ hộ"] = "Trần Giả Danh, Bình Giả"  # an unquoted comma shifts the row
    people[3]["Ghi chú"] = "Lê Thị Cẩm Giả"  # a name where no name belongs
    write_lines(
        tmp_path / "raw/survey/2023/a.csv",
        [",".join(headers), *(line(r, headers) for r in people)],
    )
    report = ingest(con, tmp_path / "raw").files[0]
    assert (report.rows_loaded, report.rows_quarantined) == (2, 2)
    reasons = {row: r for _, row, r in quarantine(con)}
    assert "unexpected_extra_fields" in reasons[4]
    needles = ["0912345678", "Lê Thị Cẩm Giả", "Trần Giả Danh", "Bình Giả"]
    for row in people:
        needles += [str(row["CCCD chủ hộ"]), str(row["Họ và tên chủ hộ"])]
    for needle in needles:
        assert text_columns_holding(con, needle) == [], needle
    hashes = con.execute("select count(head_id_hash) from raw.survey_households").fetchone()
    assert hashes == (2,)


def test_pii_key_must_exist_be_long_and_owner_only(tmp_path, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    key_file = tmp_path / "poverty-warehouse" / "pii_hmac.key"
    created = load_or_create_pii_key()
    assert len(created) == 32 and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert load_or_create_pii_key() == created
    for content, mode, message in [
        ("", 0o600, "0 byte"),
        ("abcd", 0o600, "2 byte"),
        ("zz" * 32, 0o600, "hex"),
        ("ab" * 32, 0o640, "readable by others"),
    ]:
        key_file.write_text(content, encoding="ascii")
        os.chmod(key_file, mode)
        with pytest.raises(PiiKeyError, match=message) as raised:
            load_or_create_pii_key()
        assert "chmod 600" in str(raised.value) or "token_hex" in str(raised.value)
    monkeypatch.setenv(KEY_ENV, "ab" * 16)
    with pytest.raises(PiiKeyError, match="at least 32 bytes"):
        load_or_create_pii_key()
    with pytest.raises(PiiKeyError):
        ingest_dataset(duckdb.connect(), tmp_path, "survey", YEAR, run_id="r", pii_key=b"\x01\x02")


# --------------------------------------------------------------------------- d_health_access


def test_health_access_is_read_in_decision_59_years_only(tmp_path, con):
    raw = tmp_path / "raw"
    headers = [*SURVEY_HEADERS, QD59_HEALTH_ACCESS[1]]
    data = rows(2, **{"Năm rà soát": "2019", QD59_HEALTH_ACCESS[1]: "x"})
    data[1][QD59_HEALTH_ACCESS[1]] = ""
    write_lines(raw / "survey/2019/a.csv", [",".join(headers), *(line(r, headers) for r in data)])
    write_lines(
        raw / "survey/2018/a.csv",
        [",".join(SURVEY_HEADERS), line(rows(1, start=5, **{"Năm rà soát": "2018"})[0])],
    )
    write_lines(raw / "survey/2023/a.csv", [",".join(headers), line(rows(1, start=9)[0], headers)])
    ingest(con, raw, 2019)
    ingest(con, raw, 2018)
    ingest(con, raw, 2023)
    values = con.execute(
        "select review_year, household_code, d_health_access from raw.survey_households "
        "order by all"
    ).fetchall()
    assert values == [(2019, "S0001", True), (2019, "S0002", False), (2023, "S0009", None)]
    assert quarantine(con) == [("survey/2018/a.csv", None, ["missing_required_column"])]


def test_windows_line_endings_are_not_control_characters_but_a_lone_cr_is(tmp_path):
    from orchestration.ingest.layout import scan_file

    windows = tmp_path / "windows.csv"
    windows.write_bytes(b"a,b\r\n1,2\r\n")
    lone = tmp_path / "lone.csv"
    lone.write_bytes(b"a,b\r\n1,\r2\r\n")
    assert (scan_file(windows).lines, scan_file(windows).has_control_characters) == (2, False)
    assert scan_file(lone).has_control_characters is True
