"""The real ``dbt build`` on hand-written raw rows, checked against figures worked out by hand.

The rows and the expected classes and flows are tabulated in ``dbt_fixtures/sample.py``: Hà Giang
communes 00688, 00691 (district 024) and 00715, 00718 (district 026) in reviews 2023 and 2024,
merged into 00691 and 00715 of province 08 in review 2025; review 2026 is added incrementally.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys

import duckdb
import pytest
from dbt_fixtures.sample import NEW_HA_GIANG_2, NEW_LUNG_CU, YEARS, year_2024
from dbt_fixtures.warehouse import create_warehouse, dbt, household, replace_year

from orchestration.base.model_rules import (
    IN_BUILD_SELECTION,
    broken_in_build,
    rules_checked_in_build,
)
from orchestration.base.settings import DBT_PROJECT_DIR, DEFAULT_DUCKDB_MEMORY_LIMIT, REPO_ROOT
from orchestration.ingest import RAW_TABLES
from orchestration.transform.dbt_failures import model_key, offending_rows

# As the pipeline builds (orchestration/transform/assets.py): every model, seed and data test;
# the models' `model_rules` tests run in their post-hooks, not again as nodes; dbt's unit tests,
# which test the models' SQL on their own inputs, not the warehouse, run once, every one of
# them, in test_the_dbt_unit_tests_pass.
BUILD = ["build", "--exclude-resource-type", "unit_test", "--exclude", IN_BUILD_SELECTION]

PROVINCE_TOTAL = 270  # resident households: 100 + 50 + 80 + 40 before 2025, 150 + 120 from 2025
# Before 2025 the province counts its reported communes with totals only: 00718 has totals (40)
# but no assessed household, so it is not reported and 100 + 50 + 80 = 230 remain.
PROVINCE_COUNTED_PRE2025 = 230


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    """A warehouse file with reviews 2023-2025 built by ``dbt build``; returns its path."""
    path = tmp_path_factory.mktemp("dbt_models") / "warehouse.duckdb"
    create_warehouse(path)
    for year in (2023, 2024, 2025):
        replace_year(path, year, **YEARS[year]())
    dbt(BUILD, path)
    return path


def test_the_dbt_unit_tests_pass(warehouse):
    """The production build leaves dbt's unit tests out (they test the SQL, not the data): they
    run here, every one of them, on the built fixture warehouse."""
    dbt(["test", "--select", "test_type:unit"], warehouse)
    target = warehouse.parent / "dbt_target"
    manifest = json.loads((target / "manifest.json").read_text(encoding="utf-8"))
    results = json.loads((target / "run_results.json").read_text(encoding="utf-8"))["results"]
    ran = {r["unique_id"]: r["status"] for r in results}
    assert len(manifest["unit_tests"]) >= 14
    assert ran == dict.fromkeys(manifest["unit_tests"], "pass")


def test_exact_product_keeps_18_decimals_and_counts_of_100_and_more(warehouse):
    """The macro that weights a fractional count (a crosswalk share times the poor households a
    commune's review did not see again): two DECIMAL(38, 18) multiplied directly overflow at 100
    (a national build failed on a commune with 105). Run through dbt's own compiler."""
    weight = "cast({} as decimal(38, 18))"
    pairs = [("1", "105"), ("0.333333333333333333", "105.5"), ("0", "2000000"), ("0.5", "321.25")]
    columns = ", ".join(
        f'cast({{{{ exact_product("{weight.format(w)}", "{weight.format(c)}") }}}} '
        f"as varchar) as p{i}"
        for i, (w, c) in enumerate(pairs)
    )
    shown = dbt(["show", "--inline", f"select {columns}", "--output", "json"], warehouse)
    (row,) = json.loads(shown.stdout[shown.stdout.index("{") :])["show"]
    assert [row[f"p{i}"] for i in range(len(pairs))] == [
        "105.000000000000000000",
        "35.166666666666666632",
        "0.000000000000000000",
        "160.625000000000000000",
    ]


def test_a_dbt_run_without_the_setting_gets_the_pipelines_memory_limit(warehouse, monkeypatch):
    """The profile's default memory limit is the settings' default: a `dbt build` by hand stays
    within what the pipeline allows (the national peak-memory target), and has the same profile,
    so it starts from the same kept parse (orchestration/base/dbt_parse_state.py)."""
    monkeypatch.delenv("POVERTY_DUCKDB_MEMORY_LIMIT", raising=False)
    query = "select current_setting('memory_limit') as memory_limit"
    shown = dbt(["show", "--inline", query, "--output", "json"], warehouse)
    (row,) = json.loads(shown.stdout[shown.stdout.index("{") :])["show"]
    with duckdb.connect(config={"memory_limit": DEFAULT_DUCKDB_MEMORY_LIMIT}) as con:
        (expected,) = con.execute(query).fetchone()
    assert row["memory_limit"] == expected


def test_a_models_rules_are_one_test_that_names_each_broken_rule(warehouse, tmp_path):
    """A model's key, required columns, sets, ranges and row expressions are one dbt test (one
    scan, one node); a failure still says which rules broke and how many rows: one result row per
    broken rule."""
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(warehouse, path)
    with duckdb.connect(str(path)) as con:
        con.execute("update marts.province_year set poverty_rate = 101, near_poverty_rate = -1")
        con.execute(
            "update marts.commune_year set province_code = NULL "
            "where rowid in (select rowid from marts.commune_year order by rowid limit 5)"
        )
        # More poor households than assessed ones (a row expression), and a key twice.
        (broken,) = con.execute(
            "select review_year, unit_version, commune_code from marts.commune_year "
            "where poor_households > 0 and province_code is not null order by all limit 1"
        ).fetchall()
        con.execute(
            "update marts.commune_year set assessed_households = 0 "
            "where (review_year, unit_version, commune_code) = (?, ?, ?)",
            list(broken),
        )
        (twice,) = con.execute(
            "select review_year, unit_version, commune_code from marts.commune_year "
            "where province_code is not null order by all desc limit 1"
        ).fetchall()
        con.execute(
            "insert into marts.commune_year select * from marts.commune_year "
            "where (review_year, unit_version, commune_code) = (?, ?, ?)",
            list(twice),
        )
    with pytest.raises(AssertionError):
        dbt(["test", "--select", "test_name:model_rules", "--store-failures"], path)
    results = json.loads((tmp_path / "dbt_target" / "run_results.json").read_text("utf-8"))
    manifest = json.loads((tmp_path / "dbt_target" / "manifest.json").read_text("utf-8"))
    failed = {
        manifest["nodes"][r["unique_id"]]["attached_node"].split(".")[-1]: r["relation_name"]
        for r in results["results"]
        if r["status"] == "fail"
    }
    assert sorted(failed) == ["commune_year", "province_year"]
    provinces = query(path, "select count(*) from marts.province_year")[0][0]
    ranges = query(path, f"select * from {failed['province_year']} order by 1")
    communes = query(path, f"select * from {failed['commune_year']} order by 1")
    assert ranges == [("range:near_poverty_rate", provinces), ("range:poverty_rate", provinces)]
    assert communes == [("expression:1", 1), ("key", 1), ("not_null:province_code", 5)]

    # What the terminal prints of each failure: the column, how many rows and the first ones,
    # each by its key with the offending value.
    manifest = json.loads((tmp_path / "dbt_target" / "manifest.json").read_text("utf-8"))
    failures = [r for r in results["results"] if r["status"] == "fail"]
    province_key = model_key("model.poverty_warehouse.province_year", manifest)
    commune_key = model_key("model.poverty_warehouse.commune_year", manifest)
    assert province_key == ["review_year", "unit_version", "province_code"]
    assert commune_key == ["review_year", "unit_version", "commune_code"]
    with duckdb.connect(str(path), read_only=True) as con:
        # With the test's compiled SQL (as after a build: only the broken rules are asked), and
        # without it (every rule is asked; those that hold list nothing): the same lines.
        printed = [
            line
            for r in failures
            for line in offending_rows(
                con, manifest["nodes"][r["unique_id"]], manifest, r["compiled_code"]
            )
        ]
        without_sql = [
            line
            for r in failures
            for line in offending_rows(con, manifest["nodes"][r["unique_id"]], manifest)
        ]
        (counts,) = con.execute(
            "select poor_households, near_poor_households, middle_households "
            "from marts.commune_year where (review_year, unit_version, commune_code) = (?, ?, ?)",
            list(broken),
        ).fetchall()
        first_provinces = con.execute(
            f"select {', '.join(province_key)} from marts.province_year order by all limit 3"
        ).fetchall()
        null_keys = con.execute(
            f"select {', '.join(commune_key)} from marts.commune_year "
            "where province_code is null order by all limit 3"
        ).fetchall()

    first = ", the first 3" if provinces > 3 else ""

    def keyed(key, values):
        return ", ".join(f"{column} {value}" for column, value in zip(key, values, strict=True))

    assert sorted(printed) == sorted(without_sql)
    assert sorted(printed) == sorted(
        [
            "commune_year must have one row per (review_year, unit_version, commune_code): "
            f"1 offending row(s): {keyed(commune_key, twice)}: occurrences = 2",
            "commune_year rows where reporting_status <> 'not_reported' must satisfy "
            "poor_households + near_poor_households + coalesce(middle_households, 0) "
            f"<= assessed_households: 1 offending row(s): {keyed(commune_key, broken)}: "
            + ", ".join(
                f"{column} = {value if value is not None else 'NULL'}"
                for column, value in zip(
                    ["poor_households", "near_poor_households", "middle_households"],
                    counts,
                    strict=True,
                )
            )
            + ", assessed_households = 0",
            "commune_year.province_code must not be NULL: 5 offending row(s), the first 3: "
            + "; ".join(f"{keyed(commune_key, k)}: province_code = NULL" for k in null_keys),
            "province_year.near_poverty_rate must lie in [0, 100]: "
            f"{provinces} offending row(s){first}: "
            + "; ".join(
                f"{keyed(province_key, k)}: near_poverty_rate = -1" for k in first_provinces
            ),
            "province_year.poverty_rate must lie in [0, 100]: "
            f"{provinces} offending row(s){first}: "
            + "; ".join(f"{keyed(province_key, k)}: poverty_rate = 101" for k in first_provinces),
        ]
    )


def test_a_models_rules_stop_its_own_build_as_its_test_would(warehouse, tmp_path):
    """The pipeline's build leaves the models' `model_rules` tests out: each model's post-hook
    runs the same rules as it is built. A broken rule stops the model with the rules it broke,
    keeps the table (its rows can be listed) and skips what depends on it; the test, run
    instead with the hook switched off, finds the same rules broken."""
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(warehouse, path)
    with duckdb.connect(str(path)) as con:
        (counted,) = con.execute(
            "select review_year, unit_version, commune_code "
            "from intermediate.int_commune_households_counted "
            "where poor_households > 0 order by all limit 1"
        ).fetchall()
        con.execute(
            "update intermediate.int_commune_households_counted set poor_households = -5 "
            "where (review_year, unit_version, commune_code) = (?, ?, ?)",
            list(counted),
        )
    target = tmp_path / "dbt_target"

    def results():
        return {
            r["unique_id"].split(".")[-1]
            if r["unique_id"].startswith("model.")
            else r["unique_id"]: r
            for r in json.loads((target / "run_results.json").read_text("utf-8"))["results"]
        }

    with pytest.raises(AssertionError):
        dbt([*BUILD, "--select", "commune_year+"], path)
    built = results()
    manifest = json.loads((target / "manifest.json").read_text("utf-8"))
    test_id = rules_checked_in_build(manifest)["model.poverty_warehouse.commune_year"]
    assert test_id not in built
    assert built["commune_year"]["status"] == "error"
    broken = broken_in_build(built["commune_year"]["message"])
    assert broken is not None and ("range:poor_households", 1) in broken
    assert {built[name]["status"] for name in ("province_year", "district_year")} == {"skipped"}
    bad = query(
        path,
        "select count(*) from marts.commune_year where poor_households < 0 "
        "and (review_year, unit_version, commune_code) = (?, ?, ?)",
        list(counted),
    )
    assert bad == [(1,)]

    with pytest.raises(AssertionError):
        dbt(
            ["build", "--select", "commune_year", "--vars", "{model_rules_in_build: false}"],
            path,
        )
    tested = results()
    assert tested["commune_year"]["status"] == "success"
    assert tested[test_id]["status"] == "fail"
    labels = sorted(r[0] for r in query(path, tested[test_id]["compiled_code"]))
    assert labels == sorted(label for label, _ in broken)


def test_a_seeds_rules_stop_its_load_as_a_models_stop_its_build(tmp_path):
    """A seed's `model_rules` run in its post-hook too, as it is loaded: a seed that breaks one
    (here a plan without its baseline year) stops with the rule it broke, keeps its rows for the
    listing, and what reads it is skipped; no `model_rules` test node runs."""
    project = tmp_path / "dbt_project"
    shutil.copytree(
        DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages")
    )
    plans = project / "seeds" / "plans.csv"
    header, first, *rest = plans.read_text(encoding="utf-8").splitlines()
    columns = header.split(",")
    cells = next(csv.reader([first]))
    cells[columns.index("baseline_year")] = ""
    line = io.StringIO()
    csv.writer(line, lineterminator="").writerow(cells)
    plans.write_text("\n".join([header, line.getvalue(), *rest]) + "\n", encoding="utf-8")
    path = tmp_path / "warehouse.duckdb"
    target = tmp_path / "dbt_target"
    env = {**os.environ, "DBT_TARGET_PATH": str(target), "DBT_LOG_PATH": str(tmp_path / "logs")}
    done = subprocess.run(
        [sys.executable, "-m", "orchestration.base.dbt_child", "--warehouse-path", str(path)]
        + [*BUILD, "--select", "plans+", "--project-dir", str(project)]
        + ["--profiles-dir", str(project)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    results = json.loads((target / "run_results.json").read_text("utf-8"))["results"]
    status = {r["unique_id"]: r for r in results}
    loaded = status["seed.poverty_warehouse.plans"]
    assert loaded["status"] == "error"
    assert broken_in_build(loaded["message"]) == [("not_null:baseline_year", 1)]
    assert not any(".model_rules_" in unique_id for unique_id in status)
    assert status["model.poverty_warehouse.plans_applied"]["status"] == "skipped"
    assert query(path, "select count(*) from seeds.plans where baseline_year is null") == [(1,)]


def test_flows_lost_or_doubled_by_a_build_fail_their_year_test(warehouse, tmp_path):
    """The flows model holds one year row per classified review year, recording the year's
    classified households: a year inserted twice by a broken incremental build, or a year lost,
    fails `assert_flow_years_match_the_classified_years` naming the year."""
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(warehouse, path)
    with duckdb.connect(str(path)) as con:
        con.execute(
            "insert into intermediate.int_household_flows_tracked "
            "select * from intermediate.int_household_flows_tracked where review_year = 2024"
        )
        con.execute("delete from intermediate.int_household_flows_tracked where review_year = 2025")
    with pytest.raises(AssertionError):
        dbt(
            ["test", "--select", "assert_flow_years_match_the_classified_years"]
            + ["--store-failures"],
            path,
        )
    results = json.loads((tmp_path / "dbt_target" / "run_results.json").read_text("utf-8"))
    (failed,) = [r for r in results["results"] if r["status"] == "fail"]
    rows = query(path, f"select * from {failed['relation_name']} order by review_year")
    classified = dict(
        query(
            path,
            "select review_year, count(*) from intermediate.int_households_classified "
            "group by review_year",
        )
    )
    assert rows == [
        (2024, 2, classified[2024], classified[2024]),
        (2025, 0, None, classified[2025]),
    ]
    # A singular test returns its offending rows itself: they are printed as it returns them.
    manifest = json.loads((tmp_path / "dbt_target" / "manifest.json").read_text("utf-8"))
    with duckdb.connect(str(path), read_only=True) as con:
        (line,) = offending_rows(
            con, manifest["nodes"][failed["unique_id"]], manifest, failed["compiled_code"]
        )
    assert line.startswith("assert_flow_years_match_the_classified_years: 2 offending row(s): ")
    assert "review_year = 2024, " in line and "review_year = 2025, " in line


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
    ) == (6, 2, 1, 3, 2.0, 1.0, 3.0, 1, 1, 1, 1, "ND07_2021")  # H6 approved middle


def test_a_commune_without_assessed_households_is_not_reported(warehouse):
    # Nothing is known of its households: NULL counts, rates and flows, never 0 %.
    assert row(
        warehouse,
        "marts.commune_year",
        "review_year = 2024 and commune_code = '00718'",
        "reporting_status, assessed_households, poor_households, poor_people, poverty_rate, "
        "exited_poverty, poor_not_reassessed, total_households, is_extremely_difficult, "
        "difficult_villages, district_code",
    ) == ("not_reported", None, None, None, None, None, None, 40, False, 1, "026")


def test_people_and_middle_households(warehouse):
    # Every fixture household has 4 members; 00688 in 2023 has 2 poor and 1 near-poor.
    assert row(
        warehouse,
        "marts.commune_year",
        "review_year = 2023 and commune_code = '00688'",
        "reporting_status, poor_people, near_poor_people, middle_households, unreported_class",
    ) == ("reported", 2 * 4, 1 * 4, 3, 1)  # only H4 has no reported class; H6 approved middle


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
    assert flows[(2024, "00718")] == (None, None, None)  # not reported
    assert flows[(2025, "00691")] == (0, 0, 2)  # H1 and H7 return
    assert flows[(2025, "00715")] == (1, 1, 1)  # H10 exits, H12 newly poor, H9 returns


def test_districts_sum_their_communes_and_stop_in_2025(warehouse):
    districts = {
        (year, code): (communes, difficult, poor, total, rate, change)
        for year, code, communes, difficult, poor, total, rate, change in query(
            warehouse,
            "select review_year, district_code, communes_total, extremely_difficult_communes, "
            "poor_households, total_households, poverty_rate, poverty_rate_change_pp "
            "from marts.district_year",
        )
    }
    assert set(districts) == {(2023, "024"), (2023, "026"), (2024, "024"), (2024, "026")}
    assert districts[(2023, "024")][:4] == (2, 0, 4, 150)
    assert districts[(2023, "024")][4] == pytest.approx(100 * 4 / 150)
    # 00718 (40 households, not reported) is counted in communes_total only: 80, not 120.
    assert districts[(2023, "026")][:4] == (2, 1, 1, 80)
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
    assert provinces[2023][:3] == ["02", 5, PROVINCE_COUNTED_PRE2025]
    assert provinces[2023][3] == pytest.approx(100 * 5 / PROVINCE_COUNTED_PRE2025)
    assert provinces[2023][4:9] == [None, None, None, None, None]
    assert provinces[2023][9:] == [1, 80, 1.25]
    # 2024: H8 (poor in 2023) is absent; the identity 4 = 5 - 3 - 1 + 3 + 0 holds.
    assert provinces[2024][4] == pytest.approx(100 * (4 - 5) / PROVINCE_COUNTED_PRE2025)
    assert provinces[2024][5:9] == [3, 3, 0, 1]
    assert provinces[2024][9:] == [2, 80, 2.5]
    # 2025: H2 (poor in 2024 in old commune 00688) is absent. 00688 was split between 00691 and
    # 00694, so H2 is shared half and half; 00694 has no export in 2025 (no commune_year row), so
    # the province's counted communes hold 0.5 of it.
    assert provinces[2025][:3] == ["08", 6, PROVINCE_TOTAL]
    assert provinces[2025][4:9] == [None, 1, 1, 3, 0.5]


def test_not_reassessed_households_are_placed_by_the_crosswalk_weights(warehouse):
    # 00688 was split between 00691 and 00694: equal parts, the weights of H2 sum to 1.
    assert query(
        warehouse,
        "select review_year, household_code, previous_commune_code, commune_code, province_code, "
        "weight from intermediate.int_households_not_reassessed order by review_year, commune_code",
    ) == [
        (2024, "H8", "00691", "00691", "02", 1.0),
        (2025, "H2", "00688", "00691", "08", 0.5),
        (2025, "H2", "00688", "00694", "08", 0.5),
    ]


NOT_REVIEWED_SINCE = (
    "select review_year, household_code, last_review_year, last_commune_code, commune_code, "
    "weight from intermediate.int_households_not_reviewed_since "
    "order by review_year, household_code, commune_code"
)


def test_households_not_reviewed_since_their_last_poor_review(warehouse):
    """H8, poor in 2023 and never assessed again, is a gap in 2024 and again in 2025 (placed on
    2025's 00691, 00691's only successor); H2, poor in 2024 and absent in 2025, is split as its
    split commune 00688 is."""
    assert query(warehouse, NOT_REVIEWED_SINCE) == [
        (2024, "H8", 2023, "00691", "00691", 1.0),
        (2025, "H2", 2024, "00688", "00691", 0.5),
        (2025, "H2", 2024, "00688", "00694", 0.5),
        (2025, "H8", 2023, "00691", "00691", 1.0),
    ]


def test_a_review_after_a_missing_year_counts_the_gaps_since_the_last_loaded_one(
    warehouse, tmp_path
):
    """With review 2024 not loaded, 2025's previous review is 2023: of the households poor in
    2023 (H1 approved, H4, H7, H8, H9) only H8 is not assessed in 2025. The model compiles its
    missing-year branch only for such a load."""
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(warehouse, path)
    replace_year(path, 2024, households=[], commune_totals=[], difficult_areas=[])
    dbt(["run", "--select", "+int_households_not_reviewed_since"], path)
    assert query(path, NOT_REVIEWED_SINCE) == [(2025, "H8", 2023, "00691", "00691", 1.0)]
    compiled = next((tmp_path / "dbt_target").rglob("int_households_not_reviewed_since.sql"))
    assert "seeds_across_a_missing_year" in compiled.read_text(encoding="utf-8")


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
    ) == (None, None, "water_sanitation")  # 00718 is not reported
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


def logged(dbt_output: str, message: str, model: str) -> str:
    """What a model's build logged after ``message`` (the years, or the households placed)."""
    match = re.search(rf"{message} in .*{model}\"?: (.*)", dbt_output)
    assert match, dbt_output
    return match.group(1).strip()


def years_rebuilt(dbt_output: str, model: str) -> str:
    return logged(dbt_output, "review years to build", model)


def years_replaced(dbt_output: str, model: str) -> str:
    return logged(dbt_output, "review years re-placed by difference", model)


def years_with_known_flows(dbt_output: str) -> str:
    return logged(dbt_output, "review years with known flows", "int_household_flows_tracked")


def households_placed(dbt_output: str) -> str:
    return logged(dbt_output, "households placed", "int_households_placed")


@pytest.fixture(scope="module")
def with_2026(warehouse, tmp_path_factory):
    """A copy of the built warehouse to which review 2026 is added, then rebuilt incrementally."""
    path = tmp_path_factory.mktemp("dbt_incremental") / "warehouse.duckdb"
    shutil.copy(warehouse, path)
    replace_year(path, 2026, **YEARS[2026]())
    return path, dbt(BUILD, path).stdout


def test_adding_a_year_rebuilds_only_that_year(with_2026):
    path, output = with_2026
    assert years_rebuilt(output, "int_household_flows_tracked") == "2026"
    # 2026 is the first review under Decree 351: its flows are not known, so the year is built
    # without reading any household's history (its year row only).
    assert years_with_known_flows(output) == "none"
    assert years_rebuilt(output, "int_commune_deprivations_counted") == "2026"
    assert years_rebuilt(output, "int_commune_groups_counted") == "2026"
    assert years_rebuilt(output, "int_commune_households_counted") == "2026"
    # Also 2023, the first review, which has no row to hold a fingerprint.
    assert years_rebuilt(output, "int_households_previously_poor_placed") == "2023, 2026"
    # The years that place households by their first 2025 review are corrected by difference
    # (2026 can place a household first assessed in it): the pre-2025 counts, and 2025's
    # previously poor households, whose previous review is on the pre-2025 units.
    assert years_replaced(output, "int_commune_households_counted") == "2023, 2024"
    assert years_replaced(output, "int_households_previously_poor_placed") == "2025"
    assert households_placed(output) == "those first assessed on 2025 units after 2025"
    # The classification is a view (nothing to rebuild): it always agrees with raw and the seed.
    assert row(
        path,
        "information_schema.tables",
        "table_schema = 'intermediate' and table_name = 'int_households_classified'",
        "table_type",
    ) == ("VIEW",)


def test_a_build_with_nothing_new_rebuilds_no_year_and_a_withdrawn_year_goes(with_2026, tmp_path):
    """With no year to build, the flows model selects nothing (no pass over every household's
    years) and the table stays as it was; a year withdrawn from raw is still dropped from it."""
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(with_2026[0], path)
    flows = "select * from intermediate.int_household_flows_tracked order by all"
    before = query(path, flows)
    assert {row[0] for row in before} == {2023, 2024, 2025, 2026}

    # The classification it reads is a view over raw: the model alone is enough to run.
    flows_model = ["run", "--select", "int_household_flows_tracked"]
    output = dbt(flows_model, path).stdout
    assert years_rebuilt(output, "int_household_flows_tracked") == "none"
    assert query(path, flows) == before

    with duckdb.connect(str(path)) as con:
        for table in RAW_TABLES.values():
            con.execute(f"delete from {table} where review_year = 2026")
    output = dbt(flows_model, path).stdout
    assert years_rebuilt(output, "int_household_flows_tracked") == "none"
    assert query(path, flows) == [row for row in before if row[0] != 2026]


# The household models incremental by review year with an input fingerprint per row
# (macros/incremental_review_years.sql), and the placement they read, kept up to date by
# appending (macros/placement_state.sql).
YEAR_INCREMENTAL_MODELS = (
    "int_households_placed",
    "int_commune_deprivations_counted",
    "int_households_previously_poor_placed",
    "int_commune_groups_counted",
    "int_commune_households_counted",
)
# What a row stores of the build that made it, not of the data.
BUILD_STATE_COLUMNS = ("input_fingerprint", "placed_through_year", "placed_through_fingerprint")


def year_incremental_rows(path) -> dict[str, list[tuple]]:
    """Every row of each year-incremental model, without the build state it stores."""
    rows = {}
    for model in YEAR_INCREMENTAL_MODELS:
        columns = {
            name
            for (name,) in query(
                path,
                "select column_name from duckdb_columns() "
                f"where schema_name = 'intermediate' and table_name = '{model}'",
            )
        }
        state = ", ".join(c for c in BUILD_STATE_COLUMNS if c in columns)
        rows[model] = query(
            path, f"select * exclude ({state}) from intermediate.{model} order by all"
        )
    return rows


def rebuilt_from_scratch(source, directory) -> dict[str, list[tuple]]:
    """The year-incremental models of a copy of `source` rebuilt whole (`--full-refresh`)."""
    directory.mkdir(exist_ok=True)
    path = directory / "warehouse.duckdb"
    shutil.copy(source, path)
    dbt(["run", "--full-refresh", "--select", *YEAR_INCREMENTAL_MODELS], path)
    return year_incremental_rows(path)


def test_a_year_added_incrementally_leaves_what_a_whole_rebuild_builds(with_2026, tmp_path):
    """Review 2026 built into the kept years gives the rows a rebuild of every year gives."""
    path, _ = with_2026
    incremental = year_incremental_rows(path)
    assert {row[0] for row in incremental["int_commune_deprivations_counted"]} == {
        2023,
        2024,
        2025,
        2026,
    }
    assert {row[0] for row in incremental["int_households_previously_poor_placed"]} == {
        2024,
        2025,
        2026,
    }
    assert {row[0] for row in incremental["int_commune_groups_counted"]} == {2023, 2024, 2025, 2026}
    assert incremental == rebuilt_from_scratch(path, tmp_path)


def test_a_year_added_stores_the_flows_and_fingerprints_a_whole_rebuild_stores(with_2026, tmp_path):
    """An incremental build computes the flows' history fingerprints once, in a query whose rows
    the model then reads as literals (64-bit unsigned hashes through dbt's agate tables); a
    rebuild computes them in the model's SQL. Both store the same rows, year rows included."""
    path, _ = with_2026
    flows = "select * from intermediate.int_household_flows_tracked order by all"
    scratch = tmp_path / "warehouse.duckdb"
    shutil.copy(path, scratch)
    dbt(["run", "--full-refresh", "--select", "int_household_flows_tracked"], scratch)
    rebuilt = query(scratch, flows)
    assert {row[0] for row in rebuilt if row[1] is None} == {2023, 2024, 2025, 2026}
    assert query(path, flows) == rebuilt


def test_a_year_that_places_households_corrects_the_earlier_years_by_difference(
    warehouse, tmp_path
):
    """Review 2026 assesses three households last seen on the pre-2025 units: H2 (00688, poor
    in 2024) and H8 (00691) in 00691, a successor of both, and H5 (00688) in 00715, which shares
    no territory with 00688. The pre-2025 counts and 2025's previously poor households are
    corrected by difference, to what a rebuild of every year gives: H2 and H8 move to 00691,
    H5 stays with the households nothing places."""
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(warehouse, path)
    year = YEARS[2026]()
    year["households"] += [
        household(2026, NEW_HA_GIANG_2, "H2", 1_400_000, 3),
        household(2026, NEW_HA_GIANG_2, "H8", 1_900_000, 3, area_type="urban"),
        household(2026, NEW_LUNG_CU, "H5", 2_250_000, 0),
    ]
    replace_year(path, 2026, **year)
    output = dbt(BUILD, path).stdout
    assert households_placed(output) == "those first assessed on 2025 units after 2025"
    assert years_replaced(output, "int_commune_households_counted") == "2023, 2024"
    assert years_rebuilt(output, "int_commune_households_counted") == "2026"
    assert years_replaced(output, "int_households_previously_poor_placed") == "2025"

    assert query(
        path,
        "select household_code, last_pre2025_commune_code, first_2025_commune_code, "
        "first_2025_review_year from intermediate.int_households_placed "
        "where first_2025_review_year = 2026 order by 1",
    ) == [
        ("H2", "00688", "00691", 2026),
        ("H5", "00688", "00715", 2026),
        ("H8", "00691", "00691", 2026),
    ]
    # H2, poor in 2024 and not reassessed in 2025, is now whole in 00691, its own 2025 commune,
    # where the crosswalk shared it half and half before (test_households_not_reviewed_since…).
    assert query(
        path,
        "select commune_code, weight from intermediate.int_households_previously_poor_placed "
        "where review_year = 2025 and household_code = 'H2'",
    ) == [("00691", 1.0)]
    placed_2023 = query(
        path,
        "select commune_code, placed_commune_code, assessed_households "
        "from intermediate.int_commune_households_counted "
        "where review_year = 2023 and commune_code = '00688' order by all",
    )
    assert ("00688", "00691", 3) in placed_2023  # H1 and H4 (2025), H2 (2026)
    assert year_incremental_rows(path) == rebuilt_from_scratch(path, tmp_path / "scratch")


def test_a_year_withdrawn_or_a_seed_changed_rebuilds_what_it_touched(with_2026, tmp_path):
    """With nothing new no year is rebuilt but the ones rebuilt on every build; a year withdrawn
    from raw leaves both models, even where it now has no row to replace; a changed standard
    seed rebuilds every year of the model that reads it."""
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(with_2026[0], path)
    models = ["int_review_years_described", "int_household_flows_tracked", *YEAR_INCREMENTAL_MODELS]
    before = year_incremental_rows(path)
    output = dbt(["run", "--select", *models], path).stdout
    assert years_rebuilt(output, "int_commune_deprivations_counted") == "none"
    assert years_rebuilt(output, "int_commune_groups_counted") == "none"
    assert years_rebuilt(output, "int_households_previously_poor_placed") == "2023"
    assert years_replaced(output, "int_households_previously_poor_placed") == "none"
    assert year_incremental_rows(path) == before

    with duckdb.connect(str(path)) as con:
        for table in RAW_TABLES.values():
            con.execute(f"delete from {table} where review_year = 2026")
    output = dbt(["run", "--select", *models], path).stdout
    assert years_rebuilt(output, "int_commune_deprivations_counted") == "none"
    after = year_incremental_rows(path)
    assert after == {
        model: [row for row in rows if row[0] != 2026] for model, rows in before.items()
    }

    # One indicator of Decree 07 no longer counted: the deprivation counts of every year
    # under it are rebuilt without it.
    with duckdb.connect(str(path)) as con:
        (dropped,) = con.execute(
            "select indicator_code from seeds.standard_indicators "
            "where standard_id = 'ND07_2021' order by indicator_code limit 1"
        ).fetchone()
        con.execute(
            "delete from seeds.standard_indicators "
            "where standard_id = 'ND07_2021' and indicator_code = ?",
            [dropped],
        )
    output = dbt(["run", "--select", *models], path).stdout
    assert years_rebuilt(output, "int_commune_deprivations_counted") == "2023, 2024, 2025"
    rows = year_incremental_rows(path)["int_commune_deprivations_counted"]
    assert dropped in {row[4] for row in before["int_commune_deprivations_counted"]}
    assert dropped not in {row[4] for row in rows}
    assert year_incremental_rows(path) == rebuilt_from_scratch(path, tmp_path / "scratch")


def test_a_flows_table_built_before_the_year_rows_is_rebuilt_whole(warehouse, tmp_path):
    """A warehouse whose flows table predates the year rows (no fingerprint columns) upgrades in
    place: every year is rebuilt, the columns are added, and the year rows then match."""
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(warehouse, path)
    before = query(
        path,
        "select * exclude (classified_households, history_fingerprint) "
        "from intermediate.int_household_flows_tracked order by all",
    )
    with duckdb.connect(str(path)) as con:
        con.execute(
            "delete from intermediate.int_household_flows_tracked where household_code is null"
        )
        for column in ("classified_households", "history_fingerprint"):
            con.execute(
                f"alter table intermediate.int_household_flows_tracked drop column {column}"
            )
    output = dbt(BUILD, path).stdout
    years = [
        year
        for (year,) in query(
            path,
            "select distinct review_year from intermediate.int_households_classified order by 1",
        )
    ]
    assert years_rebuilt(output, "int_household_flows_tracked") == ", ".join(map(str, years))
    after = query(
        path,
        "select * exclude (classified_households, history_fingerprint) "
        "from intermediate.int_household_flows_tracked order by all",
    )
    assert after == before


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
    output = dbt(BUILD, path).stdout
    assert years_rebuilt(output, "int_household_flows_tracked") == "2024, 2025, 2026"
    assert years_with_known_flows(output) == "2024, 2025"
    assert years_rebuilt(output, "int_commune_deprivations_counted") == "2024, 2025, 2026"
    assert years_rebuilt(output, "int_commune_groups_counted") == "2024, 2025, 2026"
    rebuilt = years_rebuilt(output, "int_households_previously_poor_placed")
    assert rebuilt == "2023, 2024, 2025, 2026"
    assert year_incremental_rows(path) == rebuilt_from_scratch(path, path.parent / "scratch")
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
    ) == (6, 1.5)  # H8 (00691, weight 1) and H2 (split 00688, half in 00691)


