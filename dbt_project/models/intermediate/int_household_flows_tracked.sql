{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='review_year',
        on_schema_change='sync_all_columns',
        post_hook=[
            "delete from {{ this }} where review_year not in (select distinct review_year from {{ ref('int_households_classified') }})",
        ],
    )
}}

{#- Incremental by review year. A flow in year y depends on y, y - 1 and whether the household
    was poor in any earlier year, so when the classification of year x changes (a new year, a
    re-sent year, a revised standard) every year from x on is rebuilt. Adding the newest year
    therefore rebuilds that year only; re-sending an old year rebuilds it and the years after. -#}
{% if is_incremental() %}
    {% set changed_years_sql %}
        with source_years as (
            select
                review_year,
                count(*) as row_count,
                bit_xor(hash(household_code, computed_class, loaded_at, run_id)) as fingerprint
            from {{ ref('int_households_classified') }}
            group by review_year
        ),
        built_years as (
            select
                review_year,
                count(*) as row_count,
                bit_xor(hash(household_code, computed_class, loaded_at, run_id)) as fingerprint
            from {{ this }}
            group by review_year
        ),
        review_years as (
            select review_year, has_known_flows from {{ ref('int_review_years_described') }}
        ),
        built_flow_years as (
            select distinct review_year, is_flow_known from {{ this }}
        ),
        first_changed as (
            select min(source_years.review_year) as review_year
            from source_years
            left join built_years on source_years.review_year = built_years.review_year
            left join review_years on source_years.review_year = review_years.review_year
            left join built_flow_years on source_years.review_year = built_flow_years.review_year
            where source_years.fingerprint is distinct from built_years.fingerprint
                or source_years.row_count is distinct from built_years.row_count
                or review_years.has_known_flows is distinct from built_flow_years.is_flow_known
        )
        select source_years.review_year
        from source_years
        inner join first_changed on source_years.review_year >= first_changed.review_year
        order by 1
    {% endset %}
    {% set years_to_build = review_years_to_build(changed_years_sql) %}
{% endif %}

with

classified as (
    select * from {{ ref('int_households_classified') }}
),

review_years as (
    select * from {{ ref('int_review_years_described') }}
),

current_year as (
    select * from classified
    {% if is_incremental() %}
        where review_year in ({{ years_to_build }})
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
)

select * from final
