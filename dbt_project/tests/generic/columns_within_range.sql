{#- Returns one row per listed column with values outside its [min_value, max_value] (NULLs
    pass; either bound may be left out), with how many: every range of a model in one scan. -#}
{% test columns_within_range(model, ranges) -%}
with

out_of_range_counts as (
    select
    {%- for column, bounds in ranges.items() %}
        {%- set below = column ~ ' < ' ~ bounds.get('min_value') if bounds.get('min_value') is not none else 'false' %}
        {%- set above = column ~ ' > ' ~ bounds.get('max_value') if bounds.get('max_value') is not none else 'false' %}
        count(*) filter (where {{ below }} or {{ above }}) as {{ column }}{{ "," if not loop.last }}
        {%- endfor %}
    from {{ model }}
),

by_column as (
    unpivot out_of_range_counts on columns(*) into name column_name value rows_out_of_range
)

select
    column_name,
    rows_out_of_range
from by_column
where rows_out_of_range > 0
{%- endtest %}
