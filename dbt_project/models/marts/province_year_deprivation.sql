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

-- Over the province's reported communes with totals, as every province count.
counted_communes as (
    select * from commune_year
    where reporting_status = 'reported'
),

summed as (
    select
        counted_communes.review_year,
        counted_communes.unit_version,
        counted_communes.province_code,
        counted_communes.standard_id,
        any_value(counted_communes.standard_verified) as standard_verified,
        weights.service_code,
        weights.service_name_vi,
        weights.indicator_code,
        weights.indicator_name_vi,
        any_value(weights.weight) as weight,
        cast(sum(counted_communes.poor_households) as bigint) as poor_households,
        cast(sum(coalesce(deprivations.deprived_poor_households, 0)) as bigint)
            as deprived_poor_households,
        cast(sum(counted_communes.near_poor_households) as bigint) as near_poor_households,
        cast(sum(coalesce(deprivations.deprived_near_poor_households, 0)) as bigint)
            as deprived_near_poor_households,
        cast(sum(coalesce(deprivations.deprived_identified_households, 0)) as bigint)
            as deprived_identified_households
    from counted_communes
    inner join weights
        on counted_communes.standard_id = weights.standard_id
    left join deprivations
        on
            counted_communes.review_year = deprivations.review_year
            and counted_communes.unit_version = deprivations.unit_version
            and counted_communes.commune_code = deprivations.commune_code
            and weights.indicator_code = deprivations.indicator_code
    group by
        counted_communes.review_year,
        counted_communes.unit_version,
        counted_communes.province_code,
        counted_communes.standard_id,
        weights.service_code,
        weights.service_name_vi,
        weights.indicator_code,
        weights.indicator_name_vi
),

-- An indicator's share of M0: its weight times its censored headcount, over the weighted sum of
-- all the standard's censored headcounts in the province (the common denominator cancels).
final as (
    select
        review_year,
        unit_version,
        province_code,
        standard_id,
        standard_verified,
        service_code,
        service_name_vi,
        indicator_code,
        indicator_name_vi,
        poor_households,
        deprived_poor_households,
        100 * cast(poor_households - deprived_poor_households as double)
        / nullif(poor_households, 0) as access_rate,
        near_poor_households,
        deprived_near_poor_households,
        100 * cast(near_poor_households - deprived_near_poor_households as double)
        / nullif(near_poor_households, 0) as near_poor_access_rate,
        100 * weight * deprived_identified_households / nullif(
            sum(weight * deprived_identified_households) over (
                partition by review_year, unit_version, province_code
            ),
            0
        ) as mpi_contribution_percent
    from summed
)

select * from final
