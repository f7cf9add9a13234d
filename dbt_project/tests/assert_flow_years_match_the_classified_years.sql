{#- int_household_flows_tracked holds one year row per classified review year, recording that
    year's classified households: returns each year where the year rows are missing, doubled,
    or count other households than int_households_classified (a year lost, inserted twice or
    left stale by an incremental build). The classified households of a year are counted on the
    staged rows: the classification view holds one row per staged household (a left join with
    the year's one standard, which assert_one_standard_per_review_year_and_area keeps to one),
    and counting through it evaluated that join for every household-year, between the flows and
    the models waiting for this test. -#}
with

year_rows as (
    select
        review_year,
        count(*) as year_rows,
        any_value(classified_households) as recorded_households
    from {{ ref('int_household_flows_tracked') }}
    where household_code is null
    group by review_year
),

classified_years as (
    select
        review_year,
        count(*) as classified_households
    from {{ ref('stg_review_exports__households') }}
    group by review_year
)

select
    coalesce(year_rows.review_year, classified_years.review_year) as review_year,
    coalesce(year_rows.year_rows, 0) as year_rows,
    year_rows.recorded_households,
    classified_years.classified_households
from year_rows
full outer join classified_years on year_rows.review_year = classified_years.review_year
where
    year_rows.year_rows is distinct from 1
    or year_rows.recorded_households is distinct from classified_years.classified_households
