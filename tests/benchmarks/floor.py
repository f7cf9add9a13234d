"""The floor: the least the warehouse's core numbers can cost on this machine.

One hand-written DuckDB SQL script reads the raw review exports (every survey CSV of the chosen
review years, ``commune_totals``, ``difficult_areas``), classifies each household (the official
class: the one the commune approved, the class by rule where the export leaves it empty) and
computes ``commune_year`` and ``province_year`` counts and rates. No Dagster, no dbt, no Great
Expectations, no quarantine, no lineage, no audit: what is left is reading the CSVs and one
group-by, so the pipeline's time divided by this one is the price of everything else it does.

The thresholds are written out here from ``poverty-rules.md`` rather than read from the dbt seed,
so that the benchmark's equality check is also an independent check of the seed and the models.

It reads files that follow the input contract *cleanly* (canonical headers, one header spelling
per column), which is what ``generate_sample(..., messy=False)`` writes; messy files are the
pipeline's job, not the floor's.

Run by ``run.py`` in a subprocess (so its peak memory is sampled like the pipeline's):
``python tests/benchmarks/floor.py --raw-dir DIR --years 2021-2025 --out DIR``. It writes
``commune_year.parquet`` and ``province_year.parquet`` into ``--out`` and prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from string import Template

import duckdb

from orchestration.base.headers import DEPRIVATION_COLUMNS, EXPORT_HEADERS

# The standards as the project's seed states them (lines by area and review years). The floor
# applies the Decree 07 / 351 rule only: the benchmarked years (2021-2026) have no other.
STANDARDS_CSV = (
    Path(__file__).resolve().parents[2] / "dbt_project" / "seeds" / "poverty_standards.csv"
)
STANDARDS_SQL = f"""
create or replace temp table standards as
select standard_id, first_review_year, last_review_year, area_type, income_line, middle_line
from read_csv('{STANDARDS_CSV}', header = true)
where rule_type = 'income_and_deprivation'
"""

# The contract's headers, from the one header map the ingest and the sample generator use.
SURVEY = dict(EXPORT_HEADERS["survey"])
TOTALS = dict(EXPORT_HEADERS["commune_totals"])
DIFFICULT = dict(EXPORT_HEADERS["difficult_areas"])
DEPRIVATION_HEADERS = tuple(SURVEY[column] for column in DEPRIVATION_COLUMNS)

_DEPRIVATION_COUNT = "\n            + ".join(
    f"""(coalesce(trim("{header}"), '') in ('x', 'X', '1'))::integer"""
    for header in DEPRIVATION_HEADERS
)

# Everything is read as text (all_varchar) and cast here: the contract allows `1.500.000` incomes
# and `790` for `00790`, and only the columns used are parsed (DuckDB pushes the projection down).
ASSESSED_SQL = Template(
    f"""
create or replace temp table assessed as
with survey as (
    select *
    from read_csv($survey_files, header = true, all_varchar = true, union_by_name = $union)
),

households as (
    select
        cast("{SURVEY["review_year"]}" as integer) as review_year,
        lpad(trim("{SURVEY["commune_code"]}"), 5, '0') as commune_code,
        case trim("{SURVEY["area_type"]}") when 'Nông thôn' then 'rural' else 'urban' end
            as area_type,
        cast(replace(trim("{SURVEY["income_per_capita"]}"), '.', '') as bigint)
            as income_per_capita,
        {_DEPRIVATION_COUNT} as deprivation_count,
        -- The class the commune approved, in the spellings a clean export writes (empty: none).
        case trim("{SURVEY["reported_class"]}")
            when 'Hộ nghèo' then 'poor'
            when 'Hộ cận nghèo' then 'near_poor'
            when 'Hộ có mức sống trung bình' then 'middle'
            when 'Hộ không nghèo' then 'not_poor'
        end as reported_class
    from survey
),

classified as (
    select
        households.review_year,
        households.commune_code,
        -- The official class: the approved one, the class by rule where the export has none.
        coalesce(reported_class, case
            when income_per_capita <= income_line and deprivation_count >= 3 then 'poor'
            when income_per_capita <= income_line then 'near_poor'
            when income_per_capita <= middle_line then 'middle'
            else 'not_poor'
        end) as official_class,
        standards.middle_line
    from households
    inner join standards
        on households.area_type = standards.area_type
    -- The year range as a filter, not a join condition: a range join here cost 0.5 s more.
    where households.review_year between standards.first_review_year
        and standards.last_review_year
)

select
    review_year,
    commune_code,
    count(*) as assessed_households,
    count(*) filter (where official_class = 'poor') as poor_households,
    count(*) filter (where official_class = 'near_poor') as near_poor_households,
    -- NULL, not 0, where the year's standard states no middle line (Decree 351/2025).
    case
        when count(middle_line) > 0 then count(*) filter (where official_class = 'middle')
    end as middle_households
from classified
group by review_year, commune_code
"""
)

COMMUNE_YEAR_SQL = Template(
    f"""
create or replace temp table commune_year as
with totals as (
    select
        cast("{TOTALS["review_year"]}" as integer) as review_year,
        lpad(trim("{TOTALS["commune_code"]}"), 5, '0') as commune_code,
        cast("{TOTALS["total_households"]}" as bigint) as total_households,
        cast("{TOTALS["total_population"]}" as bigint) as total_population
    from read_csv($totals_files, header = true, all_varchar = true, union_by_name = true)
),

difficult as (
    select
        cast("{DIFFICULT["review_year"]}" as integer) as review_year,
        lpad(trim("{DIFFICULT["commune_code"]}"), 5, '0') as commune_code,
        coalesce(lower(trim("{DIFFICULT["extremely_difficult"]}")) = 'x', false)
            as is_extremely_difficult,
        coalesce(cast("{DIFFICULT["difficult_villages"]}" as integer), 0) as difficult_villages
    from read_csv($difficult_files, header = true, all_varchar = true, union_by_name = true)
),

