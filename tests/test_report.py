"""The plan report: drawn from a contract-shaped published file, rendered in headless Chromium."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from browser import count, open_page

from orchestration.lib.report import NOT_AVAILABLE, STATUS_LABELS, render_report, write_report
from orchestration.settings import REPO_ROOT

PUBLISHED_TABLES_SQL = """
create table build_info as
select 'b-report' as build_id, timestamptz '2026-01-15 08:00:00+00' as built_at,
    'abc1234' as code_version, 'ND07_2021' as standards, 1000::bigint as rows_read,
    990::bigint as rows_loaded, 10::bigint as rows_quarantined, 1::bigint as files_quarantined,
    2::bigint as communes_not_reported;

create table source_files as
select * from (values
    (2024, 'households', '2024/ho_ngheo_xa_a.csv', 'aa', 10, 100, 99, 99, 0, 'loaded', null),
    (2024, 'households', '2024/ho_ngheo_xa_b.csv', 'bb', 10, 50, 49, 0, 49, 'quarantined',
        'not_utf8')
) as t(review_year, dataset, file_name, sha256, size_bytes, lines, rows_read, rows_loaded,
    rows_quarantined, status, status_reason);

create table plans as
select * from (values
    ('P2021', 'Kế hoạch giảm nghèo bền vững 2021-2025', 'pre2025:02', 2021, 2025, 2021,
        'Kế hoạch số 01/KH-UBND'),
    ('P2021', 'Kế hoạch giảm nghèo bền vững 2021-2025', 'pre2025:04', 2021, 2025, 2021,
        'Kế hoạch số 01/KH-UBND'),
    ('P2026', 'Kế hoạch giảm nghèo đa chiều 2026-2030', '2025:08', 2026, 2030, 2025,
        'Kế hoạch số 02/KH-UBND')
) as t(plan_id, name, territory, period_start, period_end, baseline_year, legal_source);

create table target_progress as
select * from (values
    ('P2021', 'pre2025:04', 'T1', 'Poverty rate falls 1.5 points a year',
        'Tỷ lệ nghèo giảm 1,5 điểm mỗi năm', 2021, 2025, 2024, 2021, 12.0, 1.1, 1.5, 'off_track',
        'Giảm bình quân 1,1 điểm', 'native'),
    ('P2021', 'pre2025:02', 'T1', 'Poverty rate falls 1.5 points a year',
        'Tỷ lệ nghèo giảm 1,5 điểm mỗi năm', 2021, 2025, 2024, 2021, 20.0, 1.8, 1.5, 'on_track',
        'Giảm bình quân 1,8 điểm', 'native'),
    ('P2021', 'pre2025:02', 'T1', 'Poverty rate falls 1.5 points a year',
        'Tỷ lệ nghèo giảm 1,5 điểm mỗi năm', 2021, 2025, 2025, 2021, 20.0, 1.2, 1.5, 'missed',
        'Giảm bình quân 1,2 điểm', 'mapped'),
    ('P2021', 'pre2025:02', 'T2', 'Extremely difficult communes fall 3.5 points a year',
        'Xã ĐBKK giảm 3,5 điểm mỗi năm', 2021, 2025, 2025, 2021, 40.0, 4.0, 3.5, 'achieved',
        'Giảm bình quân 4,0 điểm', 'mapped'),
    ('P2026', '2025:08', 'T3', 'Near-poverty rate under 5 percent', 'Tỷ lệ cận nghèo dưới 5%',
        2026, 2030, 2025, 2025, 6.0, null, 5.0, 'not_measurable',
        'Chưa có năm rà soát nào trong kỳ', 'native')
) as t(plan_id, territory, target_id, description, description_vi, period_start, period_end,
    review_year, baseline_year, baseline_value, actual, required, status, note, method);

create table territory_year as
select * from (values
    ('pre2025:02', 2022, 'native', 20.1, 8.0),
    ('pre2025:02', 2023, 'native', 18.4, 7.5),
    ('pre2025:02', 2024, 'native', 16.9, 7.1),
    ('pre2025:02', 2025, 'apportioned', 15.2, null),
    ('2025:08', 2022, 'mapped', 19.0, 7.8),
    ('2025:08', 2023, 'mapped', 17.7, 7.2),
    ('2025:08', 2024, 'mapped', 16.0, 6.9),
    ('2025:08', 2025, 'native', 14.8, 6.5)
) as t(territory, review_year, method, poverty_rate, near_poverty_rate);

create table province_year as
select '08' as province_code, 'Tuyên Quang' as province_name, 2025 as review_year,
    120::bigint as communes_reported, 122::bigint as communes_total,
    98.5 as households_covered_percent;

