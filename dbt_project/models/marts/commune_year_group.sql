{#- One pass over the households counting each combination of the group flags, class and flow;
    each combination then joins every group it belongs to, and the measures are eight filtered
    sums per commune and group over those few rows (filtering every household once per group
    and measure was most of the model's time). -#}
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

with

commune_year as (
    select * from {{ ref('commune_year') }}
),

classified as (
    select * from {{ ref('int_households_classified') }}
),

flows as (
    select
        review_year,
        household_code,
        flow
    from {{ ref('int_household_flows_tracked') }}
    where flow is not null
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

-- Reported communes only (a commune without loaded rows has no group figures); flows NULL
-- where commune_year's are unknown.
final as (
    select
        commune_year.review_year,
        commune_year.unit_version,
        commune_year.province_code,
        commune_year.district_code,
        commune_year.commune_code,
        long.group_code,
        long.group_name_vi,
        cast(long.assessed_households as bigint) as assessed_households,
        cast(long.poor_households as bigint) as poor_households,
        cast(long.near_poor_households as bigint) as near_poor_households,
        cast(coalesce(long.poor_people, 0) as bigint) as poor_people,
        cast(coalesce(long.near_poor_people, 0) as bigint) as near_poor_people,
        case
            when commune_year.exited_poverty is not null then cast(long.exited_poverty as bigint)
        end as exited_poverty,
        case
            when commune_year.newly_poor is not null then cast(long.newly_poor as bigint)
        end as newly_poor,
        case
            when commune_year.returned_to_poverty is not null
                then cast(long.returned_to_poverty as bigint)
        end as returned_to_poverty
    from long
    inner join commune_year
        on
            long.review_year = commune_year.review_year
            and long.unit_version = commune_year.unit_version
            and long.commune_code = commune_year.commune_code
)

select * from final
