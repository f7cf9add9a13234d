{#- Custom schemas are used as written (staging, intermediate, marts, seeds), without the
    target-schema prefix dbt adds by default: other stages read these schema names. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
