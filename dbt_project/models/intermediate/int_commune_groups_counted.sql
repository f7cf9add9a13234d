{#- Per commune, review year and group of households, for the mart commune_year_group (which
    adds the commune's codes and whether its flows are known). One pass over the households
    counting each combination of the group flags, class and flow; each combination then joins
    every group it belongs to, and the measures are eight filtered sums per commune and group
    over those few rows (filtering every household once per group and measure was most of the
    model's time). -#}
{%- set groups = population_groups() -%}
{%- set measures = [
    ('assessed_households', 'true', 'count'),
    ('poor_households', 'classified.is_poor', 'count'),
    ('near_poor_households', 'classified.is_near_poor', 'count'),
    ('poor_people', 'classified.is_poor', 'people'),
    ('near_poor_people', 'classified.is_near_poor', 'people'),
    ('exited_poverty', "classified.flow = 'exited_poverty'", 'count'),
    ('newly_poor', "classified.flow = 'newly_poor'", 'count'),
    ('returned_to_poverty', "classified.flow = 'returned_to_poverty'", 'count'),
] -%}

{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='review_year',
        on_schema_change='sync_all_columns',
        pre_hook="{{ delete_review_years_to_rebuild(extra=population_groups() | string) }}",
    )
}}

{#- Incremental by review year (macros/incremental_review_years.sql): a year's groups read only
    that year's households and flows, so adding the newest review builds that year alone. -#}
{% if is_incremental() %}
    {% set years_to_build = review_years_with_new_inputs(extra=groups | string) %}
{% endif %}

{#- Built after commune_year, as the mart was before this model held its counts: in a whole
    build it then runs beside the small marts instead of beside the other household models,
    which measured 6-10 s slower nationally (docs/performance.md). -#}
-- depends_on: {{ ref('commune_year') }}

with

classified as (
    select * from {{ ref('int_households_classified') }}
    {% if is_incremental() %}
        where review_year in ({{ years_to_build }})
    {% endif %}
),

flows as (
    select
        review_year,
        household_code,
        flow
    from {{ ref('int_household_flows_tracked') }}
    where
        flow is not null
        {%- if is_incremental() %} and review_year in ({{ years_to_build }}){% endif %}
),

input_fingerprints as (
    {{ year_input_fingerprints(extra=groups | string) }}
),

-- Households and people per combination of everything a group or measure tests.
combinations as (
    select
        classified.review_year,
        classified.unit_version,
        classified.commune_code,
        classified.is_ethnic_minority,
        classified.is_meritorious_family,
        classified.is_social_protection,
        classified.is_no_labour_capacity,
        classified.is_female_headed,
        classified.area_type,
        classified.is_poor,
        classified.is_near_poor,
        flows.flow,
        count(*) as households,
        sum(classified.household_size) as people
    from classified
    left join flows
        on
            classified.review_year = flows.review_year
            and classified.household_code = flows.household_code
    group by all
),

-- Each combination once per group it belongs to (rural and urban partition the households; the
-- other groups overlap), then the measures per commune and group: eight filtered sums over the
-- members of each group rather than 56 over every combination.
memberships as (
    select
        classified.*,
        unnest([
            {%- for group_code, group_name_vi, condition in groups %}
                case when {{ condition }} then '{{ group_code }}' end
                {%- if not loop.last %},{% endif %}
            {%- endfor %}
        ]) as group_code
    from combinations as classified
),

measured as (
    select
        classified.review_year,
        classified.unit_version,
        classified.commune_code,
        classified.group_code,
        {%- for measure, measure_condition, kind in measures %}
            sum(classified.{{ 'households' if kind == 'count' else 'people' }}) filter (
                where {{ measure_condition }}
            ) as {{ measure }}
            {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from memberships as classified
    where classified.group_code is not null
    group by
        classified.review_year,
        classified.unit_version,
        classified.commune_code,
        classified.group_code
),

groups as (
    select
        population_groups.group_code,
        population_groups.group_name_vi
    from (
        values
        {%- for group_code, group_name_vi, condition in groups %}
            ('{{ group_code }}', '{{ group_name_vi }}'){% if not loop.last %},{% endif %}
        {%- endfor %}
    ) as population_groups (group_code, group_name_vi)
),

communes as (
    select distinct
        review_year,
        unit_version,
        commune_code
    from combinations
),

-- Every group of every commune with households, members or not (a group without members counts
-- zero households).
long as (
    select
        communes.review_year,
        communes.unit_version,
        communes.commune_code,
        groups.group_code,
        groups.group_name_vi,
        {%- for measure, measure_condition, kind in measures %}
            {%- if kind == 'count' %}
                coalesce(measured.{{ measure }}, 0) as {{ measure }}
            {%- else %}
                measured.{{ measure }}
            {%- endif %}
            {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from communes
    cross join groups
    left join measured
        on
            communes.review_year = measured.review_year
            and communes.unit_version = measured.unit_version
            and communes.commune_code = measured.commune_code
            and groups.group_code = measured.group_code
),

final as (
    select
        long.*,
        input_fingerprints.input_fingerprint
    from long
    inner join input_fingerprints on long.review_year = input_fingerprints.review_year
)

select * from final
