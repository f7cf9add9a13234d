{#- One row per review year of `classified`: its households, whether its flows are known, and
    what the flows of that year are built from, as one fingerprint (`history_fingerprint`). A
    year's flows read its own classification and every earlier year's (y - 1, and whether the
    household was poor before), and whether its flows are known at all; so the fingerprint of
    year y hashes the households of every year up to y and that year's has_known_flows. A
    re-sent or reclassified year x then changes the fingerprint of x and of every year after
    it, and of no year before it. `int_household_flows_tracked` stores it on each year's year
    row and rebuilds the years whose fingerprint differs. -#}
{% macro flow_history_fingerprints(classified, review_years) -%}
    with source_years as (
        select
            review_year,
            count(*) as households,
            bit_xor(hash(household_code, official_class, loaded_at, run_id)) as fingerprint
        from {{ classified }}
        group by review_year
    ),

    histories as (
        select
            review_year,
            households,
            bit_xor(hash(review_year, households, fingerprint)) over (
                order by review_year rows between unbounded preceding and current row
            ) as years_fingerprint
        from source_years
    )

    select
        histories.review_year,
        histories.households,
        coalesce(described.has_known_flows, false) as has_known_flows,
        hash(
            histories.years_fingerprint, coalesce(described.has_known_flows, false)
        ) as history_fingerprint
    from histories
    left join {{ review_years }} as described on histories.review_year = described.review_year
{%- endmacro %}

{#- The same rows as `flow_history_fingerprints`, evaluated once: when dbt executes the model, one
    query computes them (a pass over every household-year, through the classification) and
    they come back as a literal table of a few rows, which the model reads both to decide the
    years to build and to store on the year rows; while dbt only parses, the SQL itself. An
    incremental build of the flows otherwise computed them twice, once for each. -#}
{% macro flow_histories_evaluated_once(classified, review_years) -%}
    {%- if not execute -%}
        {{- return(flow_history_fingerprints(classified, review_years)) -}}
    {%- endif -%}
    {%- set histories_sql -%}
        select
            review_year,
            households,
            has_known_flows,
            cast(history_fingerprint as varchar) as history_fingerprint
        from ({{ flow_history_fingerprints(classified, review_years) }})
        order by review_year
    {%- endset -%}
    {%- set rows = [] -%}
    {%- for row in run_query(histories_sql).rows -%}
        {%- do rows.append(
            '(' ~ (row[0] | int) ~ '::integer, ' ~ (row[1] | int) ~ '::bigint, '
            ~ ('true' if row[2] else 'false') ~ ", '" ~ (row[3] | int) ~ "'::ubigint)"
        ) -%}
    {%- endfor -%}
    {%- if not rows -%}
        {{- return(
            'select null::integer as review_year, null::bigint as households, '
            ~ 'null::boolean as has_known_flows, null::ubigint as history_fingerprint where false'
        ) -}}
    {%- endif -%}
    {{- return(
        'select * from (values ' ~ (rows | join(', '))
        ~ ') as histories (review_year, households, has_known_flows, history_fingerprint)'
    ) -}}
{%- endmacro %}
