{#- Number of the household's standard's own indicators (seed `standard_indicators`) in which it
    is deprived; a missing mark counts as not deprived. `standard_id_column` names the column that
    holds the household's standard.

    The seed is read once when the model compiles and turned into one CASE branch per standard,
    each a sum of that standard's d_* columns: the count stays a single expression per row
    (int_households_classified is a view over every household), while the indicator sets are
    seed data. A household whose standard has no indicator rows gets NULL, which the quality
    gate reports. Indicator codes are checked to be plain d_* column names before they reach
    the SQL. -#}
{% macro deprivation_count(relation_alias, standard_id_column) -%}
    {%- set indicator_sets = standard_indicator_sets() -%}
    {%- if indicator_sets -%}
    case {{ standard_id_column }}
        {%- for standard_id, codes in indicator_sets.items() %}
        when '{{ standard_id }}' then
            {%- for code in codes %}
            cast(coalesce({{ relation_alias }}.{{ code }}, false) as integer)
            {%- if not loop.last %} +{% endif %}
            {%- endfor %}
        {%- endfor %}
    end
    {%- else -%}
    cast(null as integer)
    {%- endif -%}
{%- endmacro %}

{#- The counted indicator codes of each standard (counted_in_standard: an unverified indicator
    reported as new is published, not counted), from the `standard_indicators` seed as loaded in the
    warehouse: {standard_id: [indicator_code, ...]}. Empty while dbt only parses. The ref records
    the dependency; the table is named from the seeds' schema (dbt_project.yml), because inside a
    unit test the ref stands for the test's fixture rows, which a compile-time query cannot
    read. -#}
{% macro standard_indicator_sets() -%}
    {%- do ref('standard_indicators') -%}
    {%- set sets = {} -%}
    {%- if execute -%}
        {%- set seed_relation = api.Relation.create(
            database=target.database,
            schema=generate_schema_name('seeds', none),
            identifier='standard_indicators',
        ) -%}
        {%- set result = run_query(
            'select standard_id, indicator_code from ' ~ seed_relation
            ~ ' where counted_in_standard order by standard_id, indicator_code'
        ) -%}
        {%- for row in result.rows -%}
            {%- if not modules.re.fullmatch('[A-Za-z0-9_]+', row[0])
                or not modules.re.fullmatch('d_[a-z_]+', row[1]) -%}
                {{ exceptions.raise_compiler_error(
                    'standard_indicators: not a standard id and d_* column: '
                    ~ row[0] ~ ', ' ~ row[1]
                ) }}
            {%- endif -%}
            {%- if row[0] not in sets -%}
                {%- do sets.update({row[0]: []}) -%}
            {%- endif -%}
            {%- do sets[row[0]].append(row[1]) -%}
        {%- endfor -%}
    {%- endif -%}
    {{- return(sets) -}}
{%- endmacro %}

{#- Number of the household's standard's indicators whose mark is missing (NULL): the quality
    gate blocks a household whose own indicators are not all answered, whatever the columns of
    other standards hold. -#}
{% macro missing_indicator_marks(relation_alias, standard_id_column) -%}
    {%- set indicator_sets = standard_indicator_sets() -%}
    {%- if indicator_sets -%}
    case {{ standard_id_column }}
        {%- for standard_id, codes in indicator_sets.items() %}
        when '{{ standard_id }}' then
            {%- for code in codes %}
            cast({{ relation_alias }}.{{ code }} is null as integer)
            {%- if not loop.last %} +{% endif %}
            {%- endfor %}
        {%- endfor %}
    end
    {%- else -%}
    cast(null as integer)
    {%- endif -%}
{%- endmacro %}
