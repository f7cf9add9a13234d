{#- The households a review should have seen and did not, counted as still poor: for review y,
    every household poor in its last review before y and assessed in no review since (y
    included), placed on review y's units where it was last assessed. Within one unit version
    that is its last commune; across the 2025 reorganisation it is placed as the harmonised
    series places a pre-2025 household (own code first, then the crosswalk's forward weights),
    so the households not reassessed in y (last review y - 1) are the same rows as
    int_households_previously_poor_placed's not reassessed ones. Feeds the sensitivity of the
    rate targets (target_progress.actual_if_not_reassessed_poor). -#}
{#- Reviews after a missing year need the branch below (macros/review_years_after_a_gap.sql). -#}
{%- set years_after_a_gap = review_years_after_a_gap() | trim -%}
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

previously_poor as (
    select * from {{ ref('int_households_previously_poor_placed') }}
),

-- A gap opens where a household poor in review r is not assessed in the next loaded review.
-- Where that review is r + 1 the previous-poor model already holds the pair (its rows not
-- reassessed, one per crosswalk share: made distinct here), so the 16.8 M assessments are not
-- scanned for the few thousand households that leave one.
seeds_after_consecutive as (
    select distinct
        household_code,
        previous_review_year as last_review_year,
        previous_unit_version as unit_version,
        previous_commune_code as commune_code
    from previously_poor
    where not is_reassessed
),

{%- if years_after_a_gap %}

    -- A loaded review followed by a missing year (2021 and 2023 loaded, 2022 not): the next
    -- loaded review is not r + 1 and has no previous-poor rows, so its gaps come from the
    -- assessments themselves. Compiled only when such a year is loaded: nationally the scan
    -- costs 4 s even when it finds nothing.
    review_gaps as (
        select
            review_years.review_year as last_review_year,
            min(later.review_year) as next_loaded_year
        from review_years
        inner join review_years as later on review_years.review_year < later.review_year
        group by review_years.review_year
        having min(later.review_year) > review_years.review_year + 1
    ),

    seeds_across_a_missing_year as (
        select
            last_year.household_code,
            last_year.review_year as last_review_year,
            last_year.unit_version,
            last_year.commune_code
        from classified as last_year
        inner join review_gaps on last_year.review_year = review_gaps.last_review_year
        where
            last_year.is_poor
            and not exists (
                select 1
                from classified as next_year
                where
                    next_year.review_year = review_gaps.next_loaded_year
                    and next_year.household_code = last_year.household_code
            )
    ),
{%- endif %}

seeds as (
    select * from seeds_after_consecutive
    {%- if years_after_a_gap %}
        union all
        select * from seeds_across_a_missing_year
    {%- endif %}
),

-- The household's next assessment after the review it was last seen poor in, if any.
next_assessments as (
    select
        seeds.household_code,
        seeds.last_review_year,
        min(classified.review_year) as next_review_year
    from seeds
    inner join classified
        on
            seeds.household_code = classified.household_code
            and seeds.last_review_year < classified.review_year
    group by seeds.household_code, seeds.last_review_year
),

-- Review y counts the household when its last review before y found it poor and no review
-- from then up to y (included) assessed it.
gaps as (
    select
        review_years.review_year,
        review_years.unit_version as review_unit_version,
        seeds.household_code,
        seeds.last_review_year,
        seeds.unit_version,
        seeds.commune_code
    from seeds
    left join next_assessments
        on
            seeds.household_code = next_assessments.household_code
            and seeds.last_review_year = next_assessments.last_review_year
    inner join review_years
        on
            seeds.last_review_year < review_years.review_year
            and (
                next_assessments.next_review_year is null
                or next_assessments.next_review_year > review_years.review_year
            )
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
