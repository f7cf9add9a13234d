{#- A view in one statement: `create or replace view ... as (...)` in the node's transaction
    (`replace_relation.sql`).

    The same trade as `table.sql` beside it: dbt's default view materialization creates
    `<name>__dbt_tmp`, renames the old view away, renames the new one into place and drops the
    old one; DuckDB replaces a view atomically, so one statement does. -#}
{% materialization view, adapter="duckdb" %}
  {{ return(poverty_replace_relation("view")) }}
{% endmaterialization %}
