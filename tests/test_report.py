"""The plan report: drawn from a contract-shaped published file, rendered in headless Chromium."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from browser import count, open_page, texts

from orchestration.base.settings import REPO_ROOT
from orchestration.publish.completeness import files_not_loaded
from orchestration.publish.report.markup import (
    NOT_AVAILABLE,
    STATUS_LABELS,
    vi_count,
    vi_number,
    vietnamese_sort_key,
)
from orchestration.publish.report.page import render_report, write_report

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
        'not_utf8'),
    (2025, 'households', '2025/ho_ngheo.xlsx', 'cc', 10, 20, 19, 19, 0, 'loaded',
        'sheet Ghi chu not read')
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
    ('P2021', 'pre2025:04', 'Tỉnh Bắc Giang (trước 2025)', 'T1', 1,
        'Poverty rate falls 1.5 points a year', 'Tỷ lệ nghèo giảm 1,5 điểm mỗi năm', 2021, 2025,
        2024, 2021, 12.0, 1.1, 1.5, 'off_track', 'mean fall 1.1', 'giảm bình quân 1,1', 'native',
        1.1, 3.1, 1.1, 0.9, 1.3, 'missed'),
    ('P2021', 'pre2025:02', 'Tỉnh Hà Giang (trước 2025)', 'T1', 1,
        'Poverty rate falls 1.5 points a year', 'Tỷ lệ nghèo giảm 1,5 điểm mỗi năm', 2021, 2025,
        2024, 2021, 20.0, 1.8, 1.5, 'on_track', 'mean fall 1.8', 'giảm bình quân 1,8', 'native',
        1.8, 0.6, 1.8, 1.55, 2.1, 'achieved'),
    ('P2021', 'pre2025:02', 'Tỉnh Hà Giang (trước 2025)', 'T1', 1,
        'Poverty rate falls 1.5 points a year', 'Tỷ lệ nghèo giảm 1,5 điểm mỗi năm', 2021, 2025,
        2025, 2021, 20.0, 1.2, 1.5, 'missed', 'mean fall 1.2', 'giảm bình quân 1,2', 'mapped',
        1.2, null, 1.2, 1.2, 1.2, 'missed'),
    ('P2021', 'pre2025:02', 'Tỉnh Hà Giang (trước 2025)', 'T10', 10,
        'Poor households reach 80 % access', 'Hộ nghèo tiếp cận 80%', 2021, 2025, 2024, 2021,
        40.0, 61.25, 80.0, 'provisional', 'x; provisional: 2 poor households not reviewed',
        'x; tạm tính: 2 hộ nghèo không được rà soát lại', 'native', 7.0833, 18.75, 68.3333,
        65.0, 70.0, 'missed'),
    ('P2021', 'pre2025:02', 'Tỉnh Hà Giang (trước 2025)', 'T2', 2,
        'Extremely difficult communes fall 3.5 points a year', 'Xã ĐBKK giảm 3,5 điểm mỗi năm',
        2021, 2025, 2025, 2021, 40.0, 4.0, 3.5, 'achieved', 'mean fall 4.0', 'giảm bình quân 4',
        'mapped', 4.0, null, 4.0, 4.0, 4.0, 'achieved'),
    ('P2021', 'pre2025:02', 'Tỉnh Hà Giang (trước 2025)', 'T3', 3,
        'No poor meritorious family', 'Không còn hộ nghèo người có công', 2021, 2025, 2025, 2021,
        22.0, 17.0, 0.0, 'missed', '17 poor households', '17 hộ nghèo', 'native', -1.25, null,
        17.0, 17.0, 17.0, 'missed'),
    ('P2026', '2025:08', 'Tỉnh Tuyên Quang (từ 2025)', 'T6', 6,
        'Near-poverty rate under 5 percent', 'Tỷ lệ cận nghèo dưới 5%', 2026, 2030, 2026, 2026,
        6.0, null, 1.0, 'not_measurable', 'no pair yet', 'chưa có hai đợt rà soát liên tiếp',
        'native', null, 1.0, null, null, null, null)
) as t(plan_id, territory, territory_name_vi, target_id, target_order, description,
    description_vi, period_start, period_end, review_year, baseline_year, baseline_value, actual,
    required, status, note, note_vi, method, pace_so_far, required_pace, projected_value,
    projected_low, projected_high, projected_status);

create table territory_year as
select * from (values
    ('pre2025:02', 'Tỉnh Hà Giang (trước 2025)', 2022, 'native', 'ND07_2021', 20.1, 8.0),
    ('pre2025:02', 'Tỉnh Hà Giang (trước 2025)', 2023, 'native', 'ND07_2021', 18.4, 7.5),
    ('pre2025:02', 'Tỉnh Hà Giang (trước 2025)', 2024, 'native', 'ND07_2021', 16.9, 7.1),
    ('pre2025:02', 'Tỉnh Hà Giang (trước 2025)', 2025, 'apportioned', 'ND07_2021', 15.2, null),
    ('2025:08', 'Tỉnh Tuyên Quang (từ 2025)', 2022, 'mapped', 'ND07_2021', 19.0, 7.8),
    ('2025:08', 'Tỉnh Tuyên Quang (từ 2025)', 2023, 'mapped', 'ND07_2021', 17.7, 7.2),
    ('2025:08', 'Tỉnh Tuyên Quang (từ 2025)', 2024, 'mapped', 'ND07_2021', 16.0, 6.9),
    ('2025:08', 'Tỉnh Tuyên Quang (từ 2025)', 2025, 'native', 'ND07_2021', 13.8, 6.5),
    ('2025:08', 'Tỉnh Tuyên Quang (từ 2025)', 2026, 'native', 'ND351_2025', 21.0, 9.5),
    ('2025:08', 'Tỉnh Tuyên Quang (từ 2025)', 2027, 'native', 'ND351_2025', 19.1, 9.0)
) as t(territory, territory_name_vi, review_year, method, standard_id, poverty_rate,
    near_poverty_rate);

create table publish_changes as
select * from (values
    ('target_status', 'target_progress', '{"target_id": "T1"}', 'status', 'on_track', 'missed')
) as t(change_kind, table_name, key, column_name, previous_value, value);

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
        null),
    (2025, '2025', '08', 'Tuyên Quang', '00005', 'Xã Bình Vàng', 'reported', true, 3, 30.0, 1.0),
    (2025, '2025', '08', 'Tuyên Quang', '00006', 'Xã Bạch Đích', 'reported', true, 5, 35.0, 1.5)
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


def test_report_briefs_offline_cards_first_with_breaks_and_the_terminals_list(
    published: Path, tmp_path: Path
) -> None:
    report = write_report(published, tmp_path / "report" / "index.html")
    with duckdb.connect(str(published), read_only=True) as con:
        targets = con.execute(
            "select plan_id, territory, target_id, review_year, status from target_progress"
        ).fetchall()
        latest = con.execute(
            """
            select plan_id, territory, target_id, review_year, status from target_progress
            qualify row_number() over (
                partition by plan_id, territory, target_id order by review_year desc
            ) = 1
            """
        ).fetchall()
        indicators = con.execute("select count(*) from province_year_deprivation").fetchone()[0]
        terminal_files = [row["file_name"] for row in files_not_loaded(con)]
    with open_page(report) as visit:
        page = visit.page
        screenshot = tmp_path / "report-first-screen.png"
        page.screenshot(path=str(screenshot))
        page.screenshot(path=str(tmp_path / "report-full.png"), full_page=True)
        assert visit.requests == [report.resolve().as_uri()]  # the page itself, nothing else
        assert visit.failed == [] and visit.external() == []
        assert page.evaluate("document.documentElement.lang") == "vi"
        # Cards first, above the fold: one per target at its latest review, T1 … T10 in order,
        # the plans' territories by Vietnamese name (Bắc Giang, Hà Giang, Tuyên Quang).
        sections = page.eval_on_selector_all(
            "section[data-section]", "n => n.map(x => x.dataset.section)"
        )
        assert sections[0] == "cards"
        first = page.locator("article.card").first.bounding_box()
        assert first["y"] + first["height"] < 900
        assert count(page, "article.card") == len(latest)
        for plan_id, territory, target_id, year, status in latest:
            card = page.locator(
                f'section.plan-cards[data-plan="{plan_id}"][data-territory="{territory}"] '
                f'article.card[data-target="{target_id}"]'
            )
            assert card.count() == 1
            assert card.get_attribute("data-status") == status
            assert card.get_attribute("data-year") == str(year)
            assert STATUS_LABELS[status][0] in card.inner_text()
        order = page.eval_on_selector_all(
            'section.plan-cards[data-territory="pre2025:02"] article.card',
            "n => n.map(x => x.dataset.target)",
        )
        assert order == ["T1", "T2", "T3", "T10"]
        territories = page.eval_on_selector_all(
            "section.plan-cards", "n => n.map(x => x.dataset.territory)"
        )
        assert territories == ["pre2025:04", "pre2025:02", "2025:08"]
        # Actual against required, the pace still required and the projection, Vietnamese style.
        card = page.locator(
            'section.plan-cards[data-territory="pre2025:02"] article.card[data-target="T10"]'
        ).inner_text()
        assert "61,25" in card and "80" in card and "18,75" in card and "68,33" in card
        # A provisional verdict says why; counts are integers (17, not 17,00).
        why = page.locator('article.card[data-target="T10"] [data-why="provisional"]')
        assert "2 hộ nghèo không được rà soát lại" in why.inner_text()
        t3 = page.locator('article.card[data-target="T3"]').inner_text()
        assert "17 / yêu cầu 0" in t3 and "17,00" not in t3
        # Rates: a gap at the 2025 reorganisation and at the change of standard in 2026, never
        # a join. 2025:08: 2022-2024, 2025 alone (a point, no line), 2026-2027, for both rates:
        # four lines, two breaks. pre2025:02: 2022-2024 for both, 2025 a lone poverty point.
        for territory, pieces, breaks in (("2025:08", 4, 2), ("pre2025:02", 2, 1)):
            figure = f'figure[data-chart="rates-{territory}"]'
            assert page.get_attribute(figure, "data-segments") == str(pieces)
            assert count(page, f"{figure} path.segment") == pieces
            assert count(page, f"{figure} line.break") == breaks
            assert page.locator(f"{figure} svg").bounding_box()["height"] > 100
            # Each piece lies within one stretch (one standard, one side of 2025).
            pieces_drawn = page.eval_on_selector_all(
                f"{figure} path.segment", "n => n.map(x => x.dataset.measure + x.dataset.stretch)"
            )
            assert len(set(pieces_drawn)) == pieces
        points = count(page, 'figure[data-chart^="rates-"] g.point')
        assert points == _expected_points(published) == 19
        rates_text = page.inner_text('figure[data-chart="rates-2025:08"]')
        assert "2025 reorganisation" in rates_text and "ND351_2025" in rates_text
        assert count(page, 'figure[data-chart="access"] g.bar rect') == indicators
        # Lowest access first, each bar's width its share of the 0-100 % axis.
        shares = page.eval_on_selector_all(
            'figure[data-chart="access"] g.bar', "n => n.map(x => Number(x.dataset.access))"
        )
        assert shares == sorted(shares) and all(0 <= share <= 100 for share in shares)
        widths = page.eval_on_selector_all(
            'figure[data-chart="access"] g.bar rect', "n => n.map(x => x.getBBox().width)"
        )
        assert [round(w, 1) for w in widths] == [round(4.8 * share, 1) for share in shares]
        # What changed, and completeness: the terminal's list of files, with their reasons.
        assert page.get_attribute("[data-changes]", "data-changes") == "1"
        assert texts(page, "table.files td[data-file]") == terminal_files
        assert len(terminal_files) == 2
        completeness = page.inner_text('section[data-section="completeness"]')
        assert "not_utf8" in completeness and "sheet Ghi chu not read" in completeness
        assert "Xã Mèo Vạc" in completeness
        # Details: extremely difficult communes only, in Vietnamese order (Bạch before Bình).
        assert page.eval_on_selector_all(
            "table.difficult td[data-commune]", "n => n.map(x => x.dataset.commune)"
        ) == ["00006", "00005", "00002", "00001"]
        # The full history is collapsed and holds every evaluated row.
        assert page.locator("details[data-history]").get_attribute("open") is None
        assert count(page, "section.plan tr:has(td[data-target])") == len(targets)
        text = page.inner_text("main")
    assert screenshot.stat().st_size > 10_000
    assert "b-report" in text and NOT_AVAILABLE not in text
    assert "<script" not in report.read_text(encoding="utf-8")


def test_vietnamese_numbers_and_order() -> None:
    assert vi_number(1234.5, 1) == "1.234,5"
    assert vi_number(1234567.891) == "1.234.567,89"
    assert vi_number(17.0) == "17" and vi_count(17.0) == "17" and vi_count(1198.01) == "1.198,01"
    names = ["Xã Bình Vàng", "Xã Bạch Đích", "Xã Đồng Văn", "Xã Dào", "Xã Ân", "Xã An"]
    assert sorted(names, key=vietnamese_sort_key) == [
        "Xã An",
        "Xã Ân",
        "Xã Bạch Đích",
        "Xã Bình Vàng",
        "Xã Dào",
        "Xã Đồng Văn",
    ]


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
        [sys.executable, "-m", "orchestration.publish.report", str(out)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert built.returncode == 0, built.stderr
    report = out / "report" / "index.html"
    assert str(report) in built.stdout
    assert 'data-build="b-report"' in report.read_text(encoding="utf-8")
