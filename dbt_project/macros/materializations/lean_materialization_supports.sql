{#- Stop a model the one-statement `table` and `view` materializations (`table.sql`, `view.sql`)
    would build without part of its configuration: they persist no column comments, apply no
    grants, create no indexes and enforce no contract, and build SQL models only. -#}
{% macro poverty_lean_materialization_supports(model) -%}
  {%- set unsupported = [] -%}
  {%- if model["language"] != "sql" -%}
    {%- do unsupported.append("a " ~ model["language"] ~ " model") -%}
  {%- endif -%}
  {%- set persist = config.get("persist_docs") or {} -%}
  {%- if persist.get("relation") or persist.get("columns") -%}
    {%- do unsupported.append("persist_docs") -%}
  {%- endif -%}
  {%- if config.get("grants") -%}{%- do unsupported.append("grants") -%}{%- endif -%}
  {%- if config.get("indexes") -%}{%- do unsupported.append("indexes") -%}{%- endif -%}
  {%- if config.get("contract").enforced -%}
    {%- do unsupported.append("an enforced contract") -%}
  {%- endif -%}
  {%- if unsupported -%}
    {%- do exceptions.raise_compiler_error(
        model["name"] ~ " asks for " ~ unsupported | join(", ")
        ~ ", which this project's one-statement " ~ model["config"]["materialized"]
        ~ " materialization (macros/materializations/) does not do: add it there first") -%}
  {%- endif -%}
{%- endmacro %}
