{#- One row per column whose condition holds on some rows of the model, with how many
    (`count_name`): the rules of many columns checked in one scan. `conditions` maps each column
    to the SQL condition a row breaks the rule by. -#}
{% macro failing_columns(model, conditions, count_name) -%}
with

rule_counts as (
    select
    {%- for column, condition in conditions.items() %}
        count(*) filter (where {{ condition }}) as {{ column }}{{ "," if not loop.last }}
        {%- endfor %}
    from {{ model }}
),

by_column as (
    unpivot rule_counts on columns(*) into name column_name value {{ count_name }}
)

select
    column_name,
    {{ count_name }}
from by_column
where {{ count_name }} > 0
{%- endmacro %}
