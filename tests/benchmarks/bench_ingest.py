"""Ingest throughput: 1 M and 5 M survey rows of CSV, and a 100,000-row XLSX.

``csv_1m_stray_quote`` is ``csv_1m`` with one unclosed quote in every file: no file passes the
fast multi-file scan, so it measures the strict line-by-line reader (the worst case of a year
whose every file has a broken line).

The aim (issue 3) is at least one million CSV survey rows per 10 seconds on the 2-core machine.
Each case generates valid exports for review 2023 (vectorised: DuckDB ``COPY`` from a generated
query over the real commune list; xlsxwriter in constant-memory mode for the workbook), then runs
``ingest_dataset`` into a fresh DuckDB file in a child process, so that the peak RSS printed is
that of the ingest alone. Not collected by pytest.

    .venv/bin/python tests/benchmarks/bench_ingest.py [--cases csv_1m csv_5m xlsx_100k] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

from orchestration.base.admin_units import load_admin_units  # noqa: E402
from orchestration.base.headers import DEPRIVATION_COLUMNS  # noqa: E402

YEAR = 2023
FILES_PER_YEAR = 10
CASES = {
    "csv_1m": 1_000_000,
    "csv_1m_stray_quote": 1_000_000,
    "csv_5m": 5_000_000,
    "xlsx_100k": 100_000,
}

_HEADERS = {
    "review_year": "Năm rà soát",
    "province_code": "Mã tỉnh",
    "district_code": "Mã huyện",
    "commune_code": "Mã xã",
    "commune_name": "Tên xã",
    "village": "Thôn/Tổ",
    "household_code": "Mã hộ",
    "head_name": "Họ tên chủ hộ",
    "head_id_number": "Số định danh chủ hộ",
    "head_sex": "Giới tính chủ hộ",
    "ethnicity": "Dân tộc",
    "household_size": "Số nhân khẩu",
    "area_type": "Khu vực",
    "income_per_capita": "Thu nhập BQ (đồng/người/tháng)",
    "d_employment": "TH việc làm",
    "d_dependents": "TH người phụ thuộc",
    "d_nutrition": "TH dinh dưỡng",
    "d_health_insurance": "TH bảo hiểm y tế",
    "d_adult_education": "TH trình độ giáo dục người lớn",
    "d_child_schooling": "TH tình trạng đi học trẻ em",
    "d_housing_quality": "TH chất lượng nhà ở",
    "d_housing_area": "TH diện tích nhà ở",
    "d_water": "TH nguồn nước sinh hoạt",
    "d_sanitation": "TH nhà tiêu hợp vệ sinh",
    "d_telecom": "TH dịch vụ viễn thông",
    "d_information_assets": "TH phương tiện tiếp cận thông tin",
    "meritorious_family": "Hộ người có công",
    "social_protection": "Hộ bảo trợ xã hội",
    "no_labour_capacity": "Hộ không có khả năng lao động",
    "reported_class": "Kết quả phân loại",
}


def _rows_query(rows: int) -> str:
    """Valid survey rows over the real pre-2025 communes, with the contract's usual variety:
    incomes with and without thousands dots, marks x/X/1/empty, both area labels."""
    marks = ",\n".join(
        f"""case when hash(i, {k}) % 4 = 0 then (['x', 'X', '1'])[(hash(i, {k}) % 3)::INT + 1]
                 else '' end as "{_HEADERS[name]}\""""
        for k, name in enumerate(DEPRIVATION_COLUMNS)
    )
    return f"""
    with communes as (
        select row_number() over (order by commune_code) - 1 as n, province_code,
               district_code, commune_code, commune_name
        from reference.admin_units where unit_version = 'pre2025'
    ),
    generated as (
        select i, i % (select count(*) from communes) as n,
               500000 + hash(i) % 3000000 as income
        from range({rows}) r(i)
    )
    select
        '{YEAR}' as "Năm rà soát",
        c.province_code as "Mã tỉnh",
        c.district_code as "Mã huyện",
        c.commune_code as "Mã xã",
        c.commune_name as "Tên xã",
        'Thôn ' || (i % 12 + 1) as "Thôn/Tổ",
        'HH' || lpad(i::VARCHAR, 10, '0') as "Mã hộ",
        'Nguyễn Văn ' || i as "Họ tên chủ hộ",
        lpad(((i * 7919) % 1000000000000)::VARCHAR, 12, '0') as "Số định danh chủ hộ",
        case when i % 3 = 0 then 'Nữ' else 'Nam' end as "Giới tính chủ hộ",
        (['Kinh', 'Tày', 'Nùng', 'Mông', 'Dao', 'Hoa'])[(i % 6)::INT + 1] as "Dân tộc",
        (1 + i % 7)::VARCHAR as "Số nhân khẩu",
        case when i % 5 = 0 then 'Thành thị' else 'Nông thôn' end as "Khu vực",
        case when i % 2 = 0 then replace(format('{{:,}}', income), ',', '.')
             else income::VARCHAR end as "Thu nhập BQ (đồng/người/tháng)",
        {marks},
        case when i % 50 = 0 then 'x' else '' end as "Hộ người có công",
        case when i % 40 = 0 then 'x' else '' end as "Hộ bảo trợ xã hội",
        case when i % 60 = 0 then 'x' else '' end as "Hộ không có khả năng lao động",
        (['Hộ nghèo', 'Hộ cận nghèo', 'Hộ có mức sống trung bình', 'Hộ không nghèo'])
            [(i % 4)::INT + 1] as "Kết quả phân loại",
        i % {FILES_PER_YEAR} as file_number
    from generated g join communes c using (n)
    """


