"""The real ``dbt build`` on hand-written raw rows, checked against figures worked out by hand.

The rows and the expected classes and flows are tabulated in ``dbt_fixtures/sample.py``: Hà Giang
communes 00688, 00691 (district 024) and 00715, 00718 (district 026) in reviews 2023 and 2024,
merged into 00691 and 00715 of province 08 in review 2025; review 2026 is added incrementally.
"""

from __future__ import annotations

import re
import shutil

import duckdb
import pytest
from dbt_fixtures.sample import YEARS, year_2024
from dbt_fixtures.warehouse import create_warehouse, dbt, household, replace_year

PROVINCE_TOTAL = 270  # resident households: 100 + 50 + 80 + 40 before 2025, 150 + 120 from 2025


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    """A warehouse file with reviews 2023-2025 built by ``dbt build``; returns its path."""
    path = tmp_path_factory.mktemp("dbt_models") / "warehouse.duckdb"
    create_warehouse(path)
    for year in (2023, 2024, 2025):
        replace_year(path, year, **YEARS[year]())
    dbt(["build"], path)
    return path


def query(path, sql, params=None):
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def row(path, table, where, columns):
    rows = query(path, f"select {columns} from {table} where {where}")
    assert len(rows) == 1, rows
    return rows[0]


def test_commune_rates_counts_and_groups(warehouse):
    assert row(
        warehouse,
        "marts.commune_year",
        "review_year = 2023 and commune_code = '00688'",
        "assessed_households, poor_households, near_poor_households, middle_households, "
        "poverty_rate, near_poverty_rate, multidimensional_poverty_rate, poor_ethnic_minority, "
        "poor_meritorious_family, poor_female_headed, classification_mismatches, standard_id",
    ) == (6, 2, 1, 2, 2.0, 1.0, 3.0, 1, 1, 1, 1, "ND07_2021")


def test_a_commune_without_assessed_households_has_a_zero_row(warehouse):
    assert row(
        warehouse,
        "marts.commune_year",
        "review_year = 2023 and commune_code = '00718'",
        "assessed_households, poor_households, poverty_rate, is_extremely_difficult, "
        "difficult_villages, total_villages, district_code",
    ) == (0, 0, 0.0, False, 1, 4, "026")


def test_poverty_rate_change_is_null_in_the_first_year_and_across_unit_versions(warehouse):
    changes = dict(
        query(
            warehouse,
            "select review_year || '/' || commune_code, poverty_rate_change_pp "
            "from marts.commune_year",
        )
    )
    assert changes["2023/00688"] is None  # first year of the data
    assert changes["2024/00688"] == pytest.approx(0.0)
    assert changes["2024/00691"] == pytest.approx(-4.0)
    assert changes["2024/00715"] == pytest.approx(1.25)
    assert changes["2025/00691"] is None  # same code, but another territory in 2025
    assert changes["2025/00715"] is None


def test_flows_by_commune(warehouse):
    flows = {
        (year, code): (exited, newly, returned)
        for year, code, exited, newly, returned in query(
            warehouse,
            "select review_year, commune_code, exited_poverty, newly_poor, returned_to_poverty "
            "from marts.commune_year",
        )
    }
    assert flows[(2023, "00688")] == (None, None, None)
    assert flows[(2024, "00688")] == (1, 1, 0)  # H1 exits, H2 newly poor
    assert flows[(2024, "00691")] == (1, 0, 0)  # H7 exits (H8 is absent, not an exit)
    assert flows[(2024, "00715")] == (1, 2, 0)  # H9 exits, H10 and H11 newly poor
    assert flows[(2024, "00718")] == (0, 0, 0)
    assert flows[(2025, "00691")] == (0, 0, 2)  # H1 and H7 return
    assert flows[(2025, "00715")] == (1, 1, 1)  # H10 exits, H12 newly poor, H9 returns


