{#- Returns the groups (e.g. review years) in which the model and `compare_to` hold different
    numbers of rows: a model meant to hold one row per row of another lost or doubled some. -#}
{% test row_counts_match(model, compare_to, group_by) -%}
with

model_counts as (
    select
        {{ group_by }} as group_value,
        count(*) as model_rows
    from {{ model }}
    group by {{ group_by }}
),

compared_counts as (
    select
        {{ group_by }} as group_value,
        count(*) as compared_rows
    from {{ compare_to }}
    group by {{ group_by }}
)

select
    coalesce(model_counts.group_value, compared_counts.group_value) as group_value,
    coalesce(model_counts.model_rows, 0) as model_rows,
    coalesce(compared_counts.compared_rows, 0) as compared_rows
from model_counts
full outer join compared_counts on model_counts.group_value = compared_counts.group_value
where model_counts.model_rows is distinct from compared_counts.compared_rows
{%- endtest %}
