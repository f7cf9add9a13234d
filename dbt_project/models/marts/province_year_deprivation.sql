with

commune_year_deprivation as (
    select * from {{ ref('commune_year_deprivation') }}
),

commune_year as (
    select * from {{ ref('commune_year') }}
),

summed as (
    select
        commune_year_deprivation.review_year,
        commune_year_deprivation.unit_version,
        commune_year.province_code,
        commune_year_deprivation.service_code,
        commune_year_deprivation.indicator_code,
        cast(sum(commune_year_deprivation.poor_households) as bigint) as poor_households,
        cast(sum(commune_year_deprivation.deprived_poor_households) as bigint)
            as deprived_poor_households
    from commune_year_deprivation
    inner join commune_year
        on
            commune_year_deprivation.review_year = commune_year.review_year
            and commune_year_deprivation.unit_version = commune_year.unit_version
            and commune_year_deprivation.commune_code = commune_year.commune_code
    group by
        commune_year_deprivation.review_year,
        commune_year_deprivation.unit_version,
        commune_year.province_code,
        commune_year_deprivation.service_code,
        commune_year_deprivation.indicator_code
),

final as (
    select
        review_year,
        unit_version,
        province_code,
        service_code,
        indicator_code,
        poor_households,
        deprived_poor_households,
        100 * cast(poor_households - deprived_poor_households as double)
        / nullif(poor_households, 0) as access_rate
    from summed
)

select * from final
