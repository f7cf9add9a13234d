{#- The body of the project's `table` and `view` materializations: the model's relation of
    `kind` replaced in one statement, in the node's transaction, after dropping a relation of the
    other kind under its name. It does only what this project uses: a model asking for what it
    leaves out stops with a message (`poverty_lean_materialization_supports`). -#}
{% macro poverty_replace_relation(kind) %}
  {%- do poverty_lean_materialization_supports(model) -%}
  {%- set existing_relation = load_cached_relation(this) -%}
  {%- set target_relation = this.incorporate(type=kind) -%}

  {{ run_hooks(pre_hooks, inside_transaction=False) }}
  -- `BEGIN` happens here:
  {{ run_hooks(pre_hooks, inside_transaction=True) }}
  {%- if existing_relation is not none and existing_relation.type != kind %}
    {{ drop_relation_if_exists(existing_relation) }}
  {%- endif %}

  {% call statement("main") -%}
    create or replace {{ kind }} {{ target_relation }} as (
      {{ compiled_code }}
    )
  {%- endcall %}

  {{ run_hooks(post_hooks, inside_transaction=True) }}
  -- `COMMIT` happens here
  {{ adapter.commit() }}
  {{ run_hooks(post_hooks, inside_transaction=False) }}

  {{ return({"relations": [target_relation]}) }}
{% endmacro %}
