with

commune_year as (
    select * from {{ ref('commune_year') }}
),

weights as (
    select * from {{ ref('int_standard_indicator_weights') }}
),

deprivations as (
    select * from {{ ref('int_commune_deprivations_counted') }}
),

-- Every commune of commune_year gets every indicator of its review's standard, also without a
-- poor household; a commune that is not reported has NULL counts.
final as (
    select
        commune_year.review_year,
        commune_year.unit_version,
        commune_year.commune_code,
        commune_year.standard_id,
        weights.service_code,
        weights.service_name_vi,
        weights.indicator_code,
        weights.indicator_name_vi,
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
    inner join weights
        on commune_year.standard_id = weights.standard_id
    left join deprivations
        on
            commune_year.review_year = deprivations.review_year
            and commune_year.unit_version = deprivations.unit_version
            and commune_year.commune_code = deprivations.commune_code
            and weights.indicator_code = deprivations.indicator_code
)

select * from final
