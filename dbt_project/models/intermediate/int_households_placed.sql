{#- Each household assessed on both unit versions, with the two communes its own code can place
    it by: its latest pre-2025 commune and the first 2025 commune it was assessed in. Kept per
    household, not per household and review: which review a consumer places, and whether the pair
    of communes shares territory (a crosswalk row), is decided where it is read
    (macros/household_placement.sql). -#}
with

-- Not materialized: each reference reads only the rows of its unit version from the
-- classification view (DuckDB would otherwise store every household-year once for both).
classified as not materialized (
    select
        review_year,
        unit_version,
        household_code,
        commune_code
    from {{ ref('int_households_classified') }}
),

first_2025 as (
    select
        household_code,
        arg_min(commune_code, review_year) as commune_code
    from classified
    where unit_version = '2025'
    group by household_code
),

-- Only households also seen on 2025 units are looked up: the others are placed by nothing.
last_pre2025 as (
    select
        household_code,
        arg_max(commune_code, review_year) as commune_code
    from classified
    where
        unit_version = 'pre2025'
        and household_code in (select first_2025.household_code from first_2025)
    group by household_code
),

final as (
    select
        first_2025.household_code,
        last_pre2025.commune_code as last_pre2025_commune_code,
        first_2025.commune_code as first_2025_commune_code
    from first_2025
    inner join last_pre2025 on first_2025.household_code = last_pre2025.household_code
)

select * from final