# A Decision 59/2015 province, worked by hand (rural L = 700,000, U = 1,000,000; 10 indicators
# over 5 services, d_health_access among them; employment, dependants and nutrition are not):
#
# | household | 2019 | 2020 | 2021 (Decree 07, rural L 1,500,000) |
# |---|---|---|---|
# | Q1 | 650,000, k=0: poor (under L) | 1,100,000: not poor (exited) | 1,000,000, k=3: poor |
# | Q2 | 800,000, health access + water + sanitation, k=3: poor | 800,000, k=2: near-poor | - |
# | Q3 | 800,000, employment + dependants + nutrition + water: k=1, near-poor | 650,000: poor | - |
# | Q4 | 1,200,000: not poor | - | - |
# | Q5 | - | 900,000, health access + insurance + water, k=3: poor | - |
QD59_COMMUNE = ("02", "026", "00715")
QD59_HOUSEHOLDS = {
    2019: [
        ("Q1", 650_000, []),
        ("Q2", 800_000, ["d_health_access", "d_water", "d_sanitation"]),
        ("Q3", 800_000, ["d_employment", "d_dependents", "d_nutrition", "d_water"]),
        ("Q4", 1_200_000, []),
    ],
    2020: [
        ("Q1", 1_100_000, []),
        ("Q2", 800_000, ["d_health_access", "d_water"]),
        ("Q3", 650_000, []),
        ("Q5", 900_000, ["d_health_access", "d_health_insurance", "d_water"]),
    ],
    2021: [("Q1", 1_000_000, ["d_employment", "d_dependents", "d_nutrition"])],
}


