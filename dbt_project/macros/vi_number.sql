{#- A number as Vietnamese text writes it, rounded to `digits` decimals: a comma before the
    decimals and a point between thousands (1.234,5), no trailing zeros. NULL stays NULL. -#}
{% macro vi_number(expression, digits=2) -%}
    replace(replace(replace(
        rtrim(rtrim(format('{:,.{{ digits }}f}', round({{ expression }}, {{ digits }})), '0'), '.'),
        ',', '_'), '.', ','), '_', '.')
{%- endmacro %}
