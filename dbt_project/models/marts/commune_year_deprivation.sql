with

commune_year as (
    select * from {{ ref('commune_year') }}
),

indicators as (
    select * from {{ ref('standard_indicators') }}
),

review_years as (
    select * from {{ ref('int_review_years_described') }}
),

deprivations as (
    select * from {{ ref('int_commune_deprivations_counted') }}
),

-- Every commune of commune_year gets every indicator its review's standard counts, also without
-- a poor household; a commune that is not reported has NULL counts. An indicator published but
-- not counted (counted_in_standard false: Decree 351/2025's reported new ones) has a row only
-- where the commune's exports carry its column.
final as (
    select
        commune_year.review_year,
        commune_year.unit_version,
        commune_year.commune_code,
        commune_year.standard_id,
        review_years.standard_verified,
        indicators.service_code,
        indicators.service_name_vi,
        indicators.indicator_code,
        indicators.indicator_name_vi,
        indicators.counted_in_standard,
        commune_year.poor_households,
        case
            when commune_year.poor_households is not null
                then coalesce(deprivations.deprived_poor_households, 0)
        end as deprived_poor_households,
        100 * cast(
            commune_year.poor_households
            - coalesce(deprivations.deprived_poor_households, 0) as double
        ) / nullif(commune_year.poor_households, 0) as access_rate,
        commune_year.near_poor_households,
        case
            when commune_year.near_poor_households is not null
                then coalesce(deprivations.deprived_near_poor_households, 0)
        end as deprived_near_poor_households,
        100 * cast(
            commune_year.near_poor_households
            - coalesce(deprivations.deprived_near_poor_households, 0) as double
        ) / nullif(commune_year.near_poor_households, 0) as near_poor_access_rate
    from commune_year
    inner join indicators
        on commune_year.standard_id = indicators.standard_id
    left join deprivations
        on
            commune_year.review_year = deprivations.review_year
            and commune_year.unit_version = deprivations.unit_version
            and commune_year.commune_code = deprivations.commune_code
            and indicators.indicator_code = deprivations.indicator_code
    left join review_years
        on commune_year.review_year = review_years.review_year
    where indicators.counted_in_standard or deprivations.indicator_code is not null
)

select * from final
