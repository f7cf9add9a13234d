-- A returned row is a territory in a review of its own unit version whose counts differ from its
-- province's: poor and assessed households from province_year, total households from the
-- province's reported communes in commune_year (a commune without a loaded survey row adds no
-- denominator, as the completeness rule says). The harmonised series would then not be the sum
-- of the territory's communes exactly.
with

territory_year as (
    select * from {{ ref('territory_year') }}
    where method = 'native'
),

province_year as (
    select * from {{ ref('province_year') }}
),

commune_year as (
    select * from {{ ref('commune_year') }}
),

reported_totals as (
    select
        review_year,
        unit_version,
        province_code,
        sum(total_households) as total_households
    from commune_year
    where assessed_households > 0
    group by review_year, unit_version, province_code
),

final as (
    select
        territory_year.territory,
        territory_year.review_year,
        territory_year.poor_households,
        province_year.poor_households as province_poor_households,
        territory_year.assessed_households,
        province_year.assessed_households as province_assessed_households,
        territory_year.total_households,
        reported_totals.total_households as province_total_households
    from territory_year
    left join province_year
        on
            territory_year.review_year = province_year.review_year
            and territory_year.territory_unit_version = province_year.unit_version
            and territory_year.province_code = province_year.province_code
    left join reported_totals
        on
            territory_year.review_year = reported_totals.review_year
            and territory_year.territory_unit_version = reported_totals.unit_version
            and territory_year.province_code = reported_totals.province_code
)

select * from final
where
    poor_households is distinct from cast(province_poor_households as double)
    or assessed_households is distinct from cast(province_assessed_households as double)
    or total_households is distinct from cast(province_total_households as double)