def test_districts_sum_their_communes_and_stop_in_2025(warehouse):
    districts = {
        (year, code): (communes, difficult, poor, total, rate, change)
        for year, code, communes, difficult, poor, total, rate, change in query(
            warehouse,
            "select review_year, district_code, communes, extremely_difficult_communes, "
            "poor_households, total_households, poverty_rate, poverty_rate_change_pp "
            "from marts.district_year",
        )
    }
    assert set(districts) == {(2023, "024"), (2023, "026"), (2024, "024"), (2024, "026")}
    assert districts[(2023, "024")][:4] == (2, 0, 4, 150)
    assert districts[(2023, "024")][4] == pytest.approx(100 * 4 / 150)
    assert districts[(2023, "026")][:4] == (2, 1, 1, 120)
    assert districts[(2024, "024")][5] == pytest.approx(100 * 2 / 150 - 100 * 4 / 150)


def test_province_figures_and_households_not_reassessed(warehouse):
    provinces = {
        year: rest
        for year, *rest in query(
            warehouse,
            "select review_year, province_code, poor_households, total_households, poverty_rate, "
            "poverty_rate_change_pp, exited_poverty, newly_poor, returned_to_poverty, "
            "poor_not_reassessed, poor_households_extremely_difficult, "
            "total_households_extremely_difficult, poverty_rate_extremely_difficult "
            "from marts.province_year order by review_year",
        )
    }
    assert provinces[2023][:3] == ["02", 5, PROVINCE_TOTAL]
    assert provinces[2023][3] == pytest.approx(100 * 5 / PROVINCE_TOTAL)
    assert provinces[2023][4:9] == [None, None, None, None, None]
    assert provinces[2023][9:] == [1, 80, 1.25]
    # 2024: H8 (poor in 2023) is absent; the identity 4 = 5 - 3 - 1 + 3 + 0 holds.
    assert provinces[2024][4] == pytest.approx(100 * (4 - 5) / PROVINCE_TOTAL)
    assert provinces[2024][5:9] == [3, 3, 0, 1]
    assert provinces[2024][9:] == [2, 80, 2.5]
    # 2025: H2 (poor in 2024 in old commune 00688) is absent; 00688 maps to 00691 of province 08.
    assert provinces[2025][:3] == ["08", 6, PROVINCE_TOTAL]
    assert provinces[2025][4:9] == [None, 1, 1, 3, 1]


def test_not_reassessed_households_are_mapped_to_the_new_territory(warehouse):
    assert query(
        warehouse,
        "select review_year, household_code, previous_commune_code, commune_code, province_code "
        "from intermediate.int_households_not_reassessed order by review_year",
    ) == [(2024, "H8", "00691", "00691", "02"), (2025, "H2", "00688", "00691", "08")]


def test_access_rates(warehouse):
    access = {
        indicator: (poor, deprived, rate)
        for indicator, poor, deprived, rate in query(
            warehouse,
            "select indicator_code, poor_households, deprived_poor_households, access_rate "
            "from marts.commune_year_deprivation "
            "where review_year = 2024 and commune_code = '00688'",
        )
    }
    assert len(access) == 12
    assert access["d_employment"] == (2, 2, 0.0)
    assert access["d_health_insurance"] == (2, 1, 50.0)  # only H4 has a 4th deprivation
    assert access["d_water"] == (2, 0, 100.0)
    assert row(
        warehouse,
        "marts.commune_year_deprivation",
        "review_year = 2023 and commune_code = '00718' and indicator_code = 'd_water'",
        "poor_households, access_rate, service_code",
    ) == (0, None, "water_sanitation")
    assert row(
        warehouse,
        "marts.province_year_deprivation",
        "review_year = 2024 and province_code = '02' and indicator_code = 'd_health_insurance'",
        "poor_households, deprived_poor_households, access_rate",
    ) == (4, 1, 75.0)


