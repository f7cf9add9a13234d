with

commune_totals as (
    select * from {{ ref('stg_review_exports__commune_totals') }}
),

difficult_areas as (
    select * from {{ ref('stg_review_exports__difficult_areas') }}
),

communes as (
    select * from {{ ref('stg_admin_units__communes') }}
),

review_years as (
    select * from {{ ref('int_review_years_described') }}
),

-- Communes with at least one loaded survey row: the reported ones. They are the communes of
-- the household counts (a few rows per commune), so the households are not read again here.
reported as (
    select distinct
        review_year,
        unit_version,
        commune_code
    from {{ ref('int_commune_households_counted') }}
),

-- Every commune of the review's unit version that appears in an export of that review: its
-- totals, its difficult-area row or its survey rows.
commune_years as (
    select
        review_year,
        unit_version,
        commune_code
    from commune_totals
    union
    select
        review_year,
        unit_version,
        commune_code
    from difficult_areas
    union
    select
        review_year,
        unit_version,
        commune_code
    from reported
),

final as (
    select
        commune_years.review_year,
        commune_years.unit_version,
        communes.province_code,
        communes.province_name,
        communes.district_code,
        communes.district_name,
        commune_years.commune_code,
        communes.commune_name,
        review_years.standard_id,
        coalesce(difficult_areas.is_extremely_difficult, false) as is_extremely_difficult,
        coalesce(difficult_areas.difficult_villages, 0) as difficult_villages,
        difficult_areas.total_villages,
        commune_totals.total_households,
        commune_totals.total_population,
        commune_totals.total_ethnic_minority_households,
        case
            when reported.commune_code is null then 'not_reported'
            when commune_totals.commune_code is null then 'no_totals'
            else 'reported'
        end as reporting_status
    from commune_years
    left join communes
        on
            commune_years.unit_version = communes.unit_version
            and commune_years.commune_code = communes.commune_code
    left join review_years
        on commune_years.review_year = review_years.review_year
    left join commune_totals
        on
            commune_years.review_year = commune_totals.review_year
            and commune_years.unit_version = commune_totals.unit_version
            and commune_years.commune_code = commune_totals.commune_code
    left join reported
        on
            commune_years.review_year = reported.review_year
            and commune_years.unit_version = reported.unit_version
            and commune_years.commune_code = reported.commune_code
    left join difficult_areas
        on
            commune_years.review_year = difficult_areas.review_year
            and commune_years.unit_version = difficult_areas.unit_version
            and commune_years.commune_code = difficult_areas.commune_code
)

select * from final
