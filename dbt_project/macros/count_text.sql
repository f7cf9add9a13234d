{#- A count as the notes print it: a whole number without a decimal point (17, not 17.0); a count
    carried across the 2025 reorganisation by the crosswalk's weights can be fractional and keeps
    two decimals. Whether it is whole is judged on those two decimals: a sum of weights that
    should be 221 can come out as 220.99999999999997, depending on the order DuckDB adds them in.
    NULL stays NULL. -#}
{% macro count_text(expression) -%}
    case
        when round({{ expression }}, 2) = round({{ expression }})
            then cast(cast(round({{ expression }}) as bigint) as varchar)
        else cast(round({{ expression }}, 2) as varchar)
    end
{%- endmacro %}
