{#- The households a review should have seen and did not, counted as still poor: for review y,
    every household poor in its last review before y and assessed in no review since (y
    included), placed on review y's units where it was last assessed. Within one unit version
    that is its last commune; across the 2025 reorganisation it is placed as the harmonised
    series places a pre-2025 household (own code first, then the crosswalk's forward weights),
    so the households not reassessed in y (last review y - 1) are the same rows as
    int_households_previously_poor_placed's not reassessed ones. Feeds the sensitivity of the
    rate targets (target_progress.actual_if_not_reassessed_poor). -#}
with

-- Not materialized: each reference reads only its columns from the classification view.
classified as not materialized (
    select * from {{ ref('int_households_classified') }}
),

review_years as (
    select * from {{ ref('int_review_years_described') }}
),

crosswalk as (
    select * from {{ ref('int_communes_crosswalked') }}
),

-- Only households poor in some review can leave a gap: the window below reads their rows alone.
ever_poor as (
    select distinct household_code
    from classified
    where is_poor
),

assessments as (
    select
        classified.household_code,
        classified.review_year,
        classified.unit_version,
        classified.commune_code,
        classified.is_poor,
        lead(classified.review_year) over (
            partition by classified.household_code order by classified.review_year
        ) as next_review_year
    from classified
    inner join ever_poor on classified.household_code = ever_poor.household_code
),

-- Review y counts the household when its last review before y found it poor and no review
-- from then up to y (included) assessed it.
gaps as (
    select
        review_years.review_year,
        review_years.unit_version as review_unit_version,
        assessments.household_code,
        assessments.review_year as last_review_year,
        assessments.unit_version,
        assessments.commune_code
    from assessments
    inner join review_years
        on
            assessments.review_year < review_years.review_year
            and (
                assessments.next_review_year is null
                or assessments.next_review_year > review_years.review_year
            )
    where assessments.is_poor
),

crossing as (
    select
        gaps.*,
        {{ placed_commune_code('gaps') }} as own_code_commune_code
    from gaps
    {{ join_household_placement('gaps') }}
    where gaps.unit_version <> gaps.review_unit_version
),

placed as (
    select
        review_year,
        review_unit_version,
        household_code,
        last_review_year,
        unit_version as last_unit_version,
        commune_code as last_commune_code,
        commune_code,
        {{ exact_weight(1) }} as weight
    from gaps
    where unit_version = review_unit_version
    union all
    select
        review_year,
        review_unit_version,
        household_code,
        last_review_year,
        unit_version as last_unit_version,
        commune_code as last_commune_code,
        own_code_commune_code as commune_code,
        {{ exact_weight(1) }} as weight
    from crossing
    where own_code_commune_code is not null
    union all
    select
        crossing.review_year,
        crossing.review_unit_version,
        crossing.household_code,
        crossing.last_review_year,
        crossing.unit_version as last_unit_version,
        crossing.commune_code as last_commune_code,
        crosswalk.new_commune_code as commune_code,
        crosswalk.forward_weight as weight
    from crossing
    inner join crosswalk on crossing.commune_code = crosswalk.old_commune_code
    where crossing.own_code_commune_code is null
),

final as (
    select
        review_year,
        review_unit_version as unit_version,
        household_code,
        last_review_year,
        last_unit_version,
        last_commune_code,
        commune_code,
        weight
    from placed
)

select * from final
