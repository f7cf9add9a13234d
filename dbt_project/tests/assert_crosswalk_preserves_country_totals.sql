-- A returned row is a review whose country-wide total households change when its communes are
-- carried to the other unit version through the crosswalk (forward for a pre-2025 review,
-- backward for a 2025 one): the weights would create or lose households. A 2025 unit with no
-- pre-2025 commune in the mapping (the island special zones, which were districts without
-- communes) has nothing to be carried to and is left out of both sides.
with

commune_totals as (
    select * from {{ ref('stg_review_exports__commune_totals') }}
),

crosswalk as (
    select * from {{ ref('int_communes_crosswalked') }}
),

mapped_codes as (
    select distinct
        'pre2025' as unit_version,
        old_commune_code as commune_code
    from crosswalk
    union
    select distinct
        '2025' as unit_version,
        new_commune_code as commune_code
    from crosswalk
),

review_totals as (
    select
        commune_totals.review_year,
        commune_totals.unit_version,
        sum(commune_totals.total_households) as total_households
    from commune_totals
    inner join mapped_codes
        on
            commune_totals.unit_version = mapped_codes.unit_version
            and commune_totals.commune_code = mapped_codes.commune_code
    group by commune_totals.review_year, commune_totals.unit_version
),

forward_totals as (
    select
        commune_totals.review_year,
        commune_totals.unit_version,
        sum(commune_totals.total_households * crosswalk.forward_weight) as carried_households
    from commune_totals
    inner join crosswalk on commune_totals.commune_code = crosswalk.old_commune_code
    where commune_totals.unit_version = 'pre2025'
    group by commune_totals.review_year, commune_totals.unit_version
),

backward_totals as (
    select
        commune_totals.review_year,
        commune_totals.unit_version,
        sum(commune_totals.total_households * crosswalk.backward_weight) as carried_households
    from commune_totals
    inner join crosswalk on commune_totals.commune_code = crosswalk.new_commune_code
    where commune_totals.unit_version = '2025'
    group by commune_totals.review_year, commune_totals.unit_version
),

carried as (
    select * from forward_totals
    union all
    select * from backward_totals
),

final as (
    select
        review_totals.review_year,
        review_totals.unit_version,
        review_totals.total_households,
        carried.carried_households
    from review_totals
    left join carried
        on
            review_totals.review_year = carried.review_year
            and review_totals.unit_version = carried.unit_version
)

select * from final
-- a relative tolerance: a country's households summed as DOUBLE carry rounding of ~1e-12 each
where abs(coalesce(carried_households, 0) - total_households) > 1e-6 + 1e-9 * total_households
