{#- Returns the rows whose value lies outside [min_value, max_value] (NULLs pass). -#}
{% test accepted_range(model, column_name, min_value=none, max_value=none) %}
    {%- set below = column_name ~ ' < ' ~ min_value if min_value is not none else 'false' -%}
    {%- set above = column_name ~ ' > ' ~ max_value if max_value is not none else 'false' -%}
    select *
    from {{ model }}
    where {{ column_name }} is not null and ({{ below }} or {{ above }})
{%- endtest %}
