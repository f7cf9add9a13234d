-- A returned row is a review whose households, summed over all the territories of one unit
-- version, differ from the review's own totals: the harmonised series would create or lose
-- households in carrying the review across the 2025 reorganisation.
with

territory_year as (
    select * from {{ ref('territory_year') }}
),

classified as (
    select * from {{ ref('int_households_classified') }}
),

commune_totals as (
    select * from {{ ref('stg_review_exports__commune_totals') }}
),

reported_communes as (
    select distinct
        review_year,
        unit_version,
        commune_code
    from classified
),

-- Counts over the reported communes with totals, as the territories (and provinces) count.
review_households as (
    select
        classified.review_year,
        count(*) as assessed_households,
        count(*) filter (where classified.computed_class = 'poor') as poor_households
    from classified
    inner join commune_totals
        on
            classified.review_year = commune_totals.review_year
            and classified.unit_version = commune_totals.unit_version
            and classified.commune_code = commune_totals.commune_code
    group by classified.review_year
),

review_totals as (
    select
        commune_totals.review_year,
        sum(commune_totals.total_households) as total_households
    from commune_totals
    inner join reported_communes
        on
            commune_totals.review_year = reported_communes.review_year
            and commune_totals.unit_version = reported_communes.unit_version
            and commune_totals.commune_code = reported_communes.commune_code
    group by commune_totals.review_year
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
        review_households.assessed_households as review_assessed_households,
        review_households.poor_households as review_poor_households,
        review_totals.total_households as review_total_households
    from territory_sums
    left join review_households on territory_sums.review_year = review_households.review_year
    left join review_totals on territory_sums.review_year = review_totals.review_year
)

select * from final
where
    abs(coalesce(assessed_households, 0) - coalesce(review_assessed_households, 0))
    > 1e-6 + 1e-9 * abs(coalesce(review_assessed_households, 0))
    or abs(coalesce(poor_households, 0) - coalesce(review_poor_households, 0))
    > 1e-6 + 1e-9 * abs(coalesce(review_poor_households, 0))
    or abs(coalesce(total_households, 0) - coalesce(review_total_households, 0))
    > 1e-6 + 1e-9 * abs(coalesce(review_total_households, 0))
