"""Ingest on small messy exports, into real DuckDB files in a temp dir.

The fixtures (``tests/fixtures/raw_exports.py``) hold one row per reason code, labelled by
household code; these tests check that exactly those rows are quarantined with exactly those
reasons, that the rest load normalised, that lineage leads back to the right cell row, that no
name or id number is stored in clear, and that re-runs and re-sent files behave.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import hmac
import json
import os
import shutil
import stat
import threading
import time
from pathlib import Path

import dagster
import duckdb
import pytest
from fixtures.raw_exports import (
    SURVEY_HEADERS,
    YEAR,
    YEAR_2025,
    build_raw_exports,
    valid_row,
    write_csv,
    write_survey_xlsx,
)
from python_calamine import CalamineWorkbook

from orchestration import ingest as ingest_module
from orchestration.base.admin_units import load_admin_units, unit_version_for_year
from orchestration.base.headers import normalise_header
from orchestration.base.pii import KEY_ENV, hmac_pads, hmac_sql, load_or_create_pii_key
from orchestration.ingest import (
    DATASETS,
    ensure_schemas,
    ingest_dataset,
    list_review_years,
    raw_files_fingerprint,
)
from orchestration.ingest import inputs as inputs_module
from orchestration.ingest import layout as layout_module
from orchestration.ingest import years as years_module
from orchestration.ingest.layout import SETTLE_NS, FileIdentity, settled
from orchestration.ingest.limits import ReadLimits
from orchestration.ingest.years import ingest_years

KEY = bytes.fromhex("00112233445566778899aabbccddeeff" * 2)


def digest(text: str) -> str:
    return hmac.new(KEY, text.encode(), hashlib.sha256).hexdigest()


def ingest_all(con: duckdb.DuckDBPyConnection, raw_dir: Path, run_id: str) -> dict:
    reports = {}
    for dataset in DATASETS:
        reports[(dataset, YEAR)] = ingest_dataset(
            con, raw_dir, dataset, YEAR, run_id=run_id, pii_key=KEY
        )
    reports[("survey", YEAR_2025)] = ingest_dataset(
        con, raw_dir, "survey", YEAR_2025, run_id=run_id, pii_key=KEY
    )
    return reports


@pytest.fixture
def warehouse(tmp_path, reference_db) -> Path:
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(reference_db, path)
    return path


@pytest.fixture
def loaded(tmp_path, warehouse):
    exports = build_raw_exports(tmp_path / "raw")
    con = duckdb.connect(str(warehouse))
    reports = ingest_all(con, exports.raw_dir, "run-1")
    yield exports, con, reports
    con.close()


def file_row(raw_dir: Path, file_name: str, sheet: str | None, row: int) -> dict[str, str]:
    """Read one row back from the source file, as header → text, by its human row number."""
    path = raw_dir / file_name
    if path.suffix == ".csv":
        # One physical line is one record (a broken line must not swallow the next ones here
        # either).
        lines = path.read_text(encoding="utf-8-sig").splitlines()
        header, cells = next(csv.reader(lines[:1])), next(csv.reader([lines[row - 1]]))
    else:
        workbook = CalamineWorkbook.from_path(str(path))
        rows = workbook.get_sheet_by_name(sheet).to_python(skip_empty_area=False)
        header_row = next(r for r in rows if "Mã hộ" in r)
        header, cells = header_row, rows[row - 1]
    return {
        normalise_header(h): (str(int(c)) if isinstance(c, float) else str(c))
        for h, c in zip(header, cells, strict=False)
    }


HOUSEHOLD = normalise_header("Mã hộ")


# --------------------------------------------------------------------------- the keyed hash


def test_hmac_in_duckdb_equals_python_hmac():
    inner, outer = hmac_pads(KEY)
    long_key = b"k" * 100
    long_inner, long_outer = hmac_pads(long_key)
    messages = ["001203004567", "Nguyễn", "back\\slash \\x41", ""]
    with duckdb.connect() as con:
        for message in messages:
            got = con.execute(
                f"select {hmac_sql('$m')}", {"m": message, "hmac_inner": inner, "hmac_outer": outer}
            ).fetchone()[0]
            assert got == hmac.new(KEY, message.encode(), hashlib.sha256).hexdigest()
            got_long = con.execute(
                f"select {hmac_sql('$m')}",
                {"m": message, "hmac_inner": long_inner, "hmac_outer": long_outer},
            ).fetchone()[0]
            assert got_long == hmac.new(long_key, message.encode(), hashlib.sha256).hexdigest()


def test_pii_key_from_environment_and_key_file(tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY.hex())
    assert load_or_create_pii_key() == KEY

    monkeypatch.delenv(KEY_ENV)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    first = load_or_create_pii_key()
    assert load_or_create_pii_key() == first and len(first) == 32
    key_file = tmp_path / "config" / "poverty-warehouse" / "pii_hmac.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700


# --------------------------------------------------------------------------- reasons and rows


def test_each_reason_quarantines_exactly_its_rows(loaded):
    exports, con, _ = loaded
    loaded_codes = {
        code
        for (code,) in con.execute(
            "select household_code from raw.survey_households where review_year = ?", [YEAR]
        ).fetchall()
    }
    assert loaded_codes == exports.expected_loaded

    quarantined: dict[str, set[str]] = {}
    rows = con.execute(
        """
        select source_file, source_sheet, source_row, reasons from audit.quarantine
        where dataset = 'survey' and review_year = ? and source_row is not null
        """,
        [YEAR],
    ).fetchall()
    for file_name, sheet, row, reasons in rows:
        code = file_row(exports.raw_dir, file_name, sheet, row)[HOUSEHOLD]
        quarantined.setdefault(code, set()).update(reasons)
    assert quarantined == exports.expected_reasons
    # H009 is on one row of the CSV and one of the workbook: both rows are quarantined.
    assert len([r for r in rows if "duplicate_household" in r[3]]) == 2


def test_row_balance_per_file_and_in_total(loaded):
    _, con, reports = loaded
    files = con.execute(
        "select file_name, rows_read, rows_loaded, rows_quarantined from audit.source_files"
    ).fetchall()
    assert files and all(read == ok + bad for _, read, ok, bad in files)
    report = reports[("survey", YEAR)]
    assert report.rows_read == report.rows_loaded + report.rows_quarantined
    raw_rows = con.execute(
        "select count(*) from raw.survey_households where review_year = ?", [YEAR]
    )
    assert raw_rows.fetchone()[0] == report.rows_loaded
    # 20 CSV rows (the empty line and the row of empty fields are not read), 4 workbook rows,
    # 2 rows of the file that lacks a column; the duplicate copy and the broken file add none.
    assert (report.rows_read, report.rows_loaded, report.rows_quarantined) == (26, 5, 21)


def test_lineage_points_at_the_file_and_row(loaded):
    exports, con, _ = loaded
    rows = con.execute(
        """
        select household_code, source_file, source_sheet, source_row, source_sha256, run_id,
               loaded_at
        from raw.survey_households
        """
    ).fetchall()
    for code, file_name, sheet, row, sha, run_id, loaded_at in rows:
        assert file_row(exports.raw_dir, file_name, sheet, row)[HOUSEHOLD] == code
        assert sha == hashlib.sha256((exports.raw_dir / file_name).read_bytes()).hexdigest()
        assert run_id == "run-1" and loaded_at is not None
    by_code = {r[0]: r[1:4] for r in rows}
    assert by_code["H001"] == ("survey/2023/district_a.csv", None, 2)
    assert by_code["H020"] == ("survey/2023/district_a.csv", None, 22)  # after an empty line
    assert by_code["H021"] == ("survey/2023/district_b.xlsx", "Phiếu B", 5)  # titles above
    assert by_code["H023"] == ("survey/2023/district_b.xlsx", "Phiếu B", 8)  # after a blank row


def test_values_are_normalised(loaded):
    _, con, _ = loaded
    columns = [
        "household_code",
        "province_code",
        "district_code",
        "commune_code",
        "income_per_capita",
        "area_type",
        "head_sex",
        "reported_class",
        "ethnicity",
        "household_size",
        "d_employment",
        "d_dependents",
        "d_nutrition",
        "d_health_insurance",
        "d_adult_education",
        "d_child_schooling",
        "is_meritorious_family",
        "is_social_protection",
        "is_no_labour_capacity",
        "village",
        "unit_version",
    ]
    rows = {
        r[0]: dict(zip(columns, r, strict=True))
        for r in con.execute(f"select {', '.join(columns)} from raw.survey_households").fetchall()
    }
    h001, h002, h020, h023 = rows["H001"], rows["H002"], rows["H020"], rows["H023"]
    # marks x, X, 1, 0, empty and " x " on the first six indicators
    assert [h001[c] for c in columns[10:16]] == [True, True, True, False, False, True]
    assert h001["income_per_capita"] == 1_500_000 and h001["area_type"] == "rural"
    assert (h001["head_sex"], h001["reported_class"]) == ("female", "poor")
    # codes '2', '24', '691' regain their zeros
    assert (h002["province_code"], h002["district_code"], h002["commune_code"]) == (
        "02",
        "024",
        "00691",
    )
    assert (h002["area_type"], h002["head_sex"], h002["reported_class"]) == (
        "urban",
        "male",
        "near_poor",
    )
    assert [h002[c] for c in columns[16:19]] == [True, True, True]
    assert h002["ethnicity"] == "Mông" and len(h002["ethnicity"]) == 4  # NFC
    assert h020["village"] == "Thôn 1, xóm 2" and h020["head_sex"] is None
    # numeric spreadsheet cells: 2, 24, 692 → zero padded; 1250000.0 → 1250000
    assert (h023["province_code"], h023["district_code"], h023["commune_code"]) == (
        "02",
        "024",
        "00692",
    )
    assert h023["income_per_capita"] == 1_250_000 and h023["household_size"] == 3
    assert h023["d_employment"] is True and h023["d_nutrition"] is False
    assert h023["unit_version"] == "pre2025"


def test_id_numbers_are_keyed_hashes(loaded):
    _, con, _ = loaded
    hashes = dict(
        con.execute("select household_code, head_id_hash from raw.survey_households").fetchall()
    )
    assert hashes["H001"] == digest("002900000001")
    # a numeric workbook cell lost its leading zeros; they are restored before hashing
    assert hashes["H023"] == digest("002123456789")


def test_no_name_or_id_number_stored_in_clear(loaded):
    exports, con, _ = loaded
    secrets = [s for s in exports.names + exports.id_numbers if s]
    assert len(secrets) > 40
    columns = con.execute(
        """
        select table_schema, table_name, column_name from information_schema.columns
        where table_schema in ('raw', 'audit')
          and (data_type like 'VARCHAR%' or data_type = 'JSON')
        """
    ).fetchall()
    assert len(columns) > 20
    for schema, table, column in columns:
        text = con.execute(
            f"select coalesce(string_agg(\"{column}\"::VARCHAR, chr(10)), '') from {schema}.{table}"
        ).fetchone()[0]
        for secret in secrets:
            assert secret not in text, f"{secret!r} stored in {schema}.{table}.{column}"


def test_whole_file_problems_quarantine_the_file(loaded):
    _, con, _ = loaded
    files = {
        r[0]: r[1:]
        for r in con.execute(
            """
            select file_name, status, status_reason, rows_read, rows_loaded, rows_quarantined
            from audit.source_files where dataset = 'survey'
            """
        ).fetchall()
    }
    status, reason, read, ok, bad = files["survey/2023/no_household_code.csv"]
    assert (status, read, ok, bad) == ("quarantined", 2, 0, 2) and "household_code" in reason
    assert files["survey/2023/broken.xlsx"][0] == "quarantined"
    assert files["survey/2023/broken.xlsx"][2:] == (0, 0, 0)
    assert files["survey/2023/district_a_copy.csv"][0] == "duplicate"
    assert files["survey/2023/district_a_copy.csv"][2:] == (0, 0, 0)

    file_level = dict(
        con.execute(
            """
            select source_file, reasons from audit.quarantine
            where source_row is null and dataset = 'survey'
            """
        ).fetchall()
    )
    assert file_level == {
        "survey/2023/no_household_code.csv": ["missing_required_column"],
        "survey/2023/broken.xlsx": ["unreadable_file"],
    }
    missing = con.execute(
        """
        select raw_record->'$.missing_columns' from audit.quarantine
        where source_file = 'survey/2023/no_household_code.csv'
        """
    ).fetchone()[0]
    assert missing == '["household_code"]'


def test_quarantine_keeps_raw_text_without_name(loaded):
    exports, con, _ = loaded
    record = con.execute(
        """
        select raw_record from audit.quarantine
        where source_file = 'survey/2023/district_a.csv' and source_row = 14
        """
    ).fetchone()[0]
    assert '"Thu nhập BQ (đồng/người/tháng)":"khoảng 1 triệu"' in record
    assert "Họ tên chủ hộ" not in record
    assert f'"Số định danh chủ hộ":"{digest("002900000012")}"' in record
    extra = con.execute(
        "select raw_record from audit.quarantine where source_row = 23 and dataset = 'survey'"
    ).fetchone()[0]
    # A cell beyond the header is under no header: only its keyed hash is kept.
    assert f'"(no header)":["{digest("thừa")}"]' in extra and "thừa" not in extra
    # Every quarantined row's record is the text of that very row: the typed pass keeps no text,
    # so files with bad rows are re-read (after an empty line, in a workbook, in 2025 alike).
    records = con.execute(
        """
        select source_file, source_sheet, source_row, raw_record from audit.quarantine
        where source_row is not null
        """
    ).fetchall()
    assert {Path(name).suffix for name, *_ in records} == {".csv", ".xlsx"}
    assert any(name.endswith("district_a.csv") and row > 22 for name, _, row, _ in records)
    for file_name, sheet, row, record in records:
        cells = {normalise_header(k): v for k, v in json.loads(record).items()}
        expected = file_row(exports.raw_dir, file_name, sheet, row).get(HOUSEHOLD) or None
        assert cells.get(HOUSEHOLD) == expected, (file_name, row)


def test_quarantined_records_hash_what_is_not_a_known_column_or_looks_like_an_id(con, tmp_path):
    """Two layouts in one year, each row quarantined (an unknown commune): a cell under an
    unknown or empty header is its keyed hash, and so is an id-like cell in a known column; a
    known column keeps its text, one over the cell limit only its beginning and length."""
    year_dir = tmp_path / "raw" / "survey" / str(YEAR)
    wide = [*SURVEY_HEADERS, "Ghi chú", ""]
    write_csv(
        year_dir / "a.csv",
        wide,
        [
            {**valid_row("H901", 901, **{"Mã xã": "99999", "Ghi chú": "gọi 0912345678"}), "": "x"},
            valid_row("H902", 902, **{"Mã xã": "99999", "Thôn/Tổ": " 001234567890 "}),
        ],
    )
    long_text = "dài " * 40
    write_csv(
        year_dir / "b.csv",
        SURVEY_HEADERS,
        [valid_row("H903", 903, **{"Mã xã": "99999", "Thôn/Tổ": long_text})],
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("POVERTY_MAX_CELL_CHARS", "100")
        ingest_dataset(con, tmp_path / "raw", "survey", YEAR, run_id="r", pii_key=KEY)
    records = {
        (Path(name).name, row): json.loads(record)
        for name, row, record in con.execute(
            "select source_file, source_row, raw_record from audit.quarantine"
        ).fetchall()
    }
    assert set(records) == {("a.csv", 2), ("a.csv", 3), ("b.csv", 2)}
    first, second, third = records[("a.csv", 2)], records[("a.csv", 3)], records[("b.csv", 2)]
    assert first["Ghi chú"] == digest("gọi 0912345678")
    assert first["(no header, column 32)"] == digest("x")
    assert first["Thôn/Tổ"] == "Tổ 1" and first["Mã xã"] == "99999"
    assert second["Thôn/Tổ"] == digest("001234567890")
    assert second["Ghi chú"] is None and second["(no header, column 32)"] is None
    assert third["Thôn/Tổ"] == long_text[:200] + f"… ({len(long_text)} characters)"
    assert "Ghi chú" not in third
    for record in records.values():
        assert "Họ tên chủ hộ" not in record
        assert record["Số định danh chủ hộ"] == digest(f"0029{int(record['Mã hộ'][1:]):08d}")


def test_commune_totals_and_difficult_areas(loaded):
    _, con, _ = loaded
    totals = con.execute(
        "select commune_code, total_households, total_population from raw.commune_totals "
        "order by commune_code"
    ).fetchall()
    assert totals == [("00688", 1200, 4800), ("00691", 900, 3500)]
    reasons = dict(
        con.execute(
            """
            select source_row, reasons from audit.quarantine where dataset = 'commune_totals'
            """
        ).fetchall()
    )
    assert reasons == {
        4: ["invalid_total_households"],
        5: ["invalid_commune_code"],
        6: ["duplicate_commune"],
        7: ["duplicate_commune"],
        8: ["year_mismatch"],
        9: ["invalid_total_population"],
    }
    areas = con.execute(
        """
        select commune_code, is_extremely_difficult, difficult_villages, total_villages,
               source_row
        from raw.difficult_areas order by commune_code
        """
    ).fetchall()
    assert areas == [("00688", False, 0, None, 3), ("00700", True, 3, 5, 2)]
    reasons = dict(
        con.execute(
            "select source_row, reasons from audit.quarantine where dataset = 'difficult_areas'"
        ).fetchall()
    )
    assert reasons == {
        4: ["invalid_flag_mark"],
        5: ["invalid_village_count"],
        6: ["duplicate_commune"],
        7: ["duplicate_commune"],
    }


def test_review_2025_has_no_districts(loaded):
    _, con, _ = loaded
    rows = con.execute(
        """
        select household_code, unit_version, province_code, district_code, commune_code
        from raw.survey_households where review_year = ?
        """,
        [YEAR_2025],
    ).fetchall()
    assert rows == [("N001", "2025", "01", None, "00097")]
    reasons = con.execute(
        "select reasons from audit.quarantine where review_year = ? and dataset = 'survey'",
        [YEAR_2025],
    ).fetchall()
    assert reasons == [(["invalid_district_code"],)]


# --------------------------------------------------------------------------- re-runs and re-sends

_VOLATILE = {"run_id", "loaded_at", "quarantined_at", "last_seen_at"}


# What the file system said of each file when it was hashed: whether a hash is recorded there
# depends on how long after the files were written the ingest came (layout.SETTLE_NS), not on
# what it loaded. Its own tests are below (test_an_unchanged_file_...).
_FILE_SYSTEM_STATE = frozenset({"audit.file_identities"})


def snapshot(
    con: duckdb.DuckDBPyConnection, volatile: frozenset[str] = frozenset()
) -> dict[str, list[tuple]]:
    tables = {}
    for schema, table in con.execute(
        """
        select table_schema, table_name from information_schema.tables
        where table_schema in ('raw', 'audit') order by all
        """
    ).fetchall():
        if f"{schema}.{table}" in _FILE_SYSTEM_STATE:
            continue
        columns = [
            c
            for (c,) in con.execute(
                "select column_name from information_schema.columns "
                "where table_schema = ? and table_name = ? order by ordinal_position",
                [schema, table],
            ).fetchall()
            if c not in _VOLATILE | volatile
        ]
        tables[f"{schema}.{table}"] = con.execute(
            f"select {', '.join(columns)} from {schema}.{table} order by all"
        ).fetchall()
    return tables


def test_rerun_gives_identical_tables(loaded):
    exports, con, _ = loaded
    before = snapshot(con)
    ingest_all(con, exports.raw_dir, "run-2")
    assert snapshot(con) == before
    assert con.execute("select count(distinct run_id) from raw.survey_households").fetchone() == (
        1,
    )


_KEPT_TABLES = (
    "raw.survey_households",
    "raw.commune_totals",
    "raw.difficult_areas",
    "audit.quarantine",
    "audit.ingested_years",
)


def test_an_unchanged_year_keeps_its_rows_and_names_the_run_that_wrote_them(loaded):
    """Same files, same key, units, limits and rules: nothing is read or written again. The
    rows keep the run and time that loaded them (their lineage), the report gives each file's
    recorded outcome, and the files' last_seen_at moves to this run."""
    exports, con, first = loaded
    assert {report.unchanged_since for report in first.values()} == {None}
    kept = {t: con.execute(f"select * from {t} order by all").fetchall() for t in _KEPT_TABLES}
    files = "select * exclude (last_seen_at) from audit.source_files order by all"
    files_before = con.execute(files).fetchall()
    (seen_before,) = con.execute("select max(last_seen_at) from audit.source_files").fetchone()
    second = ingest_all(con, exports.raw_dir, "run-2")
    assert {key: report.unchanged_since for key, report in second.items()} == dict.fromkeys(
        first, "run-1"
    )
    for key, report in second.items():
        assert report.files == first[key].files, key
    assert {t: con.execute(f"select * from {t} order by all").fetchall() for t in kept} == kept
    assert con.execute(files).fetchall() == files_before
    (seen_after,) = con.execute(
        "select min(last_seen_at) from audit.source_files where status not in ('replaced', "
        "'removed')"
    ).fetchone()
    assert seen_after > seen_before


