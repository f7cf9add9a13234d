{#-
    Returns the area-years whose counts differ from the sum of their reported communes with
    totals in commune_year (numerator and denominator over the same communes, never an average),
    or whose commune counts differ; ``area_keys`` are the area's key columns besides review_year.
    Within 1e-6: households placed across 2025 are fractional.
-#}
{% test counts_equal_sum_of_communes(model, area_keys) %}
{%- set counts = [
    'total_households', 'total_population', 'assessed_households', 'poor_households',
    'poor_people', 'near_poor_households', 'near_poor_people', 'middle_households',
    'exited_poverty', 'newly_poor', 'returned_to_poverty', 'reappeared_poor',
    'poor_not_reassessed', 'near_poor_to_poor', 'poor_to_near_poor', 'exited_near_poverty',
    'newly_near_poor', 'recently_exited_poverty', 'unreported_class',
] -%}
with

summed_communes as (
    select
        review_year,
    {%- for key in area_keys %}
        {{ key }},
        {%- endfor %}
        count(*) as communes_total,
        count(*) filter (where reporting_status = 'reported') as communes_reported,
    {%- for column in counts %}
        sum({{ column }}) filter (where reporting_status = 'reported') as {{ column }},
        {%- endfor %}
        count(*) as rows_summed
    from {{ ref('commune_year') }}
    where {{ area_keys[-1] }} is not null
    group by review_year{% for key in area_keys %}, {{ key }}{% endfor %}
)

select
    coalesce(area_year.review_year, summed_communes.review_year) as review_year
    {%- for key in area_keys %},
    coalesce(area_year.{{ key }}, summed_communes.{{ key }}) as {{ key }}
    {%- endfor %}
from {{ model }} as area_year
full outer join summed_communes
    on
        area_year.review_year = summed_communes.review_year
    {%- for key in area_keys %}
        and area_year.{{ key }} = summed_communes.{{ key }}
        {%- endfor %}
where
    area_year.review_year is null
    or summed_communes.review_year is null
    or area_year.communes_total is distinct from summed_communes.communes_total
    or area_year.communes_reported is distinct from summed_communes.communes_reported
    {%- for column in counts %}
    or not coalesce(
        abs(area_year.{{ column }} - summed_communes.{{ column }}) <= 1e-6,
        area_year.{{ column }} is null and summed_communes.{{ column }} is null
    )
    {%- endfor %}
{% endtest %}
