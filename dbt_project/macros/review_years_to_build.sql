{#- The review years an incremental household model rebuilds, as a SQL list body ("2024, 2025").

    `changed_years_sql` is a query returning one column of review years whose inputs differ from
    what the model holds (see the models). The `years_to_build` var overrides detection with an
    explicit list (e.g. --vars '{years_to_build: [2025]}'). An empty result renders "null", so
    the model selects no rows and delete+insert deletes nothing. -#}
{% macro review_years_to_build(changed_years_sql) -%}
    {%- set configured = var('years_to_build', 'detect') -%}
    {%- if configured != 'detect' -%}
        {%- if configured is string or configured is number -%}
            {%- set years = (configured | string).split(',') | map('trim') | list -%}
        {%- else -%}
            {%- set years = configured -%}
        {%- endif -%}
    {%- elif execute -%}
        {%- set years = run_query(changed_years_sql).columns[0].values() | list -%}
    {%- else -%}
        {%- set years = [] -%}
    {%- endif -%}
    {%- set years = years | map('int') | list -%}
    {%- do log('review years to build in ' ~ this ~ ': ' ~ (years | join(', ') or 'none'), info=true) -%}
    {{- years | join(', ') if years else 'null' -}}
{%- endmacro %}

{#- Which of `years` (a SQL list body, as review_years_to_build renders it) are review years whose
    flows are known (int_review_years_described.has_known_flows), as a list; logged. -#}
{% macro review_years_with_known_flows(years) -%}
    {%- if not execute -%}
        {{- return([]) -}}
    {%- endif -%}
    {%- set known_sql -%}
        select review_year from {{ ref('int_review_years_described') }}
        where has_known_flows and review_year in ({{ years }})
        order by 1
    {%- endset -%}
    {%- set known = run_query(known_sql).columns[0].values() | map('int') | list -%}
    {%- do log('review years with known flows in ' ~ this ~ ': ' ~ (known | join(', ') or 'none'),
        info=true) -%}
    {{- return(known) -}}
{%- endmacro %}