def generate_csv(raw_dir: Path, reference: Path, rows: int) -> None:
    year_dir = raw_dir / "survey" / str(YEAR)
    year_dir.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(reference), read_only=True) as con:
        con.execute("set enable_progress_bar = false")
        con.execute(
            f"""
            copy ({_rows_query(rows)}) to '{year_dir}'
            (format csv, header, partition_by (file_number), overwrite_or_ignore)
            """
        )
    # partition_by writes file_number=K/data_0.csv; flatten to one file per "district".
    for index, path in enumerate(sorted(year_dir.glob("file_number=*/*.csv"))):
        path.rename(year_dir / f"district_{index:02d}.csv")
        path.parent.rmdir()


def break_one_line_per_file(raw_dir: Path) -> None:
    """Open a quote that never closes in the 1000th line of every file."""
    for path in sorted((raw_dir / "survey" / str(YEAR)).glob("*.csv")):
        lines = path.read_bytes().split(b"\n")
        lines[999] = b'"' + lines[999]
        path.write_bytes(b"\n".join(lines))


def generate_xlsx(raw_dir: Path, reference: Path, rows: int) -> None:
    import xlsxwriter

    year_dir = raw_dir / "survey" / str(YEAR)
    year_dir.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(reference), read_only=True) as con:
        table = con.sql(_rows_query(rows)).to_arrow_table().drop(["file_number"])
    workbook = xlsxwriter.Workbook(str(year_dir / "district.xlsx"), {"constant_memory": True})
    sheet = workbook.add_worksheet("Phiếu B")
    sheet.write(0, 0, f"DANH SÁCH HỘ NGHÈO, HỘ CẬN NGHÈO NĂM {YEAR}")
    sheet.write_row(2, 0, table.column_names)
    numeric = {"Mã tỉnh", "Mã huyện", "Mã xã", "Số nhân khẩu", "Năm rà soát"}
    columns = [
        [int(v) for v in table.column(name).to_pylist()]
        if name in numeric
        else table.column(name).to_pylist()
        for name in table.column_names
    ]
    for offset, row in enumerate(zip(*columns, strict=True), start=3):
        sheet.write_row(offset, 0, row)
    workbook.close()


def run_case(raw_dir: Path, reference: Path, database: Path) -> dict[str, object]:
    """The measured part (runs in a child process)."""
    from orchestration.ingest import ingest_dataset

    database.write_bytes(reference.read_bytes())
    with duckdb.connect(str(database)) as con:
        con.execute("set enable_progress_bar = false")
        before = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        report = ingest_dataset(con, raw_dir, "survey", YEAR, run_id="bench", pii_key=b"k" * 32)
        seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (usage.ru_utime - before.ru_utime) + (usage.ru_stime - before.ru_stime)
    peak_kib = usage.ru_maxrss
    return {
        "rows_read": report.rows_read,
        "rows_loaded": report.rows_loaded,
        "rows_quarantined": report.rows_quarantined,
        "files": len(report.files),
        "seconds": round(seconds, 2),
        "rows_per_second": round(report.rows_read / seconds),
        # CPU seconds over both cores: on a shared machine the wall time also measures others.
        "cpu_seconds": round(cpu, 2),
        "load_average_1m": round(os.getloadavg()[0], 1),
        "peak_rss_mib": round(peak_kib / 1024),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", choices=sorted(CASES), default=list(CASES))
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it")
    parser.add_argument("--child", nargs=3, metavar=("RAW", "REFERENCE", "DB"), help="internal")
    args = parser.parse_args()
    if args.child:
        raw, reference, database = map(Path, args.child)
        print(json.dumps(run_case(raw, reference, database)))
        return

    workdir = args.keep or Path(tempfile.mkdtemp(prefix="bench_ingest_"))
    workdir.mkdir(parents=True, exist_ok=True)
    reference = workdir / "units.duckdb"
    if not reference.exists():
        with duckdb.connect(str(reference)) as con:
            load_admin_units(con)
    for case in args.cases:
        rows = CASES[case]
        raw_dir = workdir / case / "raw"
        started = time.perf_counter()
        if not raw_dir.exists():
            (generate_xlsx if case.startswith("xlsx") else generate_csv)(raw_dir, reference, rows)
            if case.endswith("stray_quote"):
                break_one_line_per_file(raw_dir)
        generated = time.perf_counter() - started
        database = workdir / case / "warehouse.duckdb"
        child = subprocess.run(
            [sys.executable, __file__, "--child", str(raw_dir), str(reference), str(database)],
            check=True,
            capture_output=True,
            text=True,
        )
        result = {"case": case, "generate_seconds": round(generated, 1)}
        result.update(json.loads(child.stdout.strip().splitlines()[-1]))
        print(json.dumps(result), flush=True)
        database.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
