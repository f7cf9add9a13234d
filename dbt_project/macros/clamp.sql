{#- `expression` kept between `floor` and `ceiling` (either NULL: no bound on that side); NULL
    stays NULL (DuckDB's greatest and least skip NULL arguments, so they cannot say it). -#}
{% macro clamp(expression, floor='value_floor', ceiling='value_ceiling') -%}
    case
        when ({{ expression }}) is null then null
        when {{ floor }} is not null and ({{ expression }}) < {{ floor }} then {{ floor }}
        when {{ ceiling }} is not null and ({{ expression }}) > {{ ceiling }} then {{ ceiling }}
        else {{ expression }}
    end
{%- endmacro %}
