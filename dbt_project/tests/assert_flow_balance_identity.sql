-- A returned row is a review year whose flows are known but where, summed over all provinces,
-- poor(y) <> poor(y-1) - exited_poverty - poor_not_reassessed + newly_poor + returned_to_poverty.
with

province_year as (
    select * from {{ ref('province_year') }}
),

review_years as (
    select * from {{ ref('int_review_years_described') }}
),

yearly as (
    select
        review_year,
        sum(poor_households) as poor_households,
        sum(exited_poverty) as exited_poverty,
        sum(poor_not_reassessed) as poor_not_reassessed,
        sum(newly_poor) as newly_poor,
        sum(returned_to_poverty) as returned_to_poverty
    from province_year
    group by review_year
),

final as (
    select
        current_year.review_year,
        current_year.poor_households,
        previous_year.poor_households as previous_poor_households,
        current_year.exited_poverty,
        current_year.poor_not_reassessed,
        current_year.newly_poor,
        current_year.returned_to_poverty
    from yearly as current_year
    inner join review_years
        on current_year.review_year = review_years.review_year
    inner join yearly as previous_year
        on review_years.previous_review_year = previous_year.review_year
    where
        review_years.has_known_flows
        and current_year.poor_households is distinct from (
            previous_year.poor_households
            - current_year.exited_poverty
            - current_year.poor_not_reassessed
            + current_year.newly_poor
            + current_year.returned_to_poverty
        )
)

select * from final
