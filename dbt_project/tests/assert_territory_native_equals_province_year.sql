-- A returned row is a territory in a review of its own unit version whose counts differ from its
-- province's in province_year (both over the reported communes with totals). The harmonised
-- series would then not be the sum of the territory's communes exactly.
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
        territory_year.assessed_households,
        province_year.assessed_households as province_assessed_households,
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
    or assessed_households is distinct from cast(province_assessed_households as double)
    or total_households is distinct from cast(province_total_households as double)