@pytest.fixture
def settled_at_once(monkeypatch):
    """Every hash settled however recent the file (``layout.SETTLE_NS`` 0): the fixtures' files
    were written a moment before they are read."""
    monkeypatch.setattr(layout_module, "SETTLE_NS", 0)


def _hashes(monkeypatch) -> list[Path]:
    """The files the unchanged-year check reads from now on (``inputs.file_sha256``)."""
    read: list[Path] = []
    real = inputs_module.file_sha256

    def counted(path: Path) -> str:
        read.append(path)
        return real(path)

    monkeypatch.setattr(inputs_module, "file_sha256", counted)
    return read


def _current_hashes(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    return con.execute(
        """
        select dataset, review_year, file_name, sha256 from audit.source_files
        where status in ('loaded', 'quarantined', 'duplicate') order by all
        """
    ).fetchall()


def test_a_file_whose_identity_holds_is_not_read_to_find_its_year_unchanged(
    tmp_path, warehouse, settled_at_once, monkeypatch
):
    """Each file the ingest hashed keeps its identity on the file system with that hash; a year
    whose files all have the identity recorded is found unchanged without reading any of them.
    A file only touched (new times, same bytes) is read once, the year stays unchanged, and its
    new identity is recorded: the next run reads nothing again."""
    exports = build_raw_exports(tmp_path / "raw")
    con = duckdb.connect(str(warehouse))
    ingest_all(con, exports.raw_dir, "run-1")
    identities = "select dataset, review_year, file_name, sha256 from audit.file_identities"
    assert con.execute(identities + " order by all").fetchall() == _current_hashes(con)
    read = _hashes(monkeypatch)
    second = ingest_all(con, exports.raw_dir, "run-2")
    assert {report.unchanged_since for report in second.values()} == {"run-1"}
    ignored = {
        exports.raw_dir / name
        for (name,) in con.execute(
            "select file_name from audit.source_files where status = 'ignored'"
        ).fetchall()
    }
    # Only the files the ingest ignores were never hashed with an identity to keep.
    assert set(read) == ignored
    touched = sorted((exports.raw_dir / "survey" / str(YEAR)).glob("*.csv"))[0]
    # New times, not in the future: a file dated after the hash never settles.
    earlier = touched.stat().st_mtime_ns - 5_000_000_000
    os.utime(touched, ns=(earlier, earlier))
    read.clear()
    third = ingest_all(con, exports.raw_dir, "run-3")
    assert {report.unchanged_since for report in third.values()} == {"run-1"}
    assert touched in read
    read.clear()
    ingest_all(con, exports.raw_dir, "run-4")
    assert read == []


def test_a_file_rewritten_with_its_old_size_and_times_is_read_again(
    tmp_path, warehouse, settled_at_once, monkeypatch
):
    """The bytes of a file change in place, its size and modification time are set back as
    they were: the change of its inode's status time still says it is not the file hashed, so
    its year is read again and the new bytes are the ones recorded."""
    exports = build_raw_exports(tmp_path / "raw")
    con = duckdb.connect(str(warehouse))
    ingest_all(con, exports.raw_dir, "run-1")
    target = sorted((exports.raw_dir / "survey" / str(YEAR)).glob("*.csv"))[0]
    before = target.stat()
    data = bytearray(target.read_bytes())
    # The last digit of the file, replaced in place by another.
    position = max(i for i, byte in enumerate(data) if chr(byte).isdigit())
    data[position] = ord("1") if data[position] != ord("1") else ord("2")
    with target.open("r+b") as handle:
        handle.write(data)
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = target.stat()
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (
        before.st_size,
        before.st_mtime_ns,
        before.st_ino,
    )
    read = _hashes(monkeypatch)
    report = ingest_dataset(con, exports.raw_dir, "survey", YEAR, run_id="run-2", pii_key=KEY)
    assert report.unchanged_since is None
    assert target in read
    name = target.relative_to(exports.raw_dir).as_posix()
    (sha256,) = con.execute(
        "select sha256 from audit.source_files where file_name = ? and status <> 'replaced'",
        [name],
    ).fetchone()
    assert sha256 == hashlib.sha256(bytes(data)).hexdigest()


def test_a_hash_stands_for_a_file_only_once_its_last_change_is_settled():
    """``layout.settled``: the identity must not move during the hash, and the file's last
    change (bytes or inode) must come ``SETTLE_NS`` or more before the hash began."""
    hashed_from = 10 * SETTLE_NS
    old = FileIdentity(1, 2, 3, mtime_ns=hashed_from - SETTLE_NS, ctime_ns=hashed_from - SETTLE_NS)
    assert settled(old, old, hashed_from)
    assert not settled(old, old, hashed_from - 1)
    assert not settled(None, old, hashed_from)
    for moved in (
        FileIdentity(1, 2, 4, old.mtime_ns, old.ctime_ns),
        FileIdentity(1, 9, 3, old.mtime_ns, old.ctime_ns),
        FileIdentity(1, 2, 3, old.mtime_ns, old.ctime_ns + 1),
        FileIdentity(1, 2, 3, old.mtime_ns + 1, old.ctime_ns),
    ):
        assert not settled(old, moved, hashed_from)
    recent = FileIdentity(1, 2, 3, mtime_ns=old.mtime_ns, ctime_ns=hashed_from - 1)
    assert not settled(recent, recent, hashed_from)


def _change_units(con: duckdb.DuckDBPyConnection) -> None:
    # A commune the exports do not use leaves the year's unit version.
    con.execute(
        """
        delete from reference.admin_units where unit_version = $version and commune_code = (
            select max(commune_code) from reference.admin_units where unit_version = $version)
        """,
        {"version": unit_version_for_year(YEAR)},
    )


@pytest.mark.parametrize(
    "change", ["key", "limits", "units", "ignored_file", "read_during_change", "record_deleted"]
)
def test_a_year_is_read_again_when_anything_its_rows_are_made_from_changed(
    loaded, change, monkeypatch
):
    exports, con, _ = loaded
    key, limits = KEY, None
    if change == "key":
        key = KEY[::-1]
    elif change == "limits":
        limits = ReadLimits(max_cell_chars=4_000)
    elif change == "units":
        _change_units(con)
    elif change == "ignored_file":
        (exports.raw_dir / "survey" / str(YEAR) / "notes.txt").write_text("sent by mail\n")
    elif change == "record_deleted":
        # How docs/operations.md says to read a year again anyway.
        con.execute("delete from audit.ingested_years where review_year = ?", [YEAR])
    else:
        # run-1b (a new key, so it reads) finds one file changed while it was read; run-2, with
        # the same key and the same bytes, reads it again.
        key = KEY[::-1]
        target = sorted((exports.raw_dir / "survey" / str(YEAR)).glob("*.csv"))[0]
        real = ingest_module._rehash
        monkeypatch.setattr(
            ingest_module,
            "_rehash",
            lambda state: "0" * 64 if state.path == target else real(state),
        )
        ingest_dataset(con, exports.raw_dir, "survey", YEAR, run_id="run-1b", pii_key=key)
        monkeypatch.setattr(ingest_module, "_rehash", real)
        ((status,),) = con.execute(
            "select status from audit.source_files where file_name = ? and status <> 'replaced'",
            [target.relative_to(exports.raw_dir).as_posix()],
        ).fetchall()
        assert status == "quarantined"
    report = ingest_dataset(
        con, exports.raw_dir, "survey", YEAR, run_id="run-2", pii_key=key, limits=limits
    )
    assert report.unchanged_since is None
    runs = con.execute(
        "select distinct run_id from raw.survey_households where review_year = ?", [YEAR]
    ).fetchall()
    assert runs == [("run-2",)]
    (inputs_run,) = con.execute(
        "select run_id from audit.ingested_years where review_year = ? and dataset = 'survey'",
        [YEAR],
    ).fetchone()
    assert inputs_run == "run-2"
    # And found unchanged at once after.
    again = ingest_dataset(
        con, exports.raw_dir, "survey", YEAR, run_id="run-3", pii_key=key, limits=limits
    )
    assert again.unchanged_since == "run-2"


def test_resent_file_replaces_its_rows(loaded):
    exports, con, _ = loaded
    year_dir = exports.raw_dir / "survey" / str(YEAR)
    workbook = year_dir / "district_b.xlsx"
    old_sha = hashlib.sha256(workbook.read_bytes()).hexdigest()
    # The corrected workbook drops H009 (so district_a.csv's H009 is no longer a duplicate)
    # and adds H025.
    write_survey_xlsx(
        workbook, [valid_row("H021", 21), valid_row("H025", 25)], titles=[], header_row=0
    )
    new_sha = hashlib.sha256(workbook.read_bytes()).hexdigest()
    ingest_dataset(con, exports.raw_dir, "survey", YEAR, run_id="run-2", pii_key=KEY)

    history = con.execute(
        """
        select sha256, status, rows_read, rows_loaded, run_id from audit.source_files
        where file_name = 'survey/2023/district_b.xlsx' order by first_seen_at, status
        """
    ).fetchall()
    assert history == [(old_sha, "replaced", 4, 2, "run-1"), (new_sha, "loaded", 2, 2, "run-2")]
    from_workbook = con.execute(
        """
        select household_code, source_row, source_sha256 from raw.survey_households
        where source_file = 'survey/2023/district_b.xlsx' order by source_row
        """
    ).fetchall()
    assert from_workbook == [("H021", 2, new_sha), ("H025", 3, new_sha)]
    codes = {
        c for (c,) in con.execute("select household_code from raw.survey_households").fetchall()
    }
    assert "H009" in codes and "H023" not in codes
    stale = con.execute(
        "select count(*) from audit.quarantine where source_sha256 = ?", [old_sha]
    ).fetchone()[0]
    assert stale == 0


def test_file_removed_from_disk_turns_removed(loaded):
    exports, con, _ = loaded
    (exports.raw_dir / "survey" / str(YEAR) / "broken.xlsx").unlink()
    ingest_dataset(con, exports.raw_dir, "survey", YEAR, run_id="run-2", pii_key=KEY)
    status, reason = con.execute(
        "select status, status_reason from audit.source_files where file_name like '%broken.xlsx'"
    ).fetchone()
    assert status == "removed" and "no longer" in reason
    assert con.execute(
        "select count(*) from audit.quarantine where source_file like '%broken.xlsx'"
    ).fetchone() == (0,)


def test_identical_copy_is_not_read_and_new_copy_does_not_flip(loaded):
    exports, con, _ = loaded
    year_dir = exports.raw_dir / "survey" / str(YEAR)
    shutil.copy(year_dir / "district_a.csv", year_dir / "aaa_first_by_name.csv")
    report = ingest_dataset(con, exports.raw_dir, "survey", YEAR, run_id="run-2", pii_key=KEY)
    statuses = {f.file_name: f.status for f in report.files}
    assert statuses["survey/2023/district_a.csv"] == "loaded"
    assert statuses["survey/2023/aaa_first_by_name.csv"] == "duplicate"
    count = con.execute("select count(*) from raw.survey_households where review_year = ?", [YEAR])
    assert count.fetchone()[0] == 5


# --------------------------------------------------------------------------- odd files


def test_csv_edge_cases(tmp_path, warehouse):
    raw_dir = tmp_path / "raw"
    year_dir = raw_dir / "survey" / str(YEAR)
    rows = [
        valid_row("Q001", 1, **{"Thôn/Tổ": "Tổ 3\nngõ 5"}),
        None,
        valid_row("Q002", 2),
    ]
    write_csv(year_dir / "quoted_newline.csv", SURVEY_HEADERS, rows, newline="\n")
    (year_dir / "latin1.csv").write_bytes(
        ",".join(SURVEY_HEADERS).encode("utf-8") + b"\n2023,02,024,00688,Ph\xf0\n"
    )
    (year_dir / "notes.txt").write_text("not data", encoding="utf-8")
    with duckdb.connect(str(warehouse)) as con:
        report = ingest_dataset(con, raw_dir, "survey", YEAR, run_id="r", pii_key=KEY)
        by_name = {f.file_name.rsplit("/", 1)[1]: f for f in report.files}
        # A quote must close on its line: the two halves of the record are quarantined alone.
        newline = by_name["quoted_newline.csv"]
        assert (newline.rows_loaded, newline.rows_quarantined, newline.lines) == (1, 2, 5)
        assert by_name["latin1.csv"].status == "quarantined"
        assert by_name["notes.txt"].status == "ignored"
        reasons = con.execute(
            "select source_file, source_row, reasons from audit.quarantine order by all"
        ).fetchall()
        # Line 2 opens a quote it does not close; line 3 is short (its stray quote is inside
        # a cell, which RFC 4180 readers take as text).
        assert [r[1:] for r in reasons][:2] == [(None, ["not_utf8"]), (2, ["malformed_quoting"])]
        assert reasons[2][1] == 3 and reasons[2][2][0] == "missing_fields"
        assert con.execute("select household_code from raw.survey_households").fetchall() == [
            ("Q002",)
        ]


def test_missing_reference_is_a_clear_error(tmp_path):
    write_csv(tmp_path / "raw" / "survey" / str(YEAR) / "a.csv", SURVEY_HEADERS, [])
    with duckdb.connect(str(tmp_path / "empty.duckdb")) as con:
        ensure_schemas(con)
        with pytest.raises(RuntimeError, match="admin_units"):
            ingest_dataset(con, tmp_path / "raw", "survey", YEAR, run_id="r", pii_key=KEY)


def test_list_years_and_fingerprint(tmp_path):
    exports = build_raw_exports(tmp_path / "raw")
    assert list_review_years(exports.raw_dir) == [YEAR, YEAR_2025]
    first = raw_files_fingerprint(exports.raw_dir)
    assert "survey/2023/district_a.csv" in first and "commune_totals/2023.csv" in first
    sha = hashlib.sha256((exports.raw_dir / "commune_totals/2023.csv").read_bytes()).hexdigest()
    assert first["commune_totals/2023.csv"].endswith(sha)
    assert raw_files_fingerprint(exports.raw_dir, first) == first


# --------------------------------------------------------------------------- through Dagster


def test_assets_materialize_and_row_balance_passes(tmp_path, warehouse, monkeypatch):
    from orchestration.base.resources import build_resources
    from orchestration.base.settings import Settings
    from orchestration.ingest.assets import ingest_assets

    monkeypatch.setenv(KEY_ENV, KEY.hex())
    exports = build_raw_exports(tmp_path / "raw")
    # The production resources: the warehouse resource with its connection settings and run lock.
    production = build_resources(Settings(raw_dir=exports.raw_dir, warehouse_dir=tmp_path))
    assert production["warehouse"].warehouse_path == warehouse
    resources = {"paths": production["paths"], "warehouse": production["warehouse"]}
    instance = dagster.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("review_year", [str(YEAR), str(YEAR_2025)])
    result = dagster.materialize([ingest_assets[0]], instance=instance, resources=resources)
    assert result.success
    result = dagster.materialize(
        ingest_assets[1:],
        partition_key=str(YEAR),
        instance=instance,
        resources=resources,
        selection=[a.key for a in ingest_assets[1:]],
    )
    assert result.success
    evaluations = result.get_asset_check_evaluations()
    assert len(evaluations) == 3 and all(e.passed for e in evaluations)
    materializations = result.asset_materializations_for_node("raw__survey_households")
    metadata = materializations[0].metadata
    assert metadata["rows_read"].value == 26 and metadata["rows_quarantined"].value == 21
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select count(*) from raw.survey_households").fetchone()[0] == 5

    # The 2025 review loaded, then its folder deleted: a run of another year empties it, and its
    # row-balance checks still pass.
    result = dagster.materialize(
        ingest_assets[1:],
        partition_key=str(YEAR_2025),
        instance=instance,
        resources=resources,
        selection=[ingest_assets[1].key],
    )
    assert result.success
    shutil.rmtree(exports.raw_dir / "survey" / str(YEAR_2025))
    result = dagster.materialize(
        ingest_assets[1:],
        partition_key=str(YEAR),
        instance=instance,
        resources=resources,
        selection=[ingest_assets[1].key],
    )
    assert result.success and all(e.passed for e in result.get_asset_check_evaluations())
    metadata = result.asset_materializations_for_node("raw__survey_households")[0].metadata
    assert metadata["review_years_removed"].value == str(YEAR_2025)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        years = con.execute("select distinct review_year from raw.survey_households").fetchall()
        assert years == [(YEAR,)]
        statuses = con.execute(
            "select distinct status from audit.source_files where review_year = ?", [YEAR_2025]
        ).fetchall()
        assert statuses == [("removed",)]


# --------------------------------------------------------------------------- the generated sample


def test_generated_sample_quarantines_exactly_the_injected_rows(sample_tiny, tmp_path):
    """The messy sample: hundreds of files, most sharing a header (staged by one multi-file scan),
    with every injected bad row recorded by the generator. Exactly those rows are quarantined,
    with their reason, and loaded rows point back at their own line."""
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    load_admin_units(con)
    for year in sample_tiny.years:
        ingest_dataset(con, sample_tiny.raw_dir, "survey", year, run_id="run", pii_key=KEY)

    reasons_by_row: dict[tuple[str, int], set[str]] = {}
    for file_name, row, reason in con.execute(
        """
        select source_file, source_row, unnest(reasons) from audit.quarantine
        where source_row is not null
        """
    ).fetchall():
        reasons_by_row.setdefault((file_name, row), set()).add(reason)
    expected = sample_tiny.expected_quarantined_rows()
    # Exactly the injected rows, each with its injected reason among every reason that applies
    # (a short row's shifted cells also fail their own checks).
    assert set(reasons_by_row) == {(file_name, row) for file_name, row, _ in expected}
    missing = [e for e in expected if e[2] not in reasons_by_row[(e[0], e[1])]]
    assert missing == []
    # Each quarantined row's raw record (rebuilt by re-reading its file) is that row's text.
    records = con.execute(
        """
        select source_file, source_sheet, source_row, raw_record from audit.quarantine
        where source_row is not null and dataset = 'survey'
        """
    ).fetchall()
    assert len(records) > 10
    for file_name, sheet, row, record in records:
        assert record is not None, (file_name, row)
        cells = {normalise_header(k): v for k, v in json.loads(record).items()}
        expected = file_row(sample_tiny.raw_dir, file_name, sheet, row).get(HOUSEHOLD) or None
        assert cells.get(HOUSEHOLD) == expected, (file_name, row)
    whole_files = {
        name
        for (name,) in con.execute(
            "select file_name from audit.source_files where status = 'quarantined'"
        ).fetchall()
    }
    assert whole_files == {f["file"] for f in sample_tiny.expected_mess["bad_files"]}
    loaded = dict(
        con.execute(
            "select review_year, count(*) from raw.survey_households group by all"
        ).fetchall()
    )
    assert loaded == sample_tiny.expected_loaded_rows

    # Every 97th loaded row, read back from its file by its row number.
    rows = con.execute(
        """
        select household_code, source_file, source_sheet, source_row
        from raw.survey_households
        where hash(household_code) % 97 = 0
        """
    ).fetchall()
    assert len(rows) > 50
    for code, file_name, sheet, row in rows:
        assert file_row(sample_tiny.raw_dir, file_name, sheet, row)[HOUSEHOLD] == code


class _ProgressRecorder:
    """Records ``ingest_years``' per-file progress calls, the threads making them, and whether
    two were ever made at once."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, int, int, int]] = []
        self.threads: dict[str, set[str]] = {}
        self.overlapped = False
        self._inside = 0

    def on_file(self, dataset: str, year: int, done: int, total: int, rows: int) -> None:
        self._inside += 1
        self.overlapped |= self._inside > 1
        self.threads.setdefault(dataset, set()).add(threading.current_thread().name)
        time.sleep(0.001)  # long enough for a second call to arrive, were calls not serialised
        self.calls.append((dataset, year, done, total, rows))
        self._inside -= 1


def _ingest_years_recorded(con, raw_dir, datasets, years, progress, **kwargs) -> dict:
    """``ingest_years`` of each dataset in turn, its progress calls recorded by ``progress``."""
    return {
        dataset: ingest_years(
            con,
            raw_dir,
            dataset,
            years,
            run_id="run",
            pii_key=KEY,
            on_file=functools.partial(progress.on_file, dataset),
            **kwargs,
        )
        for dataset in datasets
    }


def test_years_ingested_two_at_a_time_leave_what_one_after_the_other_leaves(
    sample_tiny, tmp_path, reference_db
):
    """``ingest_years`` runs two review years at once, each on its own cursor: on the messy
    sample (bad rows, whole files quarantined, workbooks) every raw and audit table holds
    exactly what the years ingested one after the other hold, and the per-file progress is
    the same calls, never two at once."""
    years = sample_tiny.years[:3]  # three: one pair at once, then one year alone
    outcomes = {}
    for workers in (1, 2):
        path = tmp_path / f"warehouse-{workers}.duckdb"
        shutil.copy(reference_db, path)
        progress = _ProgressRecorder()
        with duckdb.connect(str(path)) as con:
            reports = _ingest_years_recorded(
                con, sample_tiny.raw_dir, DATASETS, years, progress, workers=workers
            )
            assert {d: [r.review_year for r in reports[d]] for d in reports} == {
                d: list(years) for d in DATASETS
            }
            # Two warehouses built seconds apart: when a file was first seen differs.
            outcomes[workers] = (
                snapshot(con, frozenset({"first_seen_at"})),
                sorted(progress.calls),
                progress.threads,
            )
        assert not progress.overlapped
    (one_by_one, calls_1, threads_1), (two_at_once, calls_2, threads_2) = outcomes[1], outcomes[2]
    # One thread per dataset one after the other; two (a pool's) per dataset at once.
    assert {len(names) for names in threads_1.values()} == {1}
    assert {len(names) for names in threads_2.values()} == {2}
    assert two_at_once["audit.quarantine"] and two_at_once["raw.survey_households"]
    assert two_at_once == one_by_one
    assert calls_2 == calls_1


def test_years_go_one_after_the_other_when_one_of_them_is_large(
    sample_tiny, tmp_path, reference_db, monkeypatch
):
    """A year whose files pass ``SMALL_YEAR_BYTES`` keeps both cores busy alone: the dataset's
    years are then ingested one after the other, on the caller's thread; the small datasets
    of the same sample still go two at a time."""

    def year_bytes(dataset: str, year: int) -> int:
        folder = sample_tiny.raw_dir / dataset
        files = (folder / str(year)).iterdir() if dataset == "survey" else [folder / f"{year}.csv"]
        return sum(p.lstat().st_size for p in files)

    years = sample_tiny.years[:3]
    large = 50_000
    assert min(year_bytes("survey", y) for y in years) > large
    assert max(year_bytes("commune_totals", y) for y in years) < large
    monkeypatch.setattr(years_module, "SMALL_YEAR_BYTES", large)
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(reference_db, path)
    progress = _ProgressRecorder()
    with duckdb.connect(str(path)) as con:
        _ingest_years_recorded(
            con, sample_tiny.raw_dir, ("survey", "commune_totals"), years, progress
        )
    assert progress.threads["survey"] == {threading.current_thread().name}
    assert len(progress.threads["commune_totals"]) == 2


def test_a_year_that_fails_rolls_back_alone_and_its_error_is_raised(
    sample_tiny, tmp_path, reference_db, monkeypatch
):
    """Two years at once, each in its own transaction: the year whose write fails keeps the
    rows it had, the others are written, and the failure is raised once they have ended."""
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(reference_db, path)
    years = list(sample_tiny.years[:3])
    failing = years[1]
    with duckdb.connect(str(path)) as con:
        ingest_years(con, sample_tiny.raw_dir, "survey", years, run_id="run-1", pii_key=KEY)
        real_write_audit = ingest_module.write_audit

        def write_audit(con, dataset, review_year, *args, **kwargs):
            if review_year == failing:
                raise OSError(28, "No space left on device")
            return real_write_audit(con, dataset, review_year, *args, **kwargs)

        monkeypatch.setattr(ingest_module, "write_audit", write_audit)
        # A new key: every year is read again (unchanged inputs would keep the rows of run-1).
        with pytest.raises(OSError, match="No space left on device"):
            ingest_years(
                con, sample_tiny.raw_dir, "survey", years, run_id="run-2", pii_key=KEY[::-1]
            )
        runs = dict(
            con.execute(
                "select review_year, string_agg(distinct run_id) "
                "from raw.survey_households group by all"
            ).fetchall()
        )
        audit_runs = dict(
            con.execute(
                "select review_year, string_agg(distinct run_id) from audit.source_files "
                "where dataset = 'survey' group by all"
            ).fetchall()
        )
    assert runs == {year: "run-1" if year == failing else "run-2" for year in years}
    assert audit_runs == runs


def test_text_cleaning_matches_nfc_and_trim_on_awkward_text() -> None:
    """``_clean`` skips NFC and the trim for text it recognises as already clean; on any text it
    must equal NFC normalisation then trimming spaces, tabs, line ends, no-break spaces and BOMs."""
    import random
    import unicodedata

    from orchestration.ingest import _MACROS

    alphabet = [" ", "\t", "\n", "\r", "\u00a0", "\ufeff", "a", "Ơ", "ệ", "\u0301", "\u0300",
                "\x0b", "\u2003", "\u0085", "1", "中", "\x01", "đ", "Đ"]  # fmt: skip
    rng = random.Random(7)
    texts = ["", " Hà Nội ", "\u00a0Mông\ufeff", "Mo\u0302ng", "Thôn 5", "e\u0301 "] + [
        "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6))) for _ in range(3000)
    ]
    con = duckdb.connect()
    for macro in _MACROS:
        con.execute(macro)
    con.execute("create table texts (i integer, t varchar)")
    con.executemany("insert into texts values (?, ?)", list(enumerate(texts)))
    cleaned = dict(con.execute("select i, _clean(t) from texts").fetchall())
    for i, text in enumerate(texts):
        expected = unicodedata.normalize("NFC", text).strip(" \t\r\n\u00a0\ufeff") or None
        assert cleaned[i] == expected, repr(text)


def test_rows_of_whitespace_are_skipped_and_a_name_alone_is_quarantined(tmp_path, warehouse):
    """A row whose cells are all empty once trimmed (spaces, a no-break space) is not a row;
    one holding only the head's name is a row with every required cell missing. Either may
    have an empty first cell, so the blank test cannot stop at the first cell."""
    year_dir = tmp_path / "raw" / "survey" / str(YEAR)
    year_dir.mkdir(parents=True)
    width = len(SURVEY_HEADERS)
    name_only = [""] * width
    name_only[SURVEY_HEADERS.index("Họ tên chủ hộ")] = "Nguyễn Thị Giả Danh 801"
    write_csv(
        year_dir / "spaces.csv",
        SURVEY_HEADERS,
        [
            valid_row("H801", 801),
            [" "] * width,
            ["\u00a0", *([""] * (width - 1))],
            name_only,
            valid_row("H802", 802),
        ],
    )
    with duckdb.connect(str(warehouse)) as con:
        report = ingest_dataset(con, tmp_path / "raw", "survey", YEAR, run_id="r", pii_key=KEY)
        loaded = con.execute(
            "select household_code, source_row from raw.survey_households order by source_row"
        ).fetchall()
        quarantined = con.execute(
            "select source_row, list_contains(reasons, 'missing_household_code') "
            "from audit.quarantine"
        ).fetchall()
    assert loaded == [("H801", 2), ("H802", 6)]
    assert quarantined == [(5, True)]
    assert (report.rows_read, report.rows_loaded, report.rows_quarantined) == (3, 2, 1)


def test_common_spellings_take_the_value_the_general_rule_gives() -> None:
    """Three typed columns test a few whole-cell spellings before trimming, normalising and
    lower-casing; each must get what the column's general rule gives it, and so must the
    variants (padded, decomposed, upper case) that the shortcut leaves to the rule. Plain digits
    skip the income's general rule the same way."""
    import unicodedata

    from orchestration.ingest import _MACROS
    from orchestration.ingest.rules import SHORTCUTS, typed_columns

    con = duckdb.connect()
    for macro in _MACROS:
        con.execute(macro)
    typed = {name: expression for name, _, expression in typed_columns("survey", 2024)}
    for column, (spellings, rule) in SHORTCUTS.items():
        shortcut = typed[column].replace(f"@{column}", "$cell")
        general = rule.replace(f"@{column}", "$cell")
        assert shortcut != general and general in shortcut, column
        for text, value in spellings.items():
            variants = (text, f" {text}\u00a0", unicodedata.normalize("NFD", text), text.upper())
            for variant in variants:
                got = con.execute(f"select {shortcut}, {general}", {"cell": variant}).fetchone()
                assert got == (value, value), (column, variant, got)
    income = typed["income_per_capita"].replace("@income_per_capita", "$cell")
    for text, value in (("1500000", 1_500_000), (" 1500000", 1_500_000), ("1.500.000", 1_500_000),
                        ("1500000.6", 1_500_001), ("0", 0), ("1e6", None), ("-5", None),
                        ("1" * 19, None), ("", None)):  # fmt: skip
        assert con.execute(f"select {income}", {"cell": text}).fetchone()[0] == value, text


def test_cells_as_written_are_judged_as_the_general_rules_judge_them() -> None:
    """Codes, marks, the unreadable head's sex and reported class, and the blank line are settled
    for nearly every row by a cheap test of the cells as written; every other cell falls through
    to the general rule. On hostile cells (padded, tabbed, full-width, empty, decomposed, a
    no-break space or a byte-order mark first) each must judge as the general rule does."""
    import unicodedata

    from orchestration.ingest import _MACROS
    from orchestration.ingest.readers import _VISIBLE_RE, blank_line
    from orchestration.ingest.rules import DEPRIVATION_COLUMNS, SHORTCUTS, typed_columns

    con = duckdb.connect()
    for macro in _MACROS:
        con.execute(macro)
    typed = {name: expression for name, _, expression in typed_columns("survey", 2024)}
    hostile = (None, "", " ", "\t", "\u00a0", "\ufeff", ",", '"', "x", "X", " x ", "x\t", "xx",
               "0", "1", " 1", "01", "2", "y", "\uff58", "Nam", " nam ", "NAM",
               unicodedata.normalize("NFD", "Nữ"), "Hộ nghèo", "hộ  nghèo ", "4279", " 4279",
               "04279", "004279", "0427a", "\uff10\uff14", "79", "7", "760")  # fmt: skip

    def one(expression: str, **cells: str | None) -> object:
        for name in sorted(cells, key=len, reverse=True):
            expression = expression.replace(f"@{name}", f"${name}")
        return con.execute(f"select {expression}", cells).fetchone()[0]

    for digits, column in ((2, "province_code"), (3, "district_code"), (5, "commune_code")):
        for cell in hostile:
            general = one(f"_code(_trimmed(@{column}), {digits})", **{column: cell})
            assert one(typed[column], **{column: cell}) == general, (column, cell)
        assert one(typed[column], **{column: " 7"}) == "7".zfill(digits)
    optional = ("d_health_access", "d_digital_services", "d_internet_access", "d_waste_collection")
    marks = [n for n in (*DEPRIVATION_COLUMNS, *optional) if f"@{n})" in typed["_bad_marks"]]
    assert len(marks) == len(DEPRIVATION_COLUMNS) + 3
    for cell in hostile:
        wanted = one("_mark(_trimmed(@m)) is null and _trimmed(@m) is not null", m=cell)
        for position in (0, len(marks) - 1):
            cells = {name: "x" if i % 2 else None for i, name in enumerate(marks)}
            cells[marks[position]] = cell
            assert one(typed["_bad_marks"], **cells) is wanted, (marks[position], cell)
    for column in ("head_sex", "reported_class"):
        rule = SHORTCUTS[column][1]
        for cell in (*hostile, *SHORTCUTS[column][0]):
            general = one(f"({rule}) is null and _clean(@{column}) is not null", **{column: cell})
            assert one(typed[f"_bad_{column}"], **{column: cell}) is general, (column, cell)
    cells = [f"${name}" for name in ("first", "second")]
    for first in hostile:
        for second in (None, "", " ", "x", "\u00a0"):
            values = {"first": first, "second": second}
            general = con.execute(
                f"select not regexp_matches(concat({', '.join(cells)}), '{_VISIBLE_RE}')", values
            ).fetchone()[0]
            assert con.execute(f"select {blank_line(cells)}", values).fetchone()[0] is general, (
                first,
                second,
            )


def test_optional_columns_are_read_where_present_and_unknown_where_absent(tmp_path, warehouse):
    """Decree 351/2025's optional marks and the ethnic-minority total (version 3 of the input
    format): stored where a file carries them, NULL (unknown, never "not deprived" or 0) where it
    does not; a bad value quarantines its row with its reason."""
    raw_dir = tmp_path / "raw"
    year_dir = raw_dir / "survey" / str(YEAR)
    optional = ["TH sử dụng dịch vụ số", "TH tiếp cận internet", "TH thu gom rác thải"]
    with_marks = [
        valid_row("N001", 1, **dict(zip(optional, ["x", "", "1"], strict=True))),
        valid_row("N002", 2, **dict(zip(optional, ["", "", ""], strict=True))),
        valid_row("N003", 3, **dict(zip(optional, ["y", "", ""], strict=True))),
    ]
    write_csv(year_dir / "with_marks.csv", [*SURVEY_HEADERS, *optional], with_marks)
    write_csv(year_dir / "without.csv", SURVEY_HEADERS, [valid_row("N004", 4)])
    totals = ["Năm", "Mã xã", "Tổng số hộ", "Tổng số nhân khẩu", "Tổng số hộ DTTS"]
    write_csv(
        raw_dir / "commune_totals" / f"{YEAR}.csv",
        totals,
        [
            [YEAR, "00688", 100, 400, 60],
            [YEAR, "00691", 100, 400, ""],
            [YEAR, "00694", 100, 400, 101],
        ],
    )
    with duckdb.connect(str(warehouse)) as con:
        ingest_dataset(con, raw_dir, "survey", YEAR, run_id="r", pii_key=KEY)
        ingest_dataset(con, raw_dir, "commune_totals", YEAR, run_id="r", pii_key=KEY)
        marks = con.execute(
            """select household_code, d_digital_services, d_internet_access, d_waste_collection
               from raw.survey_households order by household_code"""
        ).fetchall()
        assert marks == [
            ("N001", True, False, True),
            ("N002", False, False, False),
            ("N004", None, None, None),
        ]
        assert con.execute(
            "select commune_code, total_ethnic_minority_households from raw.commune_totals "
            "order by commune_code"
        ).fetchall() == [("00688", 60), ("00691", None)]
        quarantined = con.execute(
            "select dataset, raw_record, reasons from audit.quarantine order by dataset"
        ).fetchall()
        assert [(dataset, reasons) for dataset, _, reasons in quarantined] == [
            ("commune_totals", ["invalid_ethnic_minority_households"]),  # 101 > 100 households
            ("survey", ["invalid_deprivation_mark"]),  # N003's "y"
        ]
        assert '"N003"' in quarantined[1][1]


def test_a_year_typed_as_read_or_from_its_cells_first_loads_the_same_rows(
    sample_tiny, reference_db, tmp_path, monkeypatch
):
    """A small year writes its cells first and types them in one statement
    (``StageSpec.cells_first``), a large one types each file's cells as they are read: on the
    messy sample (shared headers, workbooks, lines read one by one, bad rows) both give the same
    raw rows, quarantine and file records."""
    typed_from_cells: list[tuple[str, int]] = []
    real = ingest_module.type_staged_cells

    def spy(con, spec):
        if spec.cells_first:
            typed_from_cells.append((spec.dataset, spec.review_year))
        real(con, spec)

    monkeypatch.setattr(ingest_module, "type_staged_cells", spy)
    paths = {}
    for mode, threshold in (("as read", -1), ("cells first", ingest_module.CELLS_FIRST_BYTES)):
        monkeypatch.setattr(ingest_module, "CELLS_FIRST_BYTES", threshold)
        path = paths[mode] = tmp_path / f"{mode.replace(' ', '_')}.duckdb"
        shutil.copy(reference_db, path)
        with duckdb.connect(str(path)) as con:
            for dataset in ("commune_totals", "difficult_areas", "survey"):
                ingest_years(
                    con, sample_tiny.raw_dir, dataset, sample_tiny.years, run_id="run", pii_key=KEY
                )
    everything = {
        (dataset, year)
        for dataset in ("commune_totals", "difficult_areas", "survey")
        for year in sample_tiny.years
    }
    assert set(typed_from_cells) == everything

    with duckdb.connect() as con:
        con.execute(f"attach '{paths['as read']}' as a (read_only)")
        con.execute(f"attach '{paths['cells first']}' as b (read_only)")
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_catalog = 'a' and table_schema in ('raw', 'audit') order by all"
        ).fetchall()
        assert ("raw", "survey_households") in tables and ("audit", "quarantine") in tables
        for schema, table in tables:
            if f"{schema}.{table}" in _FILE_SYSTEM_STATE:
                continue
            times = [
                name
                for (name,) in con.execute(
                    "select column_name from information_schema.columns where table_catalog = "
                    "'a' and table_schema = ? and table_name = ? and data_type like 'TIMESTAMP%'",
                    [schema, table],
                ).fetchall()
            ]
            columns = f"* exclude ({', '.join(times)})" if times else "*"
            rows = con.execute(f"select count(*) from a.{schema}.{table}").fetchone()[0]
            for left, right in (("a", "b"), ("b", "a")):
                differing = con.execute(
                    f"select count(*) from (select {columns} from {left}.{schema}.{table} "
                    f"except all select {columns} from {right}.{schema}.{table})"
                ).fetchone()[0]
                assert differing == 0, (schema, table, left, rows)
        assert con.execute("select count(*) from b.audit.quarantine").fetchone()[0] > 10
