{#- A model's or seed's `model_rules` test (tests/generic/model_rules.sql) run as the model is
    built or the seed loaded: the project's post-hook on every model and seed (dbt_project.yml),
    inside the node's transaction, after the model's statement or the seed's load.

    Each test node costs dbt about 25 ms whatever the table's size, so the pipeline's build
    excludes the `model_rules` tests (orchestration/transform/assets.py) and this hook runs the
    same SQL on the relation just made. When a rule is broken the table is kept (committed, as a
    failing test leaves it, so that its offending rows can be listed) and the node stops with an
    error that starts with `model_rules broken:` and lists each broken rule's label and offending
    rows (`key`: how many key values repeat); dbt skips what depends on the node, as it does
    after a failing test. A `dbt build` that keeps the tests runs the rules twice, with the same
    result. -#}
{% macro poverty_model_rules_in_build() -%}
  {%- if execute and var("model_rules_in_build", true) -%}
    {%- set test = poverty_model_rules_test(model.unique_id) -%}
    {%- if test is not none -%}
      {%- set kwargs = test.test_metadata.kwargs -%}
      {%- set sql = test_model_rules(
          model=this,
          key=kwargs.get("key"),
          not_null=kwargs.get("not_null"),
          accepted_values=kwargs.get("accepted_values"),
          ranges=kwargs.get("ranges"),
          expressions=kwargs.get("expressions"),
      ) -%}
      {%- set broken = run_query(sql) -%}
      {%- if broken.rows | length > 0 -%}
        {%- set listed = [] -%}
        {%- for row in broken.rows -%}
          {%- do listed.append(row[0] ~ " (" ~ row[1] ~ (" row)" if row[1] == 1 else " rows)")) -%}
        {%- endfor -%}
        {%- do adapter.commit() -%}
        {%- do exceptions.raise_compiler_error(
            "model_rules broken: " ~ listed | join(", ")) -%}
      {%- endif -%}
    {%- endif -%}
  {%- endif -%}
{%- endmacro %}

{#- The `model_rules` test attached to a model, or none. -#}
{% macro poverty_model_rules_test(model_id) -%}
  {%- for node in graph.nodes.values() -%}
    {%- if node.resource_type == "test" and node.attached_node == model_id
        and (node.test_metadata or {}).get("name") == "model_rules" -%}
      {{- return(node) -}}
    {%- endif -%}
  {%- endfor -%}
  {{- return(none) -}}
{%- endmacro %}
