{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='review_year',
        on_schema_change='sync_all_columns',
        pre_hook="{% if is_incremental() %}delete from {{ this }} where review_year not in (select distinct review_year from {{ ref('int_households_classified') }}){% endif %}",
    )
}}

{#- A year withdrawn from raw is deleted before the build (the pre-hook), so that the project's
    post-hooks (the rules, the row count for Dagster) read the table as it is left. -#}

{#- Incremental by review year. A flow in year y depends on y, y - 1, whether the household was
    poor in any earlier year and whether the year's flows are known: each year's row stores a
    fingerprint of all that (macros/flow_history_fingerprints.sql), and the years whose
    fingerprint differs are rebuilt. Adding the newest year therefore rebuilds that year only;
    re-sending an old year rebuilds it and the years after. The fingerprints are computed once
    per build, as dbt executes the model (a pass over every household-year), and read from
    there both to choose the years and to store on their year rows. -#}
{% if is_incremental() %}
    {#- The fingerprints computed once, for the years to build and the year rows stored. -#}
    {% set histories_now = flow_histories_evaluated_once(
        ref('int_households_classified'), ref('int_review_years_described')
    ) %}
    {#- A table built before the year rows has no fingerprints: every year is rebuilt. -#}
    {% set built_fingerprint = 'history_fingerprint'
        if relation_has_column(this, 'history_fingerprint') else 'null::ubigint' %}
    {% set changed_years_sql %}
        with histories as (
            {{ histories_now }}
        ),
        built_years as (
            select review_year, {{ built_fingerprint }} as history_fingerprint
            from {{ this }}
            where household_code is null
        )
        select histories.review_year
        from histories
        left join built_years on histories.review_year = built_years.review_year
        where histories.history_fingerprint is distinct from built_years.history_fingerprint
        order by 1
    {% endset %}
    {% set years_to_build = review_years_to_build(changed_years_sql) %}
    {#- A year whose flows are not known (the first review under a standard, or after a gap) stores
        its year row only: when every year to build is such a year, no household is read. -#}
    {% set households_to_build = years_to_build != 'null'
        and (review_years_with_known_flows(years_to_build) | length) > 0 %}
{% else %}
    {% set households_to_build = true %}
{% endif %}

{#- No year to build: no row, and no pass over every household's years (the delete+insert then
    changes nothing; the pre-hook still drops withdrawn years). -#}
{% if is_incremental() and years_to_build == 'null' %}
    select * from {{ this }} where false
{% else %}

    with

    -- Not materialized: each reference reads only its columns and rows from the classification
    -- view (materialized, every household-year was stored once for the three of them).
    classified as not materialized (
        select * from {{ ref('int_households_classified') }}
    ),

    review_years as (
        select * from {{ ref('int_review_years_described') }}
    ),

    -- A whole build keeps the SQL: in a unit test the refs stand for the test's fixture rows,
    -- which a query of the macro's own could not read.
    histories as (
        {% if is_incremental() %}
            {{ histories_now }}
        {% else %}
            {{ flow_history_fingerprints('classified', 'review_years') }}
        {% endif %}
    ),

    -- The years to build whose flows are known: the others store no household row.
    current_year as (
        select * from classified
        where
            review_year in (
                select known.review_year from review_years as known
                where known.has_known_flows
            )
            {% if is_incremental() %}
                and review_year in ({{ years_to_build }})
            {% endif %}
    ),

    -- Each household's review years as three bit sets (bit y - 1950 of a HUGEINT, so years
    -- 1951-2076): the years it was assessed, poor and near-poor. One aggregate and one join then
    -- answer "assessed / poor / near-poor in y - 1?", "poor in some earlier review?" and "poor in
    -- y - 3 .. y - 1?" for every row, instead of a join of every household-year to its previous
    -- year and to a first-poor-year aggregate.
    household_years as (
        select
            household_code,
            bit_or(1::hugeint << (review_year - 1950)) as assessed_years,
            bit_or(
                case when is_poor then 1::hugeint << (review_year - 1950) else 0::hugeint end
            ) as poor_years,
            bit_or(
                case when is_near_poor then 1::hugeint << (review_year - 1950) else 0::hugeint end
            ) as near_poor_years
        from classified
        group by household_code
    ),

    joined as (
        select
            current_year.review_year,
            current_year.household_code,
            current_year.computed_class,
            current_year.is_poor,
            current_year.is_near_poor,
            household_years.assessed_years
            & (1::hugeint << (current_year.review_year - 1 - 1950)) <> 0
                as was_assessed_previous_year,
            household_years.poor_years
            & (1::hugeint << (current_year.review_year - 1 - 1950)) <> 0
                as is_poor_in_previous_year,
            household_years.near_poor_years
            & (1::hugeint << (current_year.review_year - 1 - 1950)) <> 0
                as was_near_poor_previous_year,
            household_years.poor_years
            & ((1::hugeint << (current_year.review_year - 1950)) - 1) <> 0 as was_poor_before,
            -- Bits y - 3, y - 2 and y - 1: the 36 months of support after leaving poverty.
            household_years.poor_years
            & (7::hugeint << (current_year.review_year - 3 - 1950)) <> 0
                as was_poor_in_last_three_reviews,
            coalesce(review_years.has_known_flows, false) as is_flow_known,
            current_year.loaded_at,
            current_year.run_id
        from current_year
        inner join household_years
            on current_year.household_code = household_years.household_code
        left join review_years
            on current_year.review_year = review_years.review_year
    ),

    final as (
        select
            review_year,
            household_code,
            computed_class,
            is_poor,
            case when was_assessed_previous_year then is_poor_in_previous_year end
                as was_poor_previous_year,
            was_assessed_previous_year,
            is_flow_known,
            case
                when not is_flow_known then null
                when is_poor_in_previous_year and not is_poor then 'exited_poverty'
                when is_poor and is_poor_in_previous_year then null
                when is_poor and not was_poor_before then 'newly_poor'
                when is_poor and was_assessed_previous_year then 'returned_to_poverty'
                when is_poor then 'reappeared_poor'
            end as flow,
            case
                when not is_flow_known then null
                when was_near_poor_previous_year and is_poor then 'near_poor_to_poor'
                when is_poor_in_previous_year and is_near_poor then 'poor_to_near_poor'
                when was_near_poor_previous_year and not is_near_poor then 'exited_near_poverty'
                when is_near_poor and not was_near_poor_previous_year then 'newly_near_poor'
            end as near_poor_flow,
            case
                when is_flow_known then not is_poor and was_poor_in_last_three_reviews
            end as is_recently_exited_poverty,
            loaded_at,
            run_id
        from joined
    ),

    -- Only the household-years with a movement or a recent exit are stored: the marts count those,
    -- and the others (two thirds of a country's rows) would only be written to be filtered out.
    household_rows as (
        select
            review_year,
            household_code,
            computed_class,
            is_poor,
            was_poor_previous_year,
            was_assessed_previous_year,
            is_flow_known,
            flow,
            near_poor_flow,
            is_recently_exited_poverty,
            loaded_at,
            run_id,
            null::bigint as classified_households,
            null::ubigint as history_fingerprint
        from final
        where flow is not null or near_poor_flow is not null or is_recently_exited_poverty
    ),

    -- One row per review year built (household_code NULL): it records what the year was built
    -- from, and it is there even when the year has no flows (delete+insert replaces only the years
    -- present in a build, so a rebuilt year must never come out empty).
    year_rows as (
        select
            histories.review_year,
            null::varchar as household_code,
            null::varchar as computed_class,
            null::boolean as is_poor,
            null::boolean as was_poor_previous_year,
            null::boolean as was_assessed_previous_year,
            histories.has_known_flows as is_flow_known,
            null::varchar as flow,
            null::varchar as near_poor_flow,
            null::boolean as is_recently_exited_poverty,
            null::timestamp as loaded_at,
            null::varchar as run_id,
            histories.households as classified_households,
            histories.history_fingerprint
        from histories
        {% if is_incremental() %}
            where histories.review_year in ({{ years_to_build }})
        {% endif %}
    )

    {% if households_to_build %}
        select * from household_rows
        union all
    {% endif %}
    select * from year_rows
{% endif %}