final as (
    select
        totals.review_year,
        case when totals.review_year >= 2025 then '2025' else 'pre2025' end as unit_version,
        units.province_code,
        units.district_code,
        totals.commune_code,
        coalesce(difficult.is_extremely_difficult, false) as is_extremely_difficult,
        coalesce(difficult.difficult_villages, 0) as difficult_villages,
        totals.total_households,
        totals.total_population,
        -- A commune with no survey row is not reported: NULL counts, not 0 (the rules).
        assessed.assessed_households,
        assessed.poor_households,
        assessed.near_poor_households,
        assessed.middle_households
    from totals
    left join assessed
        on totals.review_year = assessed.review_year
        and totals.commune_code = assessed.commune_code
    left join difficult
        on totals.review_year = difficult.review_year
        and totals.commune_code = difficult.commune_code
    left join reference.admin_units as units
        on units.unit_version = case when totals.review_year >= 2025 then '2025' else 'pre2025' end
        and totals.commune_code = units.commune_code
)

select
    *,
    100.0 * poor_households / total_households as poverty_rate,
    100.0 * near_poor_households / total_households as near_poverty_rate
from final
"""
)

PROVINCE_YEAR_SQL = """
create or replace temp table province_year as
with summed as (
    select
        review_year,
        unit_version,
        province_code,
        count(*) as communes,
        count(*) filter (where is_extremely_difficult) as extremely_difficult_communes,
        -- Over the reported communes only, numerator and denominator alike (the rules).
        cast(sum(total_households) filter (where assessed_households is not null) as bigint)
            as total_households,
        cast(sum(assessed_households) as bigint) as assessed_households,
        cast(sum(poor_households) as bigint) as poor_households,
        cast(sum(near_poor_households) as bigint) as near_poor_households,
        cast(sum(middle_households) as bigint) as middle_households
    from commune_year
    group by review_year, unit_version, province_code
)

select
    *,
    100.0 * poor_households / total_households as poverty_rate,
    100.0 * near_poor_households / total_households as near_poverty_rate
from summed
"""


def _sql_list(paths: list[Path]) -> str:
    quoted = ", ".join("'" + str(path).replace("'", "''") + "'" for path in paths)
    return f"[{quoted}]"


def same_header(paths: list[Path]) -> bool:
    """Whether every file starts with the same header line.

    Then ``union_by_name`` is not needed, and it is expensive: over the 90 survey files of the
    province sample it took the scan from 0.8 s to 5.4 s (DuckDB 2.0.1, 2 cores). Column order is
    free in the contract, so files whose headers differ still get it.
    """
    first_lines = set()
    for path in paths:
        with path.open("rb") as handle:
            first_lines.add(handle.readline().removeprefix(b"\xef\xbb\xbf").strip())
    return len(first_lines) <= 1


def input_files(raw_dir: Path, years: list[int]) -> dict[str, list[Path]]:
    """The CSVs of the chosen review years, by dataset (XLSX are not the floor's business)."""
    survey = [
        path for year in years for path in sorted((raw_dir / "survey" / str(year)).glob("*.csv"))
    ]
    totals = [raw_dir / "commune_totals" / f"{year}.csv" for year in years]
    difficult = [raw_dir / "difficult_areas" / f"{year}.csv" for year in years]
    return {
        "survey": survey,
        "commune_totals": [path for path in totals if path.exists()],
        "difficult_areas": [path for path in difficult if path.exists()],
    }


def compute(raw_dir: Path, years: list[int], out_dir: Path) -> dict:
    """Run the script; write both tables as Parquet; return row counts and timings."""
    from orchestration.base.admin_units import load_admin_units

    files = input_files(raw_dir, years)
    if not files["survey"] or not files["commune_totals"]:
        raise SystemExit(f"floor: no survey or commune_totals CSV for {years} under {raw_dir}")
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with duckdb.connect() as con:
        con.execute("set enable_progress_bar = false")
        load_admin_units(con)
        loaded = time.perf_counter()
        con.execute(STANDARDS_SQL)
        union = "false" if same_header(files["survey"]) else "true"
        con.execute(ASSESSED_SQL.substitute(survey_files=_sql_list(files["survey"]), union=union))
        con.execute(
            COMMUNE_YEAR_SQL.substitute(
                totals_files=_sql_list(files["commune_totals"]),
                difficult_files=_sql_list(files["difficult_areas"]),
            )
        )
        con.execute(PROVINCE_YEAR_SQL)
        computed = time.perf_counter()
        for table in ("commune_year", "province_year"):
            target = str(out_dir / f"{table}.parquet").replace("'", "''")
            con.execute(f"copy {table} to '{target}' (format parquet)")
        survey_rows = con.execute("select sum(assessed_households) from assessed").fetchone()[0]
        communes = con.execute("select count(*) from commune_year").fetchone()[0]
    return {
        "union_by_name": union == "true",
        "survey_files": len(files["survey"]),
        "survey_rows": int(survey_rows or 0),
        "commune_year_rows": communes,
        "admin_units_seconds": round(loaded - started, 3),
        "compute_seconds": round(computed - loaded, 3),
    }


def parse_years(text: str) -> list[int]:
    first, _, last = text.partition("-")
    return list(range(int(first), int(last or first) + 1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw-dir", type=Path, required=True)
    parser.add_argument("--years", required=True, help="e.g. 2021-2025")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    result = compute(args.raw_dir, parse_years(args.years), args.out)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
