"""Measure the incremental build: 5 review years built from scratch, then a 6th year added.

Synthetic households (deterministic hashes, not real data) in every commune of one pre-2025
province, re-coded to the 2025 communes for review 2025. Run from the repository root:

    PYTHONPATH=tests .venv/bin/python tests/dbt_fixtures/measure_incremental.py --households 200000

Prints the wall time of each ``dbt build`` and the time dbt reports for the two incremental
household models, read from ``run_results.json``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import duckdb

from dbt_fixtures.warehouse import DEPRIVATIONS, create_warehouse, dbt

HOUSEHOLD_MODELS = ("int_household_flows_tracked",)


def load_year(path: Path, review_year: int, households: int, province_code: str) -> None:
    """Replace one review year of raw.* with synthetic rows (one transaction)."""
    version = "2025" if review_year >= 2025 else "pre2025"
    deprivations = ", ".join(
        f"hash(household_code, review_year, '{name}') % 4 = 0 as {name}" for name in DEPRIVATIONS
    )
    with duckdb.connect(str(path)) as con:
        con.execute("set enable_progress_bar = false")
        con.execute("begin transaction")
        for table in ("survey_households", "commune_totals", "difficult_areas"):
            con.execute(f"delete from raw.{table} where review_year = ?", [review_year])
        con.execute(
            f"""
            create or replace temp table communes as
            select
                row_number() over (order by old.commune_code) - 1 as position,
                old.province_code,
                old.district_code,
                old.commune_code as old_commune_code,
                coalesce(mapping.new_commune_code, old.commune_code) as new_commune_code,
                new.province_code as new_province_code
            from reference.admin_units as old
            left join reference.admin_unit_mapping as mapping
                on old.commune_code = mapping.old_commune_code and mapping.is_default_new_commune
            left join reference.admin_units as new
                on new.unit_version = '2025' and new.commune_code = mapping.new_commune_code
            where old.unit_version = 'pre2025' and old.province_code = '{province_code}'
            """
        )
        communes = con.execute("select count(*) from communes").fetchone()[0]
        new_code = "new_commune_code" if version == "2025" else "old_commune_code"
        con.execute(
            f"""
            insert into raw.survey_households
            with households as (
                select
                    {review_year} as review_year,
                    'HH' || lpad(cast(i as varchar), 8, '0') as household_code,
                    i % {communes} as position
                from range({households}) as t(i)
                where hash(i, {review_year}) % 10 <> 0
            )
            select
                review_year,
                '{version}',
                case when '{version}' = '2025' then communes.new_province_code
                    else communes.province_code end,
                case when '{version}' = '2025' then null else communes.district_code end,
                communes.{new_code},
                null,
                'Thôn 1',
                household_code,
                'hash-' || household_code,
                case when hash(household_code) % 3 = 0 then 'female' else 'male' end,
                case when hash(household_code) % 2 = 0 then 'Mông' else 'Kinh' end,
                4,
                case when hash(household_code) % 5 = 0 then 'urban' else 'rural' end,
                500000 + hash(household_code, review_year) % 3000000,
                {deprivations},
                hash(household_code) % 50 = 0,
                hash(household_code) % 20 = 0,
                hash(household_code) % 30 = 0,
                null,
                '{review_year}.csv', null, 2, 'sha', 'run-{review_year}', now()
            from households
            join communes using (position)
            """
        )
        con.execute(
            f"""
            insert into raw.commune_totals
            select distinct {review_year}, '{version}', {new_code},
                {households}, {households} * 4, '{review_year}.csv', null, 2, 'sha',
                'run-{review_year}', now()
            from communes
            """
        )
        con.execute("commit")


def timed_build(path: Path, args: list[str]) -> dict[str, float]:
    started = time.perf_counter()
    dbt(["build", *args], path)
    figures = {"dbt build (wall)": time.perf_counter() - started}
    run_results = json.loads((path.parent / "dbt_target" / "run_results.json").read_text())
    for result in run_results["results"]:
        name = result["unique_id"].split(".")[-1]
        if name in HOUSEHOLD_MODELS:
            figures[name] = result["execution_time"]
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=200_000, help="households per year")
    parser.add_argument("--province", default="02", help="pre-2025 province code")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "warehouse.duckdb"
        create_warehouse(path)
        for year in range(2020, 2025):
            load_year(path, year, args.households, args.province)
        report = {"5 years (2020-2024), from scratch": timed_build(path, ["--full-refresh"])}
        report["no change, rebuild"] = timed_build(path, [])
        load_year(path, 2025, args.households, args.province)
        report["6th year (2025) added, incremental"] = timed_build(path, [])
        report["6 years, full refresh for comparison"] = timed_build(path, ["--full-refresh"])
    print(f"households per year: {args.households:,}")
    for step, figures in report.items():
        detail = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in figures.items())
        print(f"{step}: {detail}")


if __name__ == "__main__":
    main()
