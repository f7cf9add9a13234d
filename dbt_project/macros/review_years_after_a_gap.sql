{#- The loaded review years whose previous year is not loaded (2023 when 2021 and 2023 are loaded
    and 2022 is not), the first loaded year aside, as a SQL list body ("2023"); empty when the
    loaded reviews are consecutive, as in a full load, and while dbt parses. The calling model
    must ref int_review_years_described itself. -#}
{% macro review_years_after_a_gap() -%}
    {%- if execute -%}
        {%- set described = ref('int_review_years_described') -%}
        {%- set years = run_query(
            "select review_year from " ~ described ~ " where previous_review_year is null"
            ~ " and review_year > (select min(review_year) from " ~ described ~ ") order by 1"
        ).columns[0].values() | map('int') | list -%}
    {%- else -%}
        {%- set years = [] -%}
    {%- endif -%}
    {{- years | join(', ') -}}
{%- endmacro %}
