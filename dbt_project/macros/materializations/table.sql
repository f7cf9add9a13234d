{#- A table in one statement: `create or replace table ... as (...)` in the node's transaction.

    dbt-duckdb's own table materialization builds the model as `<name>__dbt_tmp`, renames the old
    table to `<name>__dbt_backup`, renames the new one into place, commits and drops the backup,
    and along the way looks up indexes, foreign keys, grants and column comments: four more
    statements per model and, with dbt's Python around them, about 20 ms a model whatever its
    size. DuckDB replaces
    a table atomically inside the transaction, so one statement gives the same result: a model
    whose SQL fails rolls back and leaves the previous table as it was.

    It does only what this project uses. A model that asks for what it leaves out (column
    comments, grants, indexes, an enforced contract, a Python model) stops with a message
    instead of being built without it. -#}
{% materialization table, adapter="duckdb" %}
  {%- do poverty_lean_materialization_supports(model) -%}
  {%- set existing_relation = load_cached_relation(this) -%}
  {%- set target_relation = this.incorporate(type="table") -%}

  {{ run_hooks(pre_hooks, inside_transaction=False) }}
  -- `BEGIN` happens here:
  {{ run_hooks(pre_hooks, inside_transaction=True) }}
  {%- if existing_relation is not none and not existing_relation.is_table %}
    {{ drop_relation_if_exists(existing_relation) }}
  {%- endif %}

  {% call statement("main") -%}
    create or replace table {{ target_relation }} as (
      {{ compiled_code }}
    )
  {%- endcall %}

  {{ run_hooks(post_hooks, inside_transaction=True) }}
  -- `COMMIT` happens here
  {{ adapter.commit() }}
  {{ run_hooks(post_hooks, inside_transaction=False) }}

  {{ return({"relations": [target_relation]}) }}
{% endmaterialization %}
