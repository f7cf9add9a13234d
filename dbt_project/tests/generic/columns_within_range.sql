{#- Returns one row per listed column with values outside its [min_value, max_value] (NULLs
    pass; either bound may be left out), with how many: every range of a model in one scan. -#}
{% test columns_within_range(model, ranges) -%}
    {%- set conditions = {} -%}
    {%- for column, bounds in ranges.items() -%}
        {%- set below = column ~ ' < ' ~ bounds.get('min_value') if bounds.get('min_value') is not none else 'false' -%}
        {%- set above = column ~ ' > ' ~ bounds.get('max_value') if bounds.get('max_value') is not none else 'false' -%}
        {%- do conditions.update({column: below ~ ' or ' ~ above}) -%}
    {%- endfor -%}
    {{ failing_columns(model, conditions, 'rows_out_of_range') }}
{%- endtest %}