create table commune_year as
select * from (values
    (2025, '2025', '08', 'Tuyên Quang', '00001', 'Xã Lũng Cú', 'reported', true, 4, 45.0, 2.5),
    (2025, '2025', '08', 'Tuyên Quang', '00002', 'Xã Đồng Văn', 'reported', true, 2, 38.0, -3.0),
    (2025, '2025', '08', 'Tuyên Quang', '00003', 'Phường Hà Giang 1', 'reported', false, 0, 3.0,
        0.5),
    (2025, '2025', '08', 'Tuyên Quang', '00004', 'Xã Mèo Vạc', 'not_reported', false, 1, null,
        null)
) as t(review_year, unit_version, province_code, province_name, commune_code, commune_name,
    reporting_status, is_extremely_difficult, difficult_villages, poverty_rate,
    poverty_rate_change_pp);

create table province_year_deprivation as
select 2025 as review_year, '2025' as unit_version, '08' as province_code,
    'ND07_2021' as standard_id, indicator_code, indicator_name_vi, 100::bigint as poor_households,
    deprived::bigint as deprived_poor_households, 100 - deprived as access_rate
from (values
    ('d_water', 'Nguồn nước sinh hoạt', 30),
    ('d_sanitation', 'Nhà tiêu hợp vệ sinh', 55),
    ('d_housing_quality', 'Chất lượng nhà ở', 20),
    ('d_health_insurance', 'Bảo hiểm y tế', 5)
) as t(indicator_code, indicator_name_vi, deprived);
"""


@pytest.fixture
def published(tmp_path: Path) -> Path:
    """A published file with the contract's columns for every table the report reads."""
    path = tmp_path / "published.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute(PUBLISHED_TABLES_SQL)
    return path


def _expected_points(path: Path) -> int:
    with duckdb.connect(str(path), read_only=True) as con:
        row = con.execute(
            "select count(poverty_rate) + count(near_poverty_rate) from territory_year"
        ).fetchone()
    return int(row[0])


def test_report_renders_offline_with_every_plan_target_and_chart(
    published: Path, tmp_path: Path
) -> None:
    report = write_report(published, tmp_path / "report" / "index.html")
    with duckdb.connect(str(published), read_only=True) as con:
        targets = con.execute(
            "select plan_id, territory, target_id, review_year, status from target_progress"
        ).fetchall()
        plans = con.execute("select plan_id, territory from plans").fetchall()
        indicators = con.execute("select count(*) from province_year_deprivation").fetchone()[0]
    with open_page(report) as visit:
        page = visit.page
        screenshot = tmp_path / "report.png"
        page.screenshot(path=str(screenshot), full_page=True)
        assert visit.requests == [report.resolve().as_uri()]  # the page itself, nothing else
        assert visit.failed == [] and visit.external() == []
        assert page.evaluate("document.documentElement.lang") == "vi"
        # One section per plan and territory it applies to, holding that territory's rows only.
        for plan_id, territory in plans:
            section = f'section.plan[data-plan="{plan_id}"][data-territory="{territory}"]'
            assert count(page, section) == 1
        assert count(page, "section.plan tr:has(td[data-target])") == len(targets)
        for plan_id, territory, target_id, year, status in targets:
            row = page.locator(
                f'section.plan[data-plan="{plan_id}"][data-territory="{territory}"] '
                f'tr:has(td[data-target="{target_id}"]):has(td:text-is("{year}"))'
            )
            assert row.count() == 1, (plan_id, territory, target_id, year)
            assert row.locator(f'td[data-status="{status}"]').count() == 1
            assert STATUS_LABELS[status][0] in row.inner_text()
        rates = 'figure[data-chart="rates"] g.mark-symbol.role-mark path'
        assert count(page, rates) == _expected_points(published) == 15
        assert count(page, 'figure[data-chart="access"] g.mark-rect.role-mark path') == indicators
        assert page.locator('figure[data-chart="rates"] svg').bounding_box()["height"] > 100
        text = page.inner_text("main")
    assert screenshot.stat().st_size > 10_000
    assert "Tuyên Quang" in text and "Xã Lũng Cú" in text  # Vietnamese kept, NFC, in the page
    assert "Xã chưa báo cáo" in text and "Xã Mèo Vạc" in text
    assert "2024/ho_ngheo_xa_b.csv" in text and "not_utf8" in text
    assert "b-report" in text and NOT_AVAILABLE not in text
    assert "<script" not in report.read_text(encoding="utf-8")


def test_report_degrades_when_tables_are_absent(tmp_path: Path) -> None:
    path = tmp_path / "published.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute(
            "create table build_info as select 'b-old' as build_id, now() as built_at, "
            "'v' as code_version, 'ND07_2021' as standards, 1 as rows_read, 1 as rows_loaded, "
            "0 as rows_quarantined"
        )
    page, charts = render_report(path)
    assert charts == []
    assert page.count(NOT_AVAILABLE) >= 4
    assert "b-old" in page


def test_make_report_rebuilds_from_the_published_file(published: Path) -> None:
    out = published.parent
    built = subprocess.run(
        [sys.executable, "-m", "orchestration.lib.report", str(out)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert built.returncode == 0, built.stderr
    report = out / "report" / "index.html"
    assert str(report) in built.stdout
    assert 'data-build="b-report"' in report.read_text(encoding="utf-8")
