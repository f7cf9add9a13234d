{#- The commune_year counts summed into a larger area (district, province), as BIGINT:
    DuckDB's sum() of integers is a HUGEINT, which some BI drivers reject. -#}
{% macro sum_commune_counts(relation_alias) -%}
    cast(count(*) as bigint) as communes,
    cast(count(*) filter (where {{ relation_alias }}.is_extremely_difficult) as bigint)
        as extremely_difficult_communes,
    {%- for column in [
        'difficult_villages', 'total_villages', 'total_households', 'total_population',
        'assessed_households', 'poor_households', 'near_poor_households', 'middle_households',
        'poor_ethnic_minority', 'poor_meritorious_family', 'poor_social_protection',
        'poor_no_labour_capacity', 'poor_female_headed', 'exited_poverty', 'newly_poor',
        'returned_to_poverty', 'classification_mismatches',
    ] %}
    cast(sum({{ relation_alias }}.{{ column }}) as bigint) as {{ column }}
    {%- if not loop.last %},{% endif %}
    {%- endfor %}
{%- endmacro %}
