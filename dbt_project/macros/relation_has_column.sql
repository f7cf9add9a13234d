{#- Whether a relation has a column (case-insensitive), read from the warehouse's catalogue when
    the model compiles; false while dbt only parses. For columns a warehouse built before them
    may lack, read as NULL instead. -#}
{% macro relation_has_column(relation, column_name) -%}
    {%- if not execute -%}
        {{- return(false) -}}
    {%- endif -%}
    {%- set names = adapter.get_columns_in_relation(relation) | map(attribute='name')
        | map('lower') | list -%}
    {{- return(column_name | lower in names) -}}
{%- endmacro %}
