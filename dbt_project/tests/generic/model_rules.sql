{#-
    Every row-level rule of a model in one test, one scan of the model (and one grouping for the
    key): `key`, the columns that identify a row (unique together); `not_null`, the columns that
    must hold a value; `accepted_values`, each coded column's set (NULL passes; not_null says
    when it may not be); `ranges`, each column's [min_value, max_value] (either bound may be left
    out; NULL passes); `expressions`, each an `expression` every row (or every row matching its
    `where_clause`) makes true, NULL counting as false.

    Returns one row per broken rule: its label (`key`, `not_null:<column>`,
    `accepted_values:<column>`, `range:<column>`, `expression:<n>`, n counted from 1 in the order
    of the YAML) and how many rows break it (for the key, how many key values repeat). A test
    node per rule cost dbt about 30 ms each in every build whatever the table's size
    (docs/performance.md); orchestration/transform/dbt_failures.py lists the offending rows of
    each broken rule once dbt has exited.
-#}
-- noqa: disable=LT02
{% test model_rules(
    model, key=none, not_null=none, accepted_values=none, ranges=none, expressions=none
) -%}
{%- set rules = model_rule_conditions(not_null, accepted_values, ranges, expressions) -%}
with

{%- if rules %}

row_counts as (
    select
    {%- for label, condition in rules %}
        count(*) filter (where {{ condition }}) as "{{ label }}"{{ "," if not loop.last }}
        {%- endfor %}
    from {{ model }}
),

row_rules as (
    unpivot row_counts on columns(*) into name rule value offending_rows
),
{%- endif %}
{%- if key %}

key_rule as (
    select
        'key' as rule,
        count(*) as offending_rows
    from (
        select 1
        from {{ model }}
        group by {{ key | join(', ') }}
        having count(*) > 1
    )
),
{%- endif %}

broken as (
    {%- if rules %}
    select rule, offending_rows from row_rules
    {%- endif %}
    {%- if rules and key %}
    union all
    {%- endif %}
    {%- if key %}
    select rule, offending_rows from key_rule
    {%- endif %}
    {%- if not rules and not key %}
    select null as rule, 0 as offending_rows
    {%- endif %}
)

select
    rule,
    offending_rows
from broken
where offending_rows > 0
{%- endtest %}
