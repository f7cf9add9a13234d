{#- Each household assessed on both unit versions, with the two communes its own code can place
    it by: its latest pre-2025 commune and the first 2025 commune it was assessed in (and that
    review's year). Kept per household, not per household and review: which review a consumer
    places, and whether the pair of communes shares territory (a crosswalk row), is decided where
    it is read (macros/household_placement.sql).

    Incremental by appending (macros/placement_state.sql): a review added on 2025 units after
    every loaded one places only the households first assessed in it, so a build whose stored
    state still holds appends those and keeps every other row; anything else rebuilds the table
    whole (the pre-hook empties it first). -#}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='sync_all_columns',
        pre_hook="{{ delete_households_placed_to_rebuild() }}",
    )
}}

{%- set placed_after = households_placed_after() %}

with

-- Not materialized: each reference reads only the rows of its unit version (DuckDB would
-- otherwise store every household-year once for both). The staged households, not the
-- classification view: the four columns are the staged ones, which the view passes through
-- unchanged, and the view's join with the standards would be evaluated for every row read.
classified as not materialized (
    select
        review_year,
        unit_version,
        household_code,
        commune_code
    from {{ ref('stg_review_exports__households') }}
),

first_2025 as (
    select
        household_code,
        arg_min(commune_code, review_year) as commune_code,
        min(review_year) as review_year
    from classified
    where
        unit_version = '2025'
        {%- if placed_after is not none %}
            and review_year > {{ placed_after }}
        {%- endif %}
    group by household_code
),

-- Appending: only households not assessed on 2025 units up to the stored state (those were
-- placed then, or have no pre-2025 review).
still_to_place as (
    select first_2025.*
    from first_2025
    {%- if placed_after is not none %}
        where not exists (
            select 1
            from classified as earlier
            where
                earlier.unit_version = '2025'
                and earlier.review_year <= {{ placed_after }}
                and earlier.household_code = first_2025.household_code
        )
    {%- endif %}
),

-- Only households also seen on 2025 units are looked up: the others are placed by nothing.
last_pre2025 as (
    select
        household_code,
        arg_max(commune_code, review_year) as commune_code
    from classified
    where
        unit_version = 'pre2025'
        and household_code in (select still_to_place.household_code from still_to_place)
    group by household_code
),

current_state as (
    {{ current_placement_state() }}
),

final as (
    select
        still_to_place.household_code,
        last_pre2025.commune_code as last_pre2025_commune_code,
        still_to_place.commune_code as first_2025_commune_code,
        still_to_place.review_year as first_2025_review_year,
        current_state.placed_through_year,
        current_state.placed_through_fingerprint
    from still_to_place
    inner join last_pre2025 on still_to_place.household_code = last_pre2025.household_code
    cross join current_state
)

select * from final
