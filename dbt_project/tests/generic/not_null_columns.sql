{#- Returns one row per listed column that holds NULLs, with how many it holds: every required
    column of a model in one scan (a `not_null` test per column scans the model once each, and
    each test is a node of its own in every build). -#}
{% test not_null_columns(model, columns) -%}
with

null_counts as (
    select
    {%- for column in columns %}
        count(*) filter (where {{ column }} is null) as {{ column }}{{ "," if not loop.last }}
        {%- endfor %}
    from {{ model }}
),

by_column as (
    unpivot null_counts on columns(*) into name column_name value null_rows
)

select
    column_name,
    null_rows
from by_column
where null_rows > 0
{%- endtest %}