def test_target_statuses(warehouse):
    """The template plan 2021-2025 on pre2025:02; its baseline review 2021 is not loaded."""
    targets = {
        (target, year): (baseline_year, actual, status)
        for target, year, baseline_year, actual, status in query(
            warehouse,
            "select target_id, review_year, baseline_year, actual, status "
            "from marts.target_progress where territory = 'pre2025:02'",
        )
    }
    # Rates over the reported communes with totals (00718 has no survey row: 230 of 270).
    fall_2024 = 100 * (5 - 4) / 230
    fall_2025 = 100 * 4 / 230 - 100 * 6 / 270  # 2024 -> 2025 through the harmonised series
    assert targets[("T1", 2023)] == (2021, None, "not_measurable")
    assert targets[("T1", 2024)][1] == pytest.approx(fall_2024)
    # Review 2024 covers 230 of 270 households: provisional.
    assert targets[("T1", 2024)][2] == "provisional"
    assert targets[("T1", 2025)][1] == pytest.approx((fall_2024 + fall_2025) / 2)
    assert targets[("T3", 2025)] == (2021, 1.0, "missed")  # H4 is poor and meritorious
    assert targets[("T4", 2025)] == (2021, None, "not_measurable")  # no 2021 review
    assert not any(target in {"T6", "T7", "T8", "T10"} for target, _ in targets)


def years_rebuilt(dbt_output: str, model: str) -> str:
    match = re.search(rf"review years to build in .*{model}\"?: (.*)", dbt_output)
    assert match, dbt_output
    return match.group(1).strip()


@pytest.fixture(scope="module")
def with_2026(warehouse, tmp_path_factory):
    """A copy of the built warehouse to which review 2026 is added, then rebuilt incrementally."""
    path = tmp_path_factory.mktemp("dbt_incremental") / "warehouse.duckdb"
    shutil.copy(warehouse, path)
    replace_year(path, 2026, **YEARS[2026]())
    return path, dbt(["build"], path).stdout


def test_adding_a_year_rebuilds_only_that_year(with_2026):
    path, output = with_2026
    assert years_rebuilt(output, "int_household_flows_tracked") == "2026"
    # The classification is a view (nothing to rebuild): it always agrees with raw and the seed.
    assert row(
        path,
        "information_schema.tables",
        "table_schema = 'intermediate' and table_name = 'int_households_classified'",
        "table_type",
    ) == ("VIEW",)


def test_review_2026_is_classified_by_the_decree_351_seed_row(with_2026):
    path, _ = with_2026
    # 1,800,000 is above Decree 07's rural line but under Decree 351's 2,200,000.
    assert row(
        path,
        "intermediate.int_households_classified",
        "review_year = 2026 and household_code = 'H13'",
        "standard_id, income_line, computed_class",
    ) == ("ND351_2025", 2_200_000, "poor")
    assert row(
        path,
        "marts.commune_year",
        "review_year = 2026 and commune_code = '00715'",
        "standard_id, poor_households, poverty_rate_change_pp, exited_poverty, newly_poor",
    ) == ("ND351_2025", 1, None, None, None)


def test_a_resent_year_rebuilds_it_and_the_years_after(with_2026, tmp_path_factory):
    """H8 now appears in the corrected 2024 export (still poor), and is then absent in 2025."""
    source, _ = with_2026
    path = tmp_path_factory.mktemp("dbt_resent") / "warehouse.duckdb"
    shutil.copy(source, path)
    corrected = year_2024()
    corrected["households"].append(
        household(2024, ("02", "024", "00691"), "H8", 1_900_000, 3, area_type="urban")
    )
    replace_year(path, 2024, **corrected)
    output = dbt(["build"], path).stdout
    assert years_rebuilt(output, "int_household_flows_tracked") == "2024, 2025, 2026"
    assert row(
        path,
        "marts.province_year",
        "review_year = 2024",
        "poor_households, poor_not_reassessed",
    ) == (5, 0)
    assert row(
        path,
        "marts.province_year",
        "review_year = 2025",
        "poor_households, poor_not_reassessed",
    ) == (6, 2)
