{#- One placement: across the 2025 reorganisation, the previous review's poor households counted
    on each commune of the new units are the same number in the flows and the balance identity
    (int_households_previously_poor_placed) as in the harmonised series
    (int_commune_years_apportioned, read by territory_year). Returns every commune where the two
    differ by more than 1e-9 household. -#}
with

review_years as (
    select * from {{ ref('int_review_years_described') }}
),

-- The reviews whose previous review was held on the other unit version.
crossings as (
    select
        review_years.review_year,
        review_years.unit_version,
        review_years.previous_review_year
    from review_years
    inner join review_years as previous_year
        on review_years.previous_review_year = previous_year.review_year
    where review_years.unit_version <> previous_year.unit_version
),

in_flows as (
    select
        placed.review_year,
        placed.commune_code,
        sum(placed.weight) as previous_poor_households
    from {{ ref('int_households_previously_poor_placed') }} as placed
    inner join crossings on placed.review_year = crossings.review_year
    group by placed.review_year, placed.commune_code
),

in_series as (
    select
        crossings.review_year,
        apportioned.commune_code,
        sum(apportioned.poor_households) as previous_poor_households
    from {{ ref('int_commune_years_apportioned') }} as apportioned
    inner join crossings
        on
            apportioned.review_year = crossings.previous_review_year
            and apportioned.unit_version = crossings.unit_version
    group by crossings.review_year, apportioned.commune_code
)

select
    coalesce(in_flows.review_year, in_series.review_year) as review_year,
    coalesce(in_flows.commune_code, in_series.commune_code) as commune_code,
    in_flows.previous_poor_households as in_flows,
    in_series.previous_poor_households as in_series
from in_flows
full outer join in_series
    on
        in_flows.review_year = in_series.review_year
        and in_flows.commune_code = in_series.commune_code
where
    abs(
        coalesce(in_flows.previous_poor_households, 0)
        - coalesce(in_series.previous_poor_households, 0)
    ) > 1e-9
