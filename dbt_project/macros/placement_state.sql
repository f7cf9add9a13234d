{#- How far the households' placement across the 2025 reorganisation was built, for the models
    kept up to date by difference when a review on 2025 units is added after every loaded one:
    int_households_placed (households appended), int_commune_households_counted (its pre-2025
    years corrected by difference) and int_households_previously_poor_placed (its review across
    the reorganisation corrected the same way).

    A household's first 2025 commune (macros/household_placement.sql) comes from the first
    2025-units review it was assessed in. A review added after every loaded review therefore
    places only the households first assessed in it, and moves no other household. Each row of
    these models stores the state it was placed through:

    - `placed_through_year`: the latest survey year when the row was built;
    - `placed_through_fingerprint`: that year's history fingerprint in
      int_household_flows_tracked (every household's code, class, load time and run of every
      year up to it: macros/flow_history_fingerprints.sql), hashed with the model's code
      checksum (macros/incremental_review_years.sql).

    A later build finds the stored fingerprint again among the current years' when nothing up to
    `placed_through_year` moved and the code is the same: only the households whose first
    2025-units review comes after that year are then still to be placed. Anything else (a
    re-sent or withdrawn year up to it, a changed model or seed file) rebuilds. -#}

{#- One row per survey year: the state a build placing through that year stores. -#}
{% macro placement_states() -%}
    select
        review_year as placed_through_year,
        hash(history_fingerprint, '{{ code_checksum() }}') as placed_through_fingerprint
    from {{ ref('int_household_flows_tracked') }}
    where household_code is null
{%- endmacro %}

{#- The state this build places through: the latest survey year's. -#}
{% macro current_placement_state() -%}
    select *
    from ({{ placement_states() }}) as states
    order by placed_through_year desc
    limit 1
{%- endmacro %}

{#- Whether a stored state (`year`, `fingerprint`: SQL expressions) is still valid: the same year
    now has the same fingerprint. -#}
{% macro placement_state_holds(year, fingerprint) -%}
    exists (
        select 1
        from ({{ placement_states() }}) as states
        where
            states.placed_through_year = {{ year }}
            and states.placed_through_fingerprint = {{ fingerprint }}
    )
{%- endmacro %}

{#- int_households_placed: the year after which households are still to be placed (the table
    holds every household first assessed on 2025 units up to it), or none when the table is to
    be rebuilt whole (a first or full-refresh build, a table without the state columns, a moved
    state, a forced `years_to_build`). Logged, as the year-incremental models log their years. -#}
{% macro households_placed_after(logged=true) -%}
    {%- if not execute or not is_incremental() -%}
        {{- return(none) -}}
    {%- endif -%}
    {%- set after = none -%}
    {%- if var('years_to_build', 'detect') == 'detect'
        and relation_has_column(this, 'placed_through_fingerprint') -%}
        {%- set stored_sql -%}
            select stored.placed_through_year
            from (
                select
                    placed_through_year,
                    any_value(placed_through_fingerprint) as placed_through_fingerprint
                from {{ this }}
                group by placed_through_year
                order by placed_through_year desc
                limit 1
            ) as stored
            where {{ placement_state_holds('stored.placed_through_year', 'stored.placed_through_fingerprint') }}
        {%- endset -%}
        {%- set rows = run_query(stored_sql).rows -%}
        {%- if rows | length -%}
            {%- set after = rows[0][0] | int -%}
        {%- endif -%}
    {%- endif -%}
    {%- if logged -%}
        {%- do log('households placed in ' ~ this ~ ': '
            ~ ('every household' if after is none
               else 'those first assessed on 2025 units after ' ~ after), info=true) -%}
    {%- endif -%}
    {{- return(after) -}}
{%- endmacro %}

{#- The pre-hook of int_households_placed: a table to be rebuilt whole is emptied first (the
    model appends). -#}
{% macro delete_households_placed_to_rebuild() -%}
    {%- if execute and is_incremental() and households_placed_after(logged=false) is none -%}
        delete from {{ this }}
    {%- endif -%}
{%- endmacro %}

{#- Which review years a model kept up to date by difference counts again and which it corrects,
    as {'build': a SQL list body (macros/review_years_to_build.sql), 'replace': a list of
    [review_year, placed_through_year]}. `placed_years` is a condition on `described` (the
    year's row of int_review_years_described) for the years whose rows place households by
    their first 2025 commune: int_commune_households_counted's pre-2025 years,
    int_households_previously_poor_placed's review across the reorganisation.

    A year is built whole when no row holds its current input fingerprint (as in every
    year-incremental model, macros/incremental_review_years.sql). A year of `placed_years` whose
    inputs are kept but whose rows were placed through an earlier state is corrected by
    difference when that state still holds (only households first assessed on 2025 units after
    it have moved), and built whole when it does not. Any other year is placed by the
    households' latest pre-2025 commune, or not at all, which its own fingerprint covers (every
    year up to it). A forced `years_to_build` builds its years and corrects none (a year it leaves
    out keeps its rows and their state, and the next build without it corrects or rebuilds it). -#}
{% macro review_years_by_placement(references, placed_years) -%}
    {%- set built = 'input_fingerprint' if relation_has_column(this, 'input_fingerprint')
        else 'null::ubigint' -%}
    {%- set placed = relation_has_column(this, 'placed_through_fingerprint') -%}
    {%- set years_sql -%}
        with current_inputs as (
            {{ year_input_fingerprints(references) }}
        ),

        built_years as (
            select distinct
                review_year,
                {{ built }} as input_fingerprint,
                {{ 'placed_through_year' if placed else 'null::integer' }} as placed_through_year,
                {{ 'placed_through_fingerprint' if placed else 'null::ubigint' }}
                    as placed_through_fingerprint
            from {{ this }}
        ),

        current_state as (
            {{ current_placement_state() }}
        ),

        kept as (
            select
                current_inputs.review_year,
                coalesce({{ placed_years }}, false) as is_placed,
                built_years.placed_through_year,
                built_years.placed_through_fingerprint
            from current_inputs
            inner join {{ ref('int_review_years_described') }} as described
                on current_inputs.review_year = described.review_year
            inner join built_years
                on
                    current_inputs.review_year = built_years.review_year
                    and current_inputs.input_fingerprint = built_years.input_fingerprint
        )

        select
            current_inputs.review_year,
            case
                when kept.review_year is null then 'build'
                when not kept.is_placed then 'kept'
                when
                    kept.placed_through_fingerprint
                    = (select current_state.placed_through_fingerprint from current_state)
                    then 'kept'
                when {{ placement_state_holds('kept.placed_through_year', 'kept.placed_through_fingerprint') }}
                    then 'replace'
                else 'build'
            end as action,
            kept.placed_through_year
        from current_inputs
        left join kept on current_inputs.review_year = kept.review_year
        order by 1
    {%- endset -%}
    {%- set build, replace = [], [] -%}
    {%- if execute and var('years_to_build', 'detect') == 'detect' -%}
        {%- for year, action, placed_through_year in run_query(years_sql).rows -%}
            {%- if action == 'build' -%}
                {%- do build.append(year | int) -%}
            {%- elif action == 'replace' -%}
                {%- do replace.append([year | int, placed_through_year | int]) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {%- set build_sql = 'select unnest([' ~ (build | join(', ')) ~ ']::integer[])' -%}
    {%- do log('review years re-placed by difference in ' ~ this ~ ': '
        ~ (replace | map('first') | join(', ') or 'none'), info=true) -%}
    {{- return({'build': review_years_to_build(build_sql), 'replace': replace}) -}}
{%- endmacro %}

{#- The years to correct by difference (`replace` of review_years_by_placement), as a query of
    (review_year, placed_through_year). -#}
{% macro years_to_replace(replace) -%}
    select
        replace_years.review_year,
        replace_years.placed_through_year
    from (
        values
        {%- for year, placed_through_year in replace %}
            ({{ year }}, {{ placed_through_year }}){{ ',' if not loop.last }}
        {%- endfor %}
    ) as replace_years (review_year, placed_through_year)
{%- endmacro %}
