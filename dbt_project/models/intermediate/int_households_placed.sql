with

classified as (
    select
        review_year,
        unit_version,
        household_code,
        commune_code
    from {{ ref('int_households_classified') }}
),

crosswalk as (
    select
        old_commune_code,
        new_commune_code
    from {{ ref('int_communes_crosswalked') }}
),

-- Where each household was first seen on 2025 units and, if it was, last seen on pre-2025
-- units (a household seen on one version only is placed by nothing: no need to look it up).
first_2025 as (
    select
        household_code,
        arg_min(commune_code, review_year) as commune_code
    from classified
    where unit_version = '2025'
    group by household_code
),

last_pre2025 as (
    select
        household_code,
        arg_max(commune_code, review_year) as commune_code
    from classified
    where
        unit_version = 'pre2025'
        and household_code in (select first_2025.household_code from first_2025)
    group by household_code
),

-- A household of a 2025 review goes to its own latest pre-2025 commune when that commune is a
-- predecessor of its 2025 commune.
placed_backward as (
    select
        classified.review_year,
        classified.unit_version,
        classified.household_code,
        classified.commune_code,
        'pre2025' as placed_unit_version,
        last_pre2025.commune_code as placed_commune_code
    from classified
    inner join last_pre2025 on classified.household_code = last_pre2025.household_code
    inner join crosswalk
        on
            last_pre2025.commune_code = crosswalk.old_commune_code
            and classified.commune_code = crosswalk.new_commune_code
    where classified.unit_version = '2025'
),

-- A household of a pre-2025 review goes to the 2025 commune it was first assessed in, when that
-- commune is a successor of its pre-2025 commune.
placed_forward as (
    select
        classified.review_year,
        classified.unit_version,
        classified.household_code,
        classified.commune_code,
        '2025' as placed_unit_version,
        first_2025.commune_code as placed_commune_code
    from classified
    inner join first_2025 on classified.household_code = first_2025.household_code
    inner join crosswalk
        on
            classified.commune_code = crosswalk.old_commune_code
            and first_2025.commune_code = crosswalk.new_commune_code
    where classified.unit_version = 'pre2025'
),

final as (
    select * from placed_backward
    union all
    select * from placed_forward
)

select * from final
