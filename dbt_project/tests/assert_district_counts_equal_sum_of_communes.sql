-- A returned row is a district and review year whose poor, near-poor or total household counts
-- differ from the sum of its communes' counts in commune_year.
with

commune_year as (
    select * from {{ ref('commune_year') }}
),

district_year as (
    select * from {{ ref('district_year') }}
),

summed_communes as (
    select
        review_year,
        district_code,
        sum(total_households) as total_households,
        sum(poor_households) as poor_households,
        sum(near_poor_households) as near_poor_households
    from commune_year
    where unit_version = 'pre2025'
    group by review_year, district_code
),

final as (
    select
        summed_communes.review_year,
        summed_communes.district_code
    from summed_communes
    left join district_year
        on
            summed_communes.review_year = district_year.review_year
            and summed_communes.district_code is not distinct from district_year.district_code
    where
        district_year.review_year is null
        or district_year.total_households is distinct from summed_communes.total_households
        or district_year.poor_households is distinct from summed_communes.poor_households
        or district_year.near_poor_households
        is distinct from summed_communes.near_poor_households
)

select * from final
