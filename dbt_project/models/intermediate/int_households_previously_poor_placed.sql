{#- Where each household poor in the previous review stands in this review's units, with its
    weight. Within one unit version that is its previous commune. Across the 2025
    reorganisation it is placed exactly as the harmonised series places the previous review's
    households (macros/household_placement.sql, int_commune_years_apportioned): whole in the
    first 2025 commune it was assessed in when that commune is a successor of its 2024 commune,
    otherwise shared among its 2024 commune's successors by the crosswalk's forward weights. One
    placement: the previous review's poor households on a 2025 commune are the same number here
    (the balance identity, the flows) and in territory_year (a singular test holds it). -#}
{%- set references = ['stg_admin_units__communes', 'int_communes_crosswalked'] -%}
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='review_year',
        on_schema_change='sync_all_columns',
        pre_hook="{{ delete_review_years_to_rebuild(['stg_admin_units__communes', 'int_communes_crosswalked']) }}",
    )
}}

{#- Incremental by review year (macros/incremental_review_years.sql): within one unit version a
    review's rows read only it, its previous review and the communes, so adding the newest
    review builds that year. A review whose previous review is on the other unit version places
    households by the first 2025 review they were assessed in, which a later review can set: it
    is kept up to date by difference (macros/placement_state.sql). A household placed since its
    rows were built was not reassessed in it (its first 2025 review is later), so its rows,
    shared out by the crosswalk's weights, become one row in its own 2025 commune when the
    crosswalk links the two. -#}
{% if is_incremental() %}
    {% set years = review_years_by_placement(references, previous_review_on_other_units()) %}
{% endif %}

with

-- Not materialized: each reference reads only its columns and rows from the classification view
-- (DuckDB would otherwise store every household-year once for both).
classified as not materialized (
    select * from {{ ref('int_households_classified') }}
),

review_years as (
    select * from {{ ref('int_review_years_described') }}
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

communes as (
    select * from {{ ref('stg_admin_units__communes') }}
),

crosswalk as (
    select * from {{ ref('int_communes_crosswalked') }}
),

-- The previous review's poor rows, keyed by the review they are counted in.
previously_poor as (
    select
        review_years.review_year,
        review_years.unit_version as review_unit_version,
        previous_year.household_code,
        previous_year.review_year as previous_review_year,
        previous_year.unit_version,
        previous_year.commune_code
    from review_years
    inner join classified as previous_year
        on review_years.previous_review_year = previous_year.review_year
    where previous_year.is_poor
),

with_current as (
    select
        previously_poor.*,
        current_year.household_code is not null as is_reassessed,
        current_year.commune_code as current_commune_code,
        current_year.is_poor as is_poor_now
    from previously_poor
    left join classified as current_year
        on
            previously_poor.review_year = current_year.review_year
            and previously_poor.household_code = current_year.household_code
),

-- Across the reorganisation: the 2025 commune the household's own code places it in, if any.
crossing as (
    select
        with_current.*,
        {{ placed_commune_code('with_current') }} as own_code_commune_code
    from with_current
    {{ join_household_placement('with_current') }}
    where with_current.unit_version <> with_current.review_unit_version
),

{% if is_incremental() and years.replace %}

    to_replace as (
        {{ years_to_replace(years.replace) }}
    ),

    kept_rows as (
        select kept.*
        from {{ this }} as kept
        inner join to_replace on kept.review_year = to_replace.review_year
    ),

    -- One row per household of a year to correct, where its previous review placed it.
    kept_households as (
        select distinct
            kept_rows.review_year,
            kept_rows.unit_version as review_unit_version,
            kept_rows.household_code,
            kept_rows.previous_review_year,
            kept_rows.previous_unit_version as unit_version,
            kept_rows.previous_commune_code as commune_code,
            kept_rows.is_reassessed,
            kept_rows.current_commune_code,
            kept_rows.is_poor_now
        from kept_rows
    ),

    -- The households placed since the year's rows were: one row each, in their own 2025 commune.
    moved as (
        select
            kept_households.*,
            {{ placed_commune_code('kept_households') }} as own_code_commune_code
        from kept_households
        inner join to_replace on kept_households.review_year = to_replace.review_year
        {{ join_household_placement('kept_households') }}
        where
            placement.old_commune_code is not null
            and to_replace.placed_through_year < household_versions.first_2025_review_year
    ),

    unmoved as (
        select kept_rows.*
        from kept_rows
        anti join moved
            on
                kept_rows.review_year = moved.review_year
                and kept_rows.household_code = moved.household_code
    ),

{% endif %}

placed as (
    select
        with_current.review_year,
        with_current.review_unit_version,
        with_current.household_code,
        with_current.previous_review_year,
        with_current.unit_version as previous_unit_version,
        with_current.commune_code as previous_commune_code,
        with_current.commune_code,
        {{ exact_weight(1) }} as weight,
        with_current.is_reassessed,
        with_current.current_commune_code,
        with_current.is_poor_now
    from with_current
    where with_current.unit_version = with_current.review_unit_version
    union all
    select
        crossing.review_year,
        crossing.review_unit_version,
        crossing.household_code,
        crossing.previous_review_year,
        crossing.unit_version as previous_unit_version,
        crossing.commune_code as previous_commune_code,
        crossing.own_code_commune_code as commune_code,
        {{ exact_weight(1) }} as weight,
        crossing.is_reassessed,
        crossing.current_commune_code,
        crossing.is_poor_now
    from crossing
    where crossing.own_code_commune_code is not null
    union all
    select
        crossing.review_year,
        crossing.review_unit_version,
        crossing.household_code,
        crossing.previous_review_year,
        crossing.unit_version as previous_unit_version,
        crossing.commune_code as previous_commune_code,
        crosswalk.new_commune_code as commune_code,
        crosswalk.forward_weight as weight,
        crossing.is_reassessed,
        crossing.current_commune_code,
        crossing.is_poor_now
    from crossing
    inner join crosswalk on crossing.commune_code = crosswalk.old_commune_code
    where crossing.own_code_commune_code is null
    {% if is_incremental() and years.replace %}
        union all
        select
            unmoved.review_year,
            unmoved.unit_version as review_unit_version,
            unmoved.household_code,
            unmoved.previous_review_year,
            unmoved.previous_unit_version,
            unmoved.previous_commune_code,
            unmoved.commune_code,
            unmoved.weight,
            unmoved.is_reassessed,
            unmoved.current_commune_code,
            unmoved.is_poor_now
        from unmoved
        union all
        select
            moved.review_year,
            moved.review_unit_version,
            moved.household_code,
            moved.previous_review_year,
            moved.unit_version as previous_unit_version,
            moved.commune_code as previous_commune_code,
            moved.own_code_commune_code as commune_code,
            {{ exact_weight(1) }} as weight,
            moved.is_reassessed,
            moved.current_commune_code,
            moved.is_poor_now
        from moved
    {% endif %}
),

final as (
    select
        placed.review_year,
        placed.review_unit_version as unit_version,
        placed.household_code,
        placed.previous_review_year,
        placed.previous_unit_version,
        placed.previous_commune_code,
        placed.commune_code,
        communes.district_code,
        communes.province_code,
        placed.weight,
        placed.is_reassessed,
        placed.current_commune_code,
        current_communes.district_code as current_district_code,
        current_communes.province_code as current_province_code,
        placed.is_poor_now,
        input_fingerprints.input_fingerprint,
        current_state.placed_through_year,
        current_state.placed_through_fingerprint
    from placed
    inner join input_fingerprints on placed.review_year = input_fingerprints.review_year
    cross join current_state
    left join communes
        on
            placed.review_unit_version = communes.unit_version
            and placed.commune_code = communes.commune_code
    left join communes as current_communes
        on
            placed.review_unit_version = current_communes.unit_version
            and placed.current_commune_code = current_communes.commune_code
)

select * from final
