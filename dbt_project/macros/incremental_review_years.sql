{#- Review years for the household models that are incremental by review year and read each year
    by itself (int_commune_deprivations_counted, int_commune_groups_counted,
    int_households_previously_poor_placed).

    Each row of such a model stores `input_fingerprint`: the fingerprint of what its review year
    was built from. `year_input_fingerprints` gives one row per review year of
    int_review_years_described, hashing

    - the flows model's `history_fingerprint` of the latest survey year up to it (every
      household's code, official class, load time and run of every year up to it, and whether
      its flows are known: macros/flow_history_fingerprints.sql), so a re-sent or reclassified
      year changes its own fingerprint and every later year's;
    - the year's own row of int_review_years_described (its standard, unit version, previous
      review);
    - every row of each relation in `references` (the seeds and reference units the model reads
      whole: a few thousand rows);
    - the checksums of the model's SQL file and of every model and seed file upstream of it
      (`code_checksum`), so a changed model or seed file rebuilds every year (a changed macro
      does not: rebuild with `--full-refresh`), and `extra`, a text the model passes for what
      it takes from a macro (the population groups);
    - and, for the years where `rebuilt_always` (a condition on `described`, the year's row)
      holds, this invocation's id, so that they are rebuilt on every build. A year whose result
      depends on reviews after it (across the 2025 reorganisation a household is placed by the
      first 2025 review it was assessed in) cannot be fingerprinted by its own inputs.

    A year is rebuilt when no row of the model holds its current fingerprint; before the new rows
    go in, `delete_review_years_to_rebuild` (the model's pre-hook) deletes every row whose year no
    longer has that fingerprint, so a year that now comes out empty, or that left the input,
    leaves no stale row (delete+insert alone replaces only the years present in the new rows).
    A table built before the fingerprint column is rebuilt whole, and gains the column. -#}
{% macro year_input_fingerprints(references=[], rebuilt_always=none, extra='') -%}
    select
        described.review_year,
        hash(
            flow_years.history_fingerprint,
            described,
            {%- for relation in references %}
                (select bit_xor(hash(reference)) from {{ ref(relation) }} as reference),
            {%- endfor %}
            '{{ code_checksum() }}',
            '{{ extra | replace("'", "''") }}'
            {%- if rebuilt_always %},
                case when {{ rebuilt_always }} then '{{ invocation_id }}' end
            {%- endif %}
        ) as input_fingerprint
    from {{ ref('int_review_years_described') }} as described
    asof left join (
        select
            review_year,
            history_fingerprint
        from {{ ref('int_household_flows_tracked') }}
        where household_code is null
    ) as flow_years
        on described.review_year >= flow_years.review_year
{%- endmacro %}

{#- The years whose rows do not hold their current fingerprint, as a SQL list body
    (macros/review_years_to_build.sql; `years_to_build` forces a list). Only in an incremental
    build. -#}
{% macro review_years_with_new_inputs(references=[], rebuilt_always=none, extra='') -%}
    {%- set built = 'input_fingerprint' if relation_has_column(this, 'input_fingerprint')
        else 'null::ubigint' -%}
    {%- set changed_years_sql -%}
        select current_inputs.review_year
        from ({{ year_input_fingerprints(references, rebuilt_always, extra) }}) as current_inputs
        where not exists (
            select 1
            from (select distinct review_year, {{ built }} as input_fingerprint from {{ this }})
                as built_years
            where
                built_years.review_year = current_inputs.review_year
                and built_years.input_fingerprint = current_inputs.input_fingerprint
        )
        order by 1
    {%- endset -%}
    {{- return(review_years_to_build(changed_years_sql)) -}}
{%- endmacro %}

{#- The pre-hook: in an incremental build, delete every row whose review year no longer has the
    fingerprint it was built from (and the years forced by `years_to_build`). With a forced list,
    a year whose fingerprint moved and that the list leaves out is emptied rather than left
    stale, until the next build without the override rebuilds it. -#}
{% macro delete_review_years_to_rebuild(references=[], rebuilt_always=none, extra='') -%}
    {%- if execute and is_incremental() -%}
        {%- if relation_has_column(this, 'input_fingerprint') -%}
            {%- set forced = var('years_to_build', 'detect') -%}
            delete from {{ this }} as built
            where not exists (
                select 1
                from ({{ year_input_fingerprints(references, rebuilt_always, extra) }}) as current_inputs
                where
                    current_inputs.review_year = built.review_year
                    and current_inputs.input_fingerprint = built.input_fingerprint
            )
            {%- if forced != 'detect' %}
                or built.review_year in ({{ forced | join(', ') if forced is iterable and forced is not string else forced }})
            {%- endif %}
        {%- else -%}
            delete from {{ this }}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{#- The condition `rebuilt_always` of int_households_previously_poor_placed: the year's previous
    review is on the other unit version (it crosses the 2025 reorganisation). -#}
{% macro previous_review_on_other_units() -%}
    exists (
        select 1
        from {{ ref('int_review_years_described') }} as previous_described
        where
            previous_described.review_year = described.previous_review_year
            and previous_described.unit_version <> described.unit_version
    )
{%- endmacro %}

{#- One md5 over the checksums dbt keeps of the model's SQL file and of every model and seed
    upstream of it (`graph`, at execution only). -#}
{% macro code_checksum() -%}
    {%- if not execute -%}
        {{- return('') -}}
    {%- endif -%}
    {%- set seen = [model.unique_id] -%}
    {%- do _gather_upstream_nodes(model.unique_id, seen) -%}
    {%- set checksums = [] -%}
    {%- for unique_id in seen | sort -%}
        {%- do checksums.append(unique_id ~ '=' ~ graph.nodes[unique_id].checksum.checksum) -%}
    {%- endfor -%}
    {{- return(local_md5(checksums | join(','))) -}}
{%- endmacro %}

{% macro _gather_upstream_nodes(unique_id, seen) -%}
    {%- for parent in graph.nodes[unique_id].depends_on.nodes -%}
        {%- if parent in graph.nodes and parent not in seen -%}
            {%- do seen.append(parent) -%}
            {%- do _gather_upstream_nodes(parent, seen) -%}
        {%- endif -%}
    {%- endfor -%}
{%- endmacro %}
