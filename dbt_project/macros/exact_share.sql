{#- Territory weights as DECIMAL(38, 18), so that every sum of them is exact: a DOUBLE sum
    depends on the order DuckDB's parallel aggregates add its terms, and two builds of the same
    data then published figures differing in their last digits (2246.0000000000005 against
    2246.0). The published columns are cast to DOUBLE where they are selected.

    exact_ratio: numerator / denominator of two integers, truncated to 18 decimals (computed in
    integers: three thirds add up to 1 - 1e-18, which is 1.0 as a DOUBLE); exact_share: 1 / n;
    exact_weight: a weight of 1 (or any other number) in the same type. -#}
{% macro exact_ratio(numerator, denominator) -%}
    cast(
        cast({{ numerator }} as hugeint) * 1000000000000000000 // ({{ denominator }})
        as decimal(38, 0)
    ) * 0.000000000000000001
{%- endmacro %}

{% macro exact_share(count_expression) -%}
    {{ exact_ratio(1, count_expression) }}
{%- endmacro %}

{% macro exact_weight(expression) -%}
    cast({{ expression }} as decimal(38, 18))
{%- endmacro %}

{#- exact_product: a weight (at most 1, DECIMAL(38, 18)) times a DECIMAL(38, 18) count, back to 18
    decimals. The product of two DECIMAL(38, 18) is a DECIMAL(38, 36), which holds nothing of 100 or
    more: the national sample's 105 poor households not reviewed in one commune overflowed it. The
    whole part is multiplied in DECIMAL(38, 18), only the fraction (under 1) at 36 decimals. -#}
{% macro exact_product(weight, count) -%}
    (
        {{ weight }} * cast(floor({{ count }}) as decimal(38, 0))
        + cast({{ weight }} * ({{ count }} - floor({{ count }})) as decimal(38, 18))
    )
{%- endmacro %}