@pytest.fixture(scope="module")
def qd59_warehouse(tmp_path_factory):
    path = tmp_path_factory.mktemp("dbt_qd59") / "warehouse.duckdb"
    create_warehouse(path)
    for year, rows in QD59_HOUSEHOLDS.items():
        replace_year(
            path,
            year,
            households=[
                household(year, QD59_COMMUNE, code, income, deprived_in=deprived)
                for code, income, deprived in rows
            ],
            commune_totals=[("00715", 10, 40)],
        )
    dbt(BUILD, path)
    return path


def test_decision_59_counts_its_own_ten_indicators(qd59_warehouse):
    assert query(
        qd59_warehouse,
        "select household_code, standard_id, deprivation_count, computed_class "
        "from intermediate.int_households_classified where review_year = 2019 "
        "order by household_code",
    ) == [
        ("Q1", "QD59_2015", 0, "poor"),
        ("Q2", "QD59_2015", 3, "poor"),  # health access counts
        ("Q3", "QD59_2015", 1, "near_poor"),  # only water of its four marks counts
        ("Q4", "QD59_2015", 0, "middle"),  # U < 1,200,000 ≤ M (Decision 59, Art. 2)
    ]


def test_decision_59_commune_figures_and_flows(qd59_warehouse):
    columns = (
        "standard_id, poor_households, near_poor_households, middle_households, poverty_rate, "
        "exited_poverty, newly_poor, near_poor_to_poor, poor_to_near_poor, "
        "recently_exited_poverty, history_reviews"
    )
    # 2019: first review of the data, no flows; Q4 is middle (Decision 59's middle line, Art. 2).
    assert row(qd59_warehouse, "marts.commune_year", "review_year = 2019", columns) == (
        "QD59_2015",
        2,
        1,
        1,
        20.0,
        None,
        None,
        None,
        None,
        None,
        0,
    )
    # 2020: Q1 and Q2 exit (Q2 to near-poor), Q3 (near-poor before) and Q5 are newly poor;
    # Q1 and Q2 are recent exits (Q1 to the middle band, 1,100,000). Balance: 2 = 2 - 2 exited
    # + 2 newly.
    assert row(qd59_warehouse, "marts.commune_year", "review_year = 2020", columns) == (
        "QD59_2015",
        2,
        1,
        1,
        20.0,
        2,
        2,
        1,
        1,
        2,
        1,
    )
    # 2021 starts Decree 07: flows unknown.
    assert row(qd59_warehouse, "marts.commune_year", "review_year = 2021", columns) == (
        "ND07_2021",
        1,
        0,
        0,
        10.0,
        None,
        None,
        None,
        None,
        None,
        2,
    )


