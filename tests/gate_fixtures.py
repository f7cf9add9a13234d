"""A synthetic working warehouse for the gate, publish and explain tests.

The dbt models are written in parallel, so these tests build the internal tables of
``docs/architecture.md`` and the contract's marts directly with SQL in a temp DuckDB file. The
marts are computed from the classified households (the same rules as poverty-rules.md, ND07_2021
only), so counts, flows and rates agree with each other the way the real models must. The same
builder, scaled up, produces the 5-million-household benchmark.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

DEPRIVATIONS = (
    ("d_employment", "employment"),
    ("d_dependents", "employment"),
    ("d_nutrition", "health"),
    ("d_health_insurance", "health"),
    ("d_adult_education", "education"),
    ("d_child_schooling", "education"),
    ("d_housing_quality", "housing"),
    ("d_housing_area", "housing"),
    ("d_water", "water_sanitation"),
    ("d_sanitation", "water_sanitation"),
    ("d_telecom", "information"),
    ("d_information_assets", "information"),
)


@dataclass(frozen=True)
class FixtureShape:
    communes: int = 6
    communes_per_district: int = 2
    districts_per_province: int = 2
    households_per_commune: int = 30
    years: tuple[int, ...] = (2022, 2023, 2024)


SMALL = FixtureShape()


def _marks(prefix: str = "") -> str:
    return ", ".join(f"{prefix}{name}" for name, _ in DEPRIVATIONS)


def build_warehouse(path: Path, shape: FixtureShape = SMALL) -> Path:
    """Create a clean warehouse at ``path`` that passes every critical and warning expectation."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    years_sql = ", ".join(str(y) for y in shape.years)
    first_year = min(shape.years)
    last_year = max(shape.years)
    deprivation_flags = ",\n".join(
        # household 2 is near-poor until its last review, when it lacks 3 indicators (poor);
        # household 3 lacks 3 in the first review only (poor, then near-poor)
        f"case when h = 2 then review_year = {last_year} and {k} < 3 "
        f"when h = 3 then review_year = {first_year} and {k} < 3 "
        f"else hash(household_code, {k}) % 5 = 0 or h < 2 end as {name}"
        for k, (name, _) in enumerate(DEPRIVATIONS)
    )
    deprivation_count = " + ".join(f"{name}::int" for name, _ in DEPRIVATIONS)
    indicator_values = ", ".join(f"('{name}', '{service}')" for name, service in DEPRIVATIONS)
    unpivot_deprived = ", ".join(f"{name}" for name, _ in DEPRIVATIONS)
    with duckdb.connect(str(path)) as con:
        con.execute("set enable_progress_bar = false")
        con.execute(
            f"""
            create schema reference; create schema staging; create schema intermediate;
            create schema marts; create schema audit; create schema seeds;

            create table reference.admin_units as
            with units as (
                select i, i // {shape.communes_per_district} as d,
                    (i // {shape.communes_per_district}) // {shape.districts_per_province} as p
                from range({shape.communes}) as t(i)
            )
            select 'pre2025' as unit_version,
                lpad((p + 1)::varchar, 2, '0') as province_code,
                'Province ' || (p + 1) as province_name,
                lpad((d + 1)::varchar, 3, '0') as district_code,
                'District ' || (d + 1) as district_name,
                lpad((i * 3 + 1)::varchar, 5, '0') as commune_code,
                'Commune ' || (i * 3 + 1) as commune_name,
                'Xã' as commune_type, 10.0 as area_km2, i as commune_index
            from units;

            create table seeds.poverty_standards as
            select * from (values
                ('ND07_2021', 'Decree 07/2021/NĐ-CP', 2021, 2025, 'rural', 1500000, 2250000),
                ('ND07_2021', 'Decree 07/2021/NĐ-CP', 2021, 2025, 'urban', 2000000, 3000000)
            ) as s(standard_id, legal_source, first_review_year, last_review_year, area_type,
                   income_line, middle_line);

            create table staging.stg_review_exports__households as
            with base as (
                select y.review_year, u.unit_version, u.province_code, u.district_code,
                    u.commune_code, u.commune_name, u.commune_index, h.h,
                    u.commune_code || '-' || lpad(h.h::varchar, 5, '0') as household_code
                from reference.admin_units as u
                cross join (select unnest([{years_sql}]) as review_year) as y
                cross join range({shape.households_per_commune}) as h(h)
            )
            select review_year, unit_version, province_code, district_code, commune_code,
                commune_name, 'Village ' || (h % 4 + 1) as village, household_code,
                sha256(household_code) as head_id_hash,
                case when hash(household_code, 'sex') % 3 = 0 then 'female' else 'male' end
                    as head_sex,
                case when hash(household_code, 'eth') % 4 = 0 then 'Tày' else 'Kinh' end
                    as ethnicity,
                (1 + hash(household_code, 'size') % 6)::integer as household_size,
                case when commune_index % 3 = 2 then 'urban' else 'rural' end as area_type,
                case
                    -- household 0 of each commune is poor, not poor, poor, ... (exits, returns);
                    -- household 1 becomes poor in the last review (newly poor)
                    when h = 0 and (review_year - {first_year}) % 2 = 1 then 2000000
                    when h = 0 then 1000000
                    when h = 1 and review_year = {last_year} then 1000000
                    when h = 1 then 3000000
                    when h in (2, 3) then 1000000
                    else (
                        (hash(household_code, 'income') % 4000000)
                            * (1 + 0.03 * (review_year - {first_year}))
                        + ((hash(household_code, review_year) % 3)::bigint - 1) * 100000
                    )::bigint
                end as income_per_capita,
                {deprivation_flags},
                (hash(household_code, 'merit') % 20 = 0) as is_meritorious_family,
                (hash(household_code, 'social') % 10 = 0) as is_social_protection,
                (hash(household_code, 'labour') % 15 = 0) as is_no_labour_capacity,
                (commune_index = 0 and h = 7) as is_reported_wrong,
                (commune_index = 0 and h = 9) as is_reported_missing,
                review_year || '/survey.csv' as source_file,
                null::varchar as source_sheet,
                (row_number() over (partition by review_year order by household_code) + 1)::integer
                    as source_row,
                sha256(review_year || '/survey.csv') as source_sha256
            from base;

            update staging.stg_review_exports__households
            set income_per_capita = greatest(income_per_capita, 0);

            create table intermediate.int_households_classified as
            with lines as (
                select h.*, s.standard_id, s.income_line, s.middle_line,
                    ({deprivation_count})::integer as deprivation_count
                from staging.stg_review_exports__households as h
                inner join seeds.poverty_standards as s
                    on s.area_type = h.area_type
                    and h.review_year between s.first_review_year and s.last_review_year
            ),
            classified as (
                select *,
                    case
                        when income_per_capita <= income_line and deprivation_count >= 3 then 'poor'
                        when income_per_capita <= income_line then 'near_poor'
                        when income_per_capita <= middle_line then 'middle'
                        else 'not_poor'
                    end as computed_class
                from lines
            )
            select * exclude (is_reported_wrong, is_reported_missing),
                case
                    when is_reported_missing then null
                    when is_reported_wrong and computed_class = 'poor' then 'near_poor'
                    when is_reported_wrong then 'poor'
                    else computed_class
                end as reported_class,
                computed_class = 'poor' as is_poor,
                computed_class = 'near_poor' as is_near_poor,
                0 as missing_indicator_marks,
                ethnicity <> 'Kinh' as is_ethnic_minority,
                head_sex = 'female' as is_female_headed,
                is_reported_wrong as is_class_mismatch
            from classified;

            alter table staging.stg_review_exports__households add column reported_class varchar;
            update staging.stg_review_exports__households as s
            set reported_class = c.reported_class
            from intermediate.int_households_classified as c
            where c.review_year = s.review_year and c.household_code = s.household_code;
            alter table staging.stg_review_exports__households drop column is_reported_wrong;
            alter table staging.stg_review_exports__households drop column is_reported_missing;

            create table intermediate.int_household_flows_tracked as
            with history as (
                select review_year, unit_version, commune_code, household_code, is_poor,
                    is_near_poor, lag(is_near_poor) over w as was_near_poor_last_review,
                    coalesce(bool_or(is_poor) over (
                        w rows between 3 preceding and 1 preceding
                    ), false) as was_poor_in_last_three,
                    lag(is_poor) over w as was_poor_last_review,
                    coalesce(bool_or(is_poor) over (
                        w rows between unbounded preceding and 2 preceding
                    ), false) as was_poor_earlier
                from intermediate.int_households_classified
                window w as (partition by household_code order by review_year)
            )
            select review_year, unit_version, commune_code, household_code,
                case
                    when review_year = {first_year} then null
                    when was_poor_last_review and not is_poor then 'exited_poverty'
                    when is_poor and not coalesce(was_poor_last_review, false)
                        and was_poor_earlier then 'returned_to_poverty'
                    when is_poor and not coalesce(was_poor_last_review, false) then 'newly_poor'
                end as flow,
                case
                    when review_year = {first_year} then null
                    when was_near_poor_last_review and is_poor then 'near_poor_to_poor'
                    when was_poor_last_review and is_near_poor then 'poor_to_near_poor'
                    when was_near_poor_last_review and not is_near_poor
                        then 'exited_near_poverty'
                    when is_near_poor and not coalesce(was_near_poor_last_review, false)
                        then 'newly_near_poor'
                end as near_poor_flow,
                case when review_year > {first_year} then not is_poor and was_poor_in_last_three
                end as is_recently_exited_poverty
            from history;

            create table seeds.standard_indicators as
            select 'ND07_2021' as standard_id, indicator_code, service_code,
                'chỉ số ' || indicator_code as indicator_name_vi,
                indicator_code as indicator_name_en,
                service_code as service_name_vi, 'Decree 07/2021/NĐ-CP' as legal_source
            from (values {indicator_values}) as i(indicator_code, service_code);

            -- Every household is assessed every year here: none is missing, none moved.
            create table intermediate.int_households_previously_poor_placed as
            select c.review_year, c.unit_version, c.household_code,
                p.review_year as previous_review_year, p.unit_version as previous_unit_version,
                p.commune_code as previous_commune_code, p.commune_code,
                1.0::double as weight, true as is_reassessed,
                c.commune_code as current_commune_code, c.is_poor as is_poor_now
            from intermediate.int_households_classified as p
            inner join intermediate.int_households_classified as c
                on c.review_year = p.review_year + 1 and c.household_code = p.household_code
            where p.is_poor;

            create table staging.stg_review_exports__commune_totals as
            select y.review_year, u.unit_version, u.commune_code,
                ({shape.households_per_commune} + 3)::bigint as total_households,
                (({shape.households_per_commune} + 3) * 4)::bigint as total_population
            from reference.admin_units as u
            cross join (select unnest([{years_sql}]) as review_year) as y;

            create table staging.stg_review_exports__difficult_areas as
            select t.review_year, t.unit_version, t.commune_code,
                u.commune_index % 5 = 0 as is_extremely_difficult,
                case when u.commune_index % 5 = 0 then 1 else 0 end as difficult_villages,
                5 as total_villages
            from staging.stg_review_exports__commune_totals as t
            inner join reference.admin_units as u using (unit_version, commune_code);

            create table marts.commune_year as
            with households as (
                select c.review_year, c.unit_version, c.commune_code,
                    count(*) as assessed_households,
                    count(*) filter (where computed_class = 'poor') as poor_households,
                    sum(household_size) filter (where computed_class = 'poor') as poor_people,
                    count(*) filter (where computed_class = 'near_poor') as near_poor_households,
                    sum(household_size) filter (where computed_class = 'near_poor')
                        as near_poor_people,
                    count(*) filter (where f.near_poor_flow = 'near_poor_to_poor')
                        as near_poor_to_poor,
                    count(*) filter (where f.near_poor_flow = 'poor_to_near_poor')
                        as poor_to_near_poor,
                    count(*) filter (where f.near_poor_flow = 'exited_near_poverty')
                        as exited_near_poverty,
                    count(*) filter (where f.near_poor_flow = 'newly_near_poor')
                        as newly_near_poor,
                    count(*) filter (where f.is_recently_exited_poverty)
                        as recently_exited_poverty,
                    count(*) filter (where c.reported_class is null) as unreported_class,
                    count(*) filter (where computed_class = 'middle') as middle_households,
                    count(*) filter (where is_poor and is_ethnic_minority) as poor_ethnic_minority,
                    count(*) filter (where is_poor and is_meritorious_family)
                        as poor_meritorious_family,
                    count(*) filter (where is_poor and is_social_protection)
                        as poor_social_protection,
                    count(*) filter (where is_poor and is_no_labour_capacity)
                        as poor_no_labour_capacity,
                    count(*) filter (where is_poor and is_female_headed) as poor_female_headed,
                    count(*) filter (where f.flow = 'exited_poverty') as exited_poverty,
                    count(*) filter (where f.flow = 'newly_poor') as newly_poor,
                    count(*) filter (where f.flow = 'returned_to_poverty') as returned_to_poverty,
                    count(*) filter (where is_class_mismatch) as classification_mismatches,
                    any_value(standard_id) as standard_id
                from intermediate.int_households_classified as c
                left join intermediate.int_household_flows_tracked as f
                    using (review_year, household_code)
                group by all
            ),
            joined as (
                select t.review_year, t.unit_version, u.province_code, u.province_name,
                    u.district_code, u.district_name, t.commune_code, u.commune_name,
                    coalesce(h.standard_id, 'ND07_2021') as standard_id,
                    d.is_extremely_difficult, d.difficult_villages, d.total_villages,
                    t.total_households, t.total_population,
                    coalesce(h.assessed_households, 0)::bigint as assessed_households,
                    coalesce(h.poor_households, 0)::bigint as poor_households,
                    coalesce(h.near_poor_households, 0)::bigint as near_poor_households,
                    coalesce(h.middle_households, 0)::bigint as middle_households,
                    100.0 * coalesce(h.poor_households, 0) / t.total_households as poverty_rate,
                    100.0 * coalesce(h.near_poor_households, 0) / t.total_households
                        as near_poverty_rate,
                    coalesce(h.poor_ethnic_minority, 0)::bigint as poor_ethnic_minority,
                    coalesce(h.poor_meritorious_family, 0)::bigint as poor_meritorious_family,
                    coalesce(h.poor_social_protection, 0)::bigint as poor_social_protection,
                    coalesce(h.poor_no_labour_capacity, 0)::bigint as poor_no_labour_capacity,
                    coalesce(h.poor_female_headed, 0)::bigint as poor_female_headed,
                    case when t.review_year > {first_year}
                        then coalesce(h.exited_poverty, 0) end::bigint as exited_poverty,
                    case when t.review_year > {first_year}
                        then coalesce(h.newly_poor, 0) end::bigint as newly_poor,
                    case when t.review_year > {first_year}
                        then coalesce(h.returned_to_poverty, 0) end::bigint as returned_to_poverty,
                    coalesce(h.classification_mismatches, 0)::bigint as classification_mismatches,
                    coalesce(h.poor_people, 0)::bigint as poor_people,
                    coalesce(h.near_poor_people, 0)::bigint as near_poor_people,
                    case when t.review_year > {first_year}
                        then coalesce(h.near_poor_to_poor, 0) end::bigint as near_poor_to_poor,
                    case when t.review_year > {first_year}
                        then coalesce(h.poor_to_near_poor, 0) end::bigint as poor_to_near_poor,
                    case when t.review_year > {first_year}
                        then coalesce(h.exited_near_poverty, 0) end::bigint
                        as exited_near_poverty,
                    case when t.review_year > {first_year}
                        then coalesce(h.newly_near_poor, 0) end::bigint as newly_near_poor,
                    case when t.review_year > {first_year}
                        then coalesce(h.recently_exited_poverty, 0) end::bigint
                        as recently_exited_poverty,
                    coalesce(h.unreported_class, 0)::bigint as unreported_class
                from staging.stg_review_exports__commune_totals as t
                inner join reference.admin_units as u using (unit_version, commune_code)
                inner join staging.stg_review_exports__difficult_areas as d
                    using (review_year, unit_version, commune_code)
                left join households as h using (review_year, unit_version, commune_code)
            )
            select review_year, unit_version, province_code, province_name, district_code,
                district_name, commune_code, commune_name, standard_id,
                'reported' as reporting_status, is_extremely_difficult,
                difficult_villages, total_villages, total_households, total_population,
                assessed_households, poor_households, near_poor_households, middle_households,
                poverty_rate, near_poverty_rate,
                poverty_rate + near_poverty_rate as multidimensional_poverty_rate,
                poverty_rate - lag(poverty_rate) over (
                    partition by unit_version, commune_code order by review_year
                ) as poverty_rate_change_pp,
                poor_ethnic_minority, poor_meritorious_family, poor_social_protection,
                poor_no_labour_capacity, poor_female_headed, exited_poverty, newly_poor,
                returned_to_poverty,
                case when review_year > {first_year} then 0 end::bigint as reappeared_poor,
                classification_mismatches, unreported_class, poor_people, near_poor_people,
                near_poor_to_poor, poor_to_near_poor, exited_near_poverty, newly_near_poor,
                recently_exited_poverty
            from joined;
            """
        )
        counts = (
            "total_households, total_population, assessed_households, poor_households, "
            "near_poor_households, middle_households, poor_ethnic_minority, "
            "poor_meritorious_family, poor_social_protection, poor_no_labour_capacity, "
            "poor_female_headed, exited_poverty, newly_poor, returned_to_poverty, "
            "reappeared_poor, classification_mismatches, unreported_class"
        )
        sums = ", ".join(f"sum({c})::bigint as {c}" for c in counts.split(", "))
        con.execute(
            f"""
            create table marts.district_year as
            select review_year, unit_version, province_code, any_value(province_name)
                    as province_name, district_code, any_value(district_name) as district_name,
                count(*) as communes,
                count(*) filter (where is_extremely_difficult) as extremely_difficult_communes,
                {sums}
            from marts.commune_year where district_code is not null
            group by review_year, unit_version, province_code, district_code;
            alter table marts.district_year add column poverty_rate double;
            alter table marts.district_year add column near_poverty_rate double;
            update marts.district_year set
                poverty_rate = 100.0 * poor_households / total_households,
                near_poverty_rate = 100.0 * near_poor_households / total_households;

            create table marts.province_year as
            select review_year, unit_version, province_code, any_value(province_name)
                    as province_name,
                count(*) as communes,
                count(*) filter (where is_extremely_difficult) as extremely_difficult_communes,
                {sums},
                sum(poor_households) filter (where is_extremely_difficult)::bigint
                    as poor_households_extremely_difficult,
                sum(total_households) filter (where is_extremely_difficult)::bigint
                    as total_households_extremely_difficult,
                0::bigint as poor_not_reassessed
            from marts.commune_year
            group by review_year, unit_version, province_code;
            alter table marts.province_year add column poverty_rate double;
            alter table marts.province_year add column near_poverty_rate double;
            alter table marts.province_year add column poverty_rate_extremely_difficult double;
            update marts.province_year set
                poverty_rate = 100.0 * poor_households / total_households,
                near_poverty_rate = 100.0 * near_poor_households / total_households,
                poverty_rate_extremely_difficult = 100.0 * poor_households_extremely_difficult
                    / nullif(total_households_extremely_difficult, 0);

            create table marts.commune_year_deprivation as
            with indicators as (
                select * from (values {indicator_values}) as i(indicator_code, service_code)
            ),
            poor as (
                unpivot (
                    select review_year, unit_version, commune_code, {unpivot_deprived}
                    from intermediate.int_households_classified where is_poor
                ) on {unpivot_deprived} into name indicator_code value is_deprived
            ),
            counted as (
                select review_year, unit_version, commune_code, indicator_code,
                    count(*) filter (where is_deprived) as deprived_poor_households
                from poor group by all
            )
            select c.review_year, c.unit_version, c.commune_code, i.service_code,
                i.indicator_code, c.poor_households,
                coalesce(d.deprived_poor_households, 0)::bigint as deprived_poor_households,
                100.0 * (c.poor_households - coalesce(d.deprived_poor_households, 0))
                    / nullif(c.poor_households, 0) as access_rate
            from marts.commune_year as c
            cross join indicators as i
            left join counted as d
                on d.review_year = c.review_year and d.unit_version = c.unit_version
                and d.commune_code = c.commune_code and d.indicator_code = i.indicator_code;

            create table marts.province_year_deprivation as
            select d.review_year, d.unit_version, c.province_code, d.service_code,
                d.indicator_code, sum(d.poor_households)::bigint as poor_households,
                sum(d.deprived_poor_households)::bigint as deprived_poor_households,
                100.0 * (sum(d.poor_households) - sum(d.deprived_poor_households))
                    / nullif(sum(d.poor_households), 0) as access_rate
            from marts.commune_year_deprivation as d
            inner join marts.commune_year as c using (review_year, unit_version, commune_code)
            group by all;

            create table marts.territory_year as
            select 'pre2025:' || province_code as territory,
                unit_version as territory_unit_version, province_code, review_year,
                unit_version as review_unit_version, 'native' as method,
                total_households::double as total_households,
                poor_households::double as poor_households,
                poverty_rate
            from marts.province_year;

            create table marts.crosswalk_links as
            select '00001' as old_commune_code, '00001' as new_commune_code,
                true as in_crosswalk, 'ok' as status, null::varchar as reasons;

            create table marts.plans as
            select 'D05_2021_2025' as plan_id, 'plan' as name, 'pre2025:02' as territory,
                2021 as period_start, 2025 as period_end, 2021 as baseline_year,
                'fixture' as legal_source;

            create table marts.target_progress as
            select 'D05_2021_2025' as plan_id, 'pre2025:02' as territory, target_id,
                'target ' || target_id as description, 2021 as period_start,
                2025 as period_end, 2021 as baseline_year, 10.0 as baseline_value,
                5.0 as actual, 1.5 as required, 'on_track' as status, null::varchar as note,
                review_year
            from (select unnest(['T1', 'T2', 'T3']) as target_id)
            cross join (select unnest([{years_sql}]) as review_year);

            create table audit.source_files as
            select review_year, 'survey' as dataset, review_year || '/survey.csv' as file_name,
                sha256(review_year || '/survey.csv') as sha256, 1000::bigint as size_bytes,
                (count(*) + 1)::bigint as rows_read, count(*)::bigint as rows_loaded,
                1::bigint as rows_quarantined, 'loaded' as status, null::varchar as status_reason,
                'fixture' as run_id, now() as first_seen_at, now() as last_seen_at
            from staging.stg_review_exports__households group by review_year;

            create table audit.quarantine as
            select review_year, 'survey' as dataset, file_name as source_file,
                null::varchar as source_sheet, 2::integer as source_row,
                ['invalid_income'] as reasons, '{{}}' as raw_record,
                sha256 as source_sha256, 'fixture' as run_id, now() as quarantined_at
            from audit.source_files;
            """
        )
    return path
