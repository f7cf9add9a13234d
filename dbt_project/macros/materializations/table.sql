{#- A table in one statement: `create or replace table ... as (...)` in the node's transaction
    (`replace_relation.sql`).

    dbt-duckdb's own table materialization builds the model as `<name>__dbt_tmp`, renames the old
    table to `<name>__dbt_backup`, renames the new one into place, commits and drops the backup,
    and along the way looks up indexes, foreign keys, grants and column comments: four more
    statements per model and, with dbt's Python around them, about 20 ms a model whatever its
    size. DuckDB replaces a table atomically inside the transaction, so one statement gives the
    same result: a model whose SQL fails rolls back and leaves the previous table as it was. -#}
{% materialization table, adapter="duckdb" %}
  {{ return(poverty_replace_relation("table")) }}
{% endmaterialization %}
