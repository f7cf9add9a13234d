-- A returned row is a territory in a review of its own unit version whose counts differ from the
-- province_year row of the same province: the harmonised series would not be the sum of the
-- territory's communes exactly.
with

territory_year as (
    select * from {{ ref('territory_year') }}
    where method = 'native'
),

province_year as (
    select * from {{ ref('province_year') }}
),

final as (
    select
        territory_year.territory,
        territory_year.review_year,
        territory_year.poor_households,
        province_year.poor_households as province_poor_households,
        territory_year.total_households,
        province_year.total_households as province_total_households
    from territory_year
    left join province_year
        on
            territory_year.review_year = province_year.review_year
            and territory_year.territory_unit_version = province_year.unit_version
            and territory_year.province_code = province_year.province_code
)

select * from final
where
    poor_households is distinct from cast(province_poor_households as double)
    or total_households is distinct from cast(province_total_households as double)