def test_decision_59_access_tables_list_its_ten_indicators(qd59_warehouse):
    access = {
        indicator: rest
        for indicator, *rest in query(
            qd59_warehouse,
            "select indicator_code, service_code, indicator_name_vi, poor_households, "
            "deprived_poor_households, access_rate, near_poor_households, "
            "deprived_near_poor_households, near_poor_access_rate "
            "from marts.commune_year_deprivation where review_year = 2020",
        )
    }
    assert len(access) == 10
    assert "d_employment" not in access
    # Poor in 2020: Q3 (no mark) and Q5 (health access); near-poor: Q2 (health access).
    assert access["d_health_access"] == [
        "health",
        "Tiếp cận các dịch vụ y tế",
        2,
        1,
        50.0,
        1,
        1,
        0.0,
    ]


def test_decision_59_alkire_foster_measures(qd59_warehouse):
    # 2019: of 4 assessed households only Q2 lacks 3 or more of the 10 indicators: H = 1/4.
    # Each indicator weighs 1/5 x 1/2 = 1/10, so Q2's score is 3/10: A = 0.3, M0 = 0.075; its
    # three indicators share M0 equally (33.3 % each).
    h, a, m0 = row(
        qd59_warehouse,
        "marts.province_year",
        "review_year = 2019",
        "mpi_headcount_ratio, mpi_intensity, mpi_m0",
    )
    assert (h, a, m0) == (pytest.approx(0.25), pytest.approx(0.3), pytest.approx(0.075))
    contributions = dict(
        query(
            qd59_warehouse,
            "select indicator_code, mpi_contribution_percent from marts.province_year_deprivation "
            "where review_year = 2019 and mpi_contribution_percent > 0",
        )
    )
    assert contributions == {
        "d_health_access": pytest.approx(100 / 3),
        "d_water": pytest.approx(100 / 3),
        "d_sanitation": pytest.approx(100 / 3),
    }
