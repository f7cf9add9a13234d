{#- Returns the rows of the model whose key (several columns) has no match in `to`;
    `columns` maps each column of the model to the column of `to`. -#}
{% test relationships_by_columns(model, to, columns) %}
    {%- set conditions = [] -%}
    {%- for child_column, parent_column in columns.items() -%}
        {%- do conditions.append('child.' ~ child_column ~ ' = parent.' ~ parent_column) -%}
    {%- endfor %}
    select child.*
    from {{ model }} as child
    where not exists (
        select 1
        from {{ to }} as parent
        where {{ conditions | join(' and ') }}
    )
{%- endtest %}
