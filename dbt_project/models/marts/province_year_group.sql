with

commune_year_group as (
    select * from {{ ref('commune_year_group') }}
),

province_year as (
    select * from {{ ref('province_year') }}
),

commune_year as (
    select * from {{ ref('commune_year') }}
),

-- Over the province's reported communes with totals, as every province count.
summed as (
    select
        commune_year_group.review_year,
        commune_year_group.unit_version,
        commune_year_group.province_code,
        commune_year_group.group_code,
        any_value(commune_year_group.group_name_vi) as group_name_vi,
        {%- for column in [
            'assessed_households', 'poor_households', 'near_poor_households', 'poor_people',
            'near_poor_people', 'exited_poverty', 'newly_poor', 'returned_to_poverty',
        ] %}
            cast(sum(commune_year_group.{{ column }}) as bigint) as {{ column }}
            {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from commune_year_group
    inner join commune_year
        on
            commune_year_group.review_year = commune_year.review_year
            and commune_year_group.unit_version = commune_year.unit_version
            and commune_year_group.commune_code = commune_year.commune_code
    where commune_year.reporting_status = 'reported'
    group by
        commune_year_group.review_year,
        commune_year_group.unit_version,
        commune_year_group.province_code,
        commune_year_group.group_code
),

final as (
    select
        summed.review_year,
        summed.unit_version,
        summed.province_code,
        province_year.province_name,
        summed.group_code,
        summed.group_name_vi,
        summed.assessed_households,
        summed.poor_households,
        summed.near_poor_households,
        summed.poor_people,
        summed.near_poor_people,
        summed.exited_poverty,
        summed.newly_poor,
        summed.returned_to_poverty
    from summed
    inner join province_year
        on
            summed.review_year = province_year.review_year
            and summed.unit_version = province_year.unit_version
            and summed.province_code = province_year.province_code
)

select * from final
