{#- Returns the rows for which the boolean expression is not true (false or NULL), among the
    rows matching where_clause when one is given. -#}
{% test expression_is_true(model, expression, where_clause=none) -%}
select *
from {{ model }}
where not coalesce(({{ expression }}), false) and ({{ where_clause or 'true' }})
{%- endtest %}
