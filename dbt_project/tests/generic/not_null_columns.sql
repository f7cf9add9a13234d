{#- Returns one row per listed column that holds NULLs, with how many it holds: every required
    column of a model in one scan (a `not_null` test per column scans the model once each, and
    each test is a node of its own in every build). -#}
{% test not_null_columns(model, columns) -%}
    {%- set conditions = {} -%}
    {%- for column in columns -%}
        {%- do conditions.update({column: column ~ ' is null'}) -%}
    {%- endfor -%}
    {{ failing_columns(model, conditions, 'null_rows') }}
{%- endtest %}
