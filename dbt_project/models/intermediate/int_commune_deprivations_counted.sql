{#- Deprivation counts per commune, review year and indicator of the review's standard: among
    poor and near-poor households (the access tables) and among households deprived in 3 or more
    of the standard's indicators (the Alkire-Foster censored headcounts). The households of one
    of those groups are summed per commune and group first, then the sums are unpivoted: a few
    rows per commune rather than one row per household and indicator. -#}
{%- set references = ['poverty_standards', 'standard_indicators'] -%}
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='review_year',
        on_schema_change='sync_all_columns',
        pre_hook="{{ delete_review_years_to_rebuild(['poverty_standards', 'standard_indicators']) }}",
    )
}}

{#- Incremental by review year (macros/incremental_review_years.sql): a year's counts read only
    that year's households, its standard and the seeds, so adding the newest year builds that
    year alone. -#}
{% if is_incremental() %}
    {% set years_to_build = review_years_with_new_inputs(references) %}
{% endif %}

with

classified as (
    select * from {{ ref('int_households_classified') }}
    {% if is_incremental() %}
        where review_year in ({{ years_to_build }})
    {% endif %}
),

input_fingerprints as (
    {{ year_input_fingerprints(references) }}
),

standard_indicators as (
    select * from {{ ref('standard_indicators') }}
),

selected as (
    select
        review_year,
        unit_version,
        commune_code,
        standard_id,
        is_poor,
        is_near_poor,
        coalesce(deprivation_count >= 3, false) as is_multidimensionally_deprived,
        columns('^d_')
    from classified
    where is_poor or is_near_poor or deprivation_count >= 3
),

-- The group columns are listed again here rather than grouping in `selected`: `identified`
-- reads `selected` too, and one grouped CTE feeding both measured slower (2.1-2.3 s against
-- 1.5-1.7 s nationally).
-- Deprived households per commune, standard, group and indicator. A household whose mark is
-- NULL adds nothing; a sum over only NULL marks is NULL, and the unpivot drops it, so an
-- indicator of a commune is counted only where some household has a deprived-or-not answer.
summed as (
    select
        review_year,
        unit_version,
        commune_code,
        standard_id,
        is_poor,
        is_near_poor,
        is_multidimensionally_deprived,
        sum(cast(columns('^d_') as integer))
    from selected
    group by all
),

deprivations as (
    unpivot summed
    on columns('^d_')
    into name indicator_code value deprived_households
),

counted as (
    select
        deprivations.review_year,
        deprivations.unit_version,
        deprivations.commune_code,
        deprivations.standard_id,
        deprivations.indicator_code,
        coalesce(sum(deprivations.deprived_households) filter (where deprivations.is_poor), 0)
            as deprived_poor_households,
        coalesce(
            sum(deprivations.deprived_households) filter (where deprivations.is_near_poor), 0
        ) as deprived_near_poor_households,
        coalesce(sum(deprivations.deprived_households) filter (
            where deprivations.is_multidimensionally_deprived
        ), 0) as deprived_identified_households
    from deprivations
    -- Only the indicators of the household's own standard.
    inner join standard_indicators
        on
            deprivations.standard_id = standard_indicators.standard_id
            and deprivations.indicator_code = standard_indicators.indicator_code
    group by
        deprivations.review_year,
        deprivations.unit_version,
        deprivations.commune_code,
        deprivations.standard_id,
        deprivations.indicator_code
),

identified as (
    select
        review_year,
        unit_version,
        commune_code,
        count(*) filter (where is_multidimensionally_deprived) as identified_households
    from selected
    group by review_year, unit_version, commune_code
),

final as (
    select
        counted.review_year,
        counted.unit_version,
        counted.commune_code,
        counted.standard_id,
        counted.indicator_code,
        cast(counted.deprived_poor_households as bigint) as deprived_poor_households,
        cast(counted.deprived_near_poor_households as bigint) as deprived_near_poor_households,
        cast(counted.deprived_identified_households as bigint) as deprived_identified_households,
        cast(identified.identified_households as bigint) as identified_households,
        input_fingerprints.input_fingerprint
    from counted
    inner join identified
        on
            counted.review_year = identified.review_year
            and counted.unit_version = identified.unit_version
            and counted.commune_code = identified.commune_code
    inner join input_fingerprints on counted.review_year = input_fingerprints.review_year
)

select * from final
