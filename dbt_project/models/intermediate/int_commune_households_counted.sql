{#- Every count of a commune's household rows (macros/summed_measures.sql), per commune of the
    review and where the household's own code places it on the other unit version: one read of
    the classified households for both commune_year (which adds the placements up) and
    int_commune_years_apportioned (which shares the unplaced ones out by the crosswalk). The
    counts are additive (counts and sums), so a commune's total over its placements is what one
    aggregate over its households gives. -#}
with

-- Not materialized: the aggregate reads only the columns it needs from the classification view.
classified as not materialized (
    select * from {{ ref('int_households_classified') }}
),

-- The household rows (the year rows have no flow); the join builds its hash table on them, a
-- fraction of the household-years.
flows as (
    select
        review_year,
        household_code,
        flow,
        near_poor_flow,
        is_recently_exited_poverty
    from {{ ref('int_household_flows_tracked') }}
    where flow is not null or near_poor_flow is not null or is_recently_exited_poverty
),

counted as (
    select
        classified.review_year,
        classified.unit_version,
        classified.commune_code,
        {{ placed_commune_code('classified') }} as placed_commune_code,
        {{ count_commune_measures() }}
    from classified
    left join flows
        on
            classified.review_year = flows.review_year
            and classified.household_code = flows.household_code
    {{ join_household_placement('classified') }}
    group by all
)

select * from counted
