{#- The body of a `with_change` CTE: an area's rates with the multidimensional rate and the
    change since the previous review, per poverty-rules.md: only against the same area code,
    unit version and standard (`is_comparable_to_previous`), otherwise NULL. One definition for
    communes, districts and provinces, so the three marts cannot drift apart. -#}
{% macro with_rate_change(rates, area_code) -%}
    select
        {{ rates }}.*,
        {{ rates }}.poverty_rate + {{ rates }}.near_poverty_rate as multidimensional_poverty_rate,
        case
            when {{ rates }}.is_comparable_to_previous
                then {{ rates }}.poverty_rate - previous_year.poverty_rate
        end as poverty_rate_change_pp
    from {{ rates }}
    left join {{ rates }} as previous_year
        on
            {{ rates }}.previous_review_year = previous_year.review_year
            and {{ rates }}.unit_version = previous_year.unit_version
            and {{ rates }}.{{ area_code }} = previous_year.{{ area_code }}
            and {{ rates }}.standard_id = previous_year.standard_id
{%- endmacro %}
