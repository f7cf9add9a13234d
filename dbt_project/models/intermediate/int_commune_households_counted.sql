{#- Every count of a commune's household rows (macros/summed_measures.sql), per commune of the
    review and where the household's own code places it on the other unit version: one read of
    the classified households for both commune_year (which adds the placements up) and
    int_commune_years_apportioned (which shares the unplaced ones out by the crosswalk). The
    counts are additive (counts and sums), so a commune's total over its placements is what one
    aggregate over its households gives. -#}
{%- set references = ['int_communes_crosswalked'] -%}
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='review_year',
        on_schema_change='sync_all_columns',
        pre_hook="{{ delete_review_years_to_rebuild(['int_communes_crosswalked']) }}",
    )
}}

{#- Incremental by review year (macros/incremental_review_years.sql), and kept up to date by
    difference across the reorganisation (macros/placement_state.sql): a review added on 2025
    units places the households first assessed in it, whose rows in the pre-2025 years move
    from the rows nothing placed to their first 2025 commune. Those years are corrected by that
    difference instead of counted again: their kept rows, plus the moved households' counts
    under their new placement, minus the same counts where nothing placed them. -#}
{% if is_incremental() %}
    {% set years = review_years_by_placement(references, "described.unit_version = 'pre2025'") %}
{% endif %}

with

-- Not materialized: the aggregate reads only the columns it needs from the classification view.
classified as not materialized (
    select * from {{ ref('int_households_classified') }}
    {% if is_incremental() %}
        where review_year in (
            {{ years.build }}
            {%- for year, _ in years.replace %}, {{ year }}{% endfor %}
        )
    {% endif %}
),

-- The household rows (the year rows have no flow), each reference reading only the review years
-- it counts: the years built here, and the years corrected below.
flow_rows as not materialized (
    select
        review_year,
        household_code,
        flow,
        near_poor_flow,
        is_recently_exited_poverty
    from {{ ref('int_household_flows_tracked') }}
    where flow is not null or near_poor_flow is not null or is_recently_exited_poverty
),

flows as (
    select * from flow_rows
    {% if is_incremental() %}
        where review_year in ({{ years.build }})
    {% endif %}
),

input_fingerprints as (
    {{ year_input_fingerprints(references) }}
),

current_state as (
    {{ current_placement_state() }}
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
    {% if is_incremental() %}
        where classified.review_year in ({{ years.build }})
    {% endif %}
    group by all
),

{% if is_incremental() and years.replace %}

    to_replace as (
        {{ years_to_replace(years.replace) }}
    ),

    -- The households placed since the earliest of those years' rows were. Their rows are
    -- selected by code before the joins below (DuckDB applies the filter above the
    -- classification view's own projections: the view still classifies every household-year
    -- of the years replaced). The condition in `moved` still decides each row; this only leaves
    -- out households it rejects.
    placed_since as (
        select placed.household_code
        from {{ ref('int_households_placed') }} as placed
        where
            placed.first_2025_review_year
            > (select min(to_replace.placed_through_year) from to_replace)
    ),

    moved_flows as (
        select * from flow_rows
        where review_year in (select to_replace.review_year from to_replace)
    ),

    -- The rows of the households placed since the year's rows were: nothing placed them then.
    moved as (
        select
            classified.review_year,
            classified.unit_version,
            classified.commune_code,
            {{ placed_commune_code('classified') }} as placed_commune_code,
            {{ count_commune_measures() }}
        from classified
        inner join to_replace on classified.review_year = to_replace.review_year
        left join moved_flows as flows
            on
                classified.review_year = flows.review_year
                and classified.household_code = flows.household_code
        {{ join_household_placement('classified') }}
        where
            classified.household_code in (select placed_since.household_code from placed_since)
            and placement.old_commune_code is not null
            and to_replace.placed_through_year < household_versions.first_2025_review_year
        group by all
    ),

    differences as (
        select
            review_year,
            unit_version,
            commune_code,
            placed_commune_code,
            {{ measure_names() }}
        from {{ this }}
        where review_year in (select to_replace.review_year from to_replace)
        union all
        select
            review_year,
            unit_version,
            commune_code,
            placed_commune_code,
            {{ measure_names() }}
        from moved
        union all
        select
            review_year,
            unit_version,
            commune_code,
            null as placed_commune_code,
            {{ measure_names(negated=true) }}
        from moved
    ),

    replaced as (
        select
            review_year,
            unit_version,
            commune_code,
            placed_commune_code,
            {{ count_commune_measures(by_difference=true) }}
        from differences
        group by review_year, unit_version, commune_code, placed_commune_code
        having sum(assessed_households) > 0
    ),

    recounted as (
        select * from counted
        union all by name
        select * from replaced
    ),

{% else %}

    recounted as (
        select * from counted
    ),

{% endif %}

final as (
    select
        recounted.*,
        input_fingerprints.input_fingerprint,
        current_state.placed_through_year,
        current_state.placed_through_fingerprint
    from recounted
    inner join input_fingerprints on recounted.review_year = input_fingerprints.review_year
    cross join current_state
)

select * from final
