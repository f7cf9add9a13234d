{#- A count as the notes print it: a whole number without a decimal point (17, not 17.0); a count
    carried across the 2025 reorganisation by the crosswalk's weights can be fractional and keeps
    two decimals. NULL stays NULL. -#}
{% macro count_text(expression) -%}
    case
        when ({{ expression }}) = round({{ expression }})
            then cast(cast({{ expression }} as bigint) as varchar)
        else cast(round({{ expression }}, 2) as varchar)
    end
{%- endmacro %}
