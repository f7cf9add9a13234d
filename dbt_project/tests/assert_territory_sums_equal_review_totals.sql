-- A returned row is a review whose households, summed over all the territories of one unit
-- version, differ from the review's own totals: the harmonised series would create or lose
-- households in carrying the review across the 2025 reorganisation.
with

territory_year as (
    select * from {{ ref('territory_year') }}
),

-- The review's own counts: its communes as reported, each counted once on its own unit version
-- (commune_year is built from the households directly, not through the crosswalk).
communes as (
    select * from {{ ref('commune_year') }}
),

-- Counts over the reported communes with totals, as the territories (and provinces) count.
review_counts as (
    select
        review_year,
        sum(assessed_households) as assessed_households,
        sum(poor_households) as poor_households,
        sum(total_households) as total_households
    from communes
    where reporting_status = 'reported'
    group by review_year
),

territory_sums as (
    select
        review_year,
        territory_unit_version,
        sum(assessed_households) as assessed_households,
        sum(poor_households) as poor_households,
        sum(total_households) as total_households
    from territory_year
    group by review_year, territory_unit_version
),

final as (
    select
        territory_sums.*,
        review_counts.assessed_households as review_assessed_households,
        review_counts.poor_households as review_poor_households,
        review_counts.total_households as review_total_households
    from territory_sums
    left join review_counts on territory_sums.review_year = review_counts.review_year
)

select * from final
where
    abs(coalesce(assessed_households, 0) - coalesce(review_assessed_households, 0))
    > 1e-6 + 1e-9 * abs(coalesce(review_assessed_households, 0))
    or abs(coalesce(poor_households, 0) - coalesce(review_poor_households, 0))
    > 1e-6 + 1e-9 * abs(coalesce(review_poor_households, 0))
    or abs(coalesce(total_households, 0) - coalesce(review_total_households, 0))
    > 1e-6 + 1e-9 * abs(coalesce(review_total_households, 0))
