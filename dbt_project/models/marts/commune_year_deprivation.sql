with

commune_year as (
    select * from {{ ref('commune_year') }}
),

classified as (
    select * from {{ ref('int_households_classified') }}
),

indicators as (
    select * from {{ ref('deprivation_indicators') }}
),

poor_households as (
    select
        review_year,
        unit_version,
        commune_code,
        household_code,
        columns('^d_')
    from classified
    where is_poor
),

poor_deprivations as (
    unpivot poor_households
    on columns('^d_')
    into name indicator_code value is_deprived
),

deprived_counts as (
    select
        review_year,
        unit_version,
        commune_code,
        indicator_code,
        count(*) filter (where is_deprived) as deprived_poor_households
    from poor_deprivations
    group by review_year, unit_version, commune_code, indicator_code
),

-- Every commune of commune_year gets every indicator, also when it has no poor household.
final as (
    select
        commune_year.review_year,
        commune_year.unit_version,
        commune_year.commune_code,
        indicators.service_code,
        indicators.indicator_code,
        commune_year.poor_households,
        cast(coalesce(deprived_counts.deprived_poor_households, 0) as bigint)
            as deprived_poor_households,
        100 * cast(
            commune_year.poor_households
            - coalesce(deprived_counts.deprived_poor_households, 0) as double
        ) / nullif(commune_year.poor_households, 0) as access_rate
    from commune_year
    cross join indicators
    left join deprived_counts
        on
            commune_year.review_year = deprived_counts.review_year
            and commune_year.unit_version = deprived_counts.unit_version
            and commune_year.commune_code = deprived_counts.commune_code
            and indicators.indicator_code = deprived_counts.indicator_code
)

select * from final
