{#- A view in one statement: `create or replace view ... as (...)` in the node's transaction.

    The same trade as `table.sql` beside it: dbt's default view materialization creates
    `<name>__dbt_tmp`, renames the old view away, renames the new one into place and drops the
    old one; DuckDB replaces a view atomically, so one statement does. The same configurations
    it leaves out stop the model with a message. -#}
{% materialization view, adapter="duckdb" %}
  {%- do poverty_lean_materialization_supports(model) -%}
  {%- set existing_relation = load_cached_relation(this) -%}
  {%- set target_relation = this.incorporate(type="view") -%}

  {{ run_hooks(pre_hooks, inside_transaction=False) }}
  -- `BEGIN` happens here:
  {{ run_hooks(pre_hooks, inside_transaction=True) }}
  {%- if existing_relation is not none and not existing_relation.is_view %}
    {{ drop_relation_if_exists(existing_relation) }}
  {%- endif %}

  {% call statement("main") -%}
    create or replace view {{ target_relation }} as (
      {{ sql }}
    )
  {%- endcall %}

  {{ run_hooks(post_hooks, inside_transaction=True) }}
  -- `COMMIT` happens here
  {{ adapter.commit() }}
  {{ run_hooks(post_hooks, inside_transaction=False) }}

  {{ return({"relations": [target_relation]}) }}
{% endmaterialization %}
