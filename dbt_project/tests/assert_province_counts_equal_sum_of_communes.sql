-- A returned row is a province and review year whose household counts differ from the sum of
-- its communes' counts in commune_year (the province marts must add up, never average).
with

commune_year as (
    select * from {{ ref('commune_year') }}
),

province_year as (
    select * from {{ ref('province_year') }}
),

summed_communes as (
    select
        review_year,
        unit_version,
        province_code,
        count(*) as communes,
        sum(total_households) as total_households,
        sum(assessed_households) as assessed_households,
        sum(poor_households) as poor_households,
        sum(near_poor_households) as near_poor_households,
        sum(middle_households) as middle_households,
        sum(exited_poverty) as exited_poverty,
        sum(newly_poor) as newly_poor,
        sum(returned_to_poverty) as returned_to_poverty
    from commune_year
    group by review_year, unit_version, province_code
),

final as (
    select
        province_year.review_year,
        province_year.unit_version,
        province_year.province_code
    from province_year
    full outer join summed_communes
        on
            province_year.review_year = summed_communes.review_year
            and province_year.unit_version = summed_communes.unit_version
            and province_year.province_code = summed_communes.province_code
    where
        summed_communes.review_year is null and province_year.communes > 0
        or province_year.review_year is null
        or province_year.communes is distinct from summed_communes.communes
        or province_year.total_households is distinct from summed_communes.total_households
        or province_year.assessed_households
        is distinct from summed_communes.assessed_households
        or province_year.poor_households is distinct from summed_communes.poor_households
        or province_year.near_poor_households
        is distinct from summed_communes.near_poor_households
        or province_year.middle_households is distinct from summed_communes.middle_households
        or province_year.exited_poverty is distinct from summed_communes.exited_poverty
        or province_year.newly_poor is distinct from summed_communes.newly_poor
        or province_year.returned_to_poverty
        is distinct from summed_communes.returned_to_poverty
)

select * from final
