{#- The row count and columns of the relation a model or seed just made, logged for Dagster: the
    project's last post-hook on every model and seed (dbt_project.yml), inside the node's
    transaction, after the model's rules passed.

    The dbt asset (orchestration/transform/assets.py) yields each model's materialization as dbt
    reports the node, with this count and column schema, while dbt goes on with the next nodes:
    Dagster cannot open the warehouse file to count while dbt holds it. The message is one JSON
    object, the form dagster-dbt reads from a node's log for its column schema
    (`{"columns": {name: {"data_type": type}}}`), with the row count beside it; dagster-dbt keeps
    it off the log. Only when dbt's log is JSON (DBT_LOG_FORMAT=json, as dagster-dbt runs dbt):
    a person's `dbt build` logs nothing more. -#}
{% macro poverty_relation_shape_logged() -%}
  {%- if execute and (flags.LOG_FORMAT or "") | lower == "json" -%}
    {%- set shape = run_query(
        "select json_object('row_count', (select count(*) from " ~ this ~ "), 'columns', ("
        ~ "select ('{' || string_agg(to_json(column_name) || ':'"
        ~ " || json_object('data_type', lower(data_type)), ',' order by ordinal_position)"
        ~ " || '}')::json from information_schema.columns"
        ~ " where table_catalog = '" ~ this.database ~ "' and table_schema = '" ~ this.schema
        ~ "' and table_name = '" ~ this.identifier ~ "'))::varchar"
    ) -%}
    {%- do log(shape.columns[0].values()[0], info=true) -%}
  {%- endif -%}
{%- endmacro %}
