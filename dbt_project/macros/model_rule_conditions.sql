{#- The row-level rules of a `model_rules` test (tests/generic/model_rules.sql), each as
    (label, SQL condition a row breaks it by), in the order orchestration/base/model_rules.py
    reads them back. -#}
{% macro model_rule_conditions(not_null, accepted_values, ranges, expressions) -%}
    {%- set rules = [] -%}
    {%- for column in not_null or [] -%}
        {%- do rules.append(('not_null:' ~ column, column ~ ' is null')) -%}
    {%- endfor -%}
    {%- for column, values in (accepted_values or {}).items() -%}
        {%- set listed = [] -%}
        {%- for value in values -%}
            {%- do listed.append("'" ~ (value | string | replace("'", "''")) ~ "'") -%}
        {%- endfor -%}
        {%- set outside = column ~ ' not in (' ~ listed | join(', ') ~ ')' -%}
        {%- do rules.append(('accepted_values:' ~ column, column ~ ' is not null and ' ~ outside)) -%}
    {%- endfor -%}
    {%- for column, bounds in (ranges or {}).items() -%}
        {%- set low, high = bounds.get('min_value'), bounds.get('max_value') -%}
        {%- set below = column ~ ' < ' ~ low if low is not none else 'false' -%}
        {%- set above = column ~ ' > ' ~ high if high is not none else 'false' -%}
        {%- do rules.append(('range:' ~ column, below ~ ' or ' ~ above)) -%}
    {%- endfor -%}
    {%- for item in expressions or [] -%}
        {%- set rows = item.get('where_clause') or 'true' -%}
        {%- set broken = 'not coalesce((' ~ item.expression ~ '), false) and (' ~ rows ~ ')' -%}
        {%- do rules.append(('expression:' ~ loop.index, broken)) -%}
    {%- endfor -%}
    {{- return(rules) -}}
{%- endmacro %}
