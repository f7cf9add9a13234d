{#- Where each household poor in the previous review stands in this review's units, with its
    weight. Within one unit version that is its previous commune. Across the 2025
    reorganisation a household reassessed in a successor of its 2024 commune stays there whole;
    any other (not reassessed, or reassessed elsewhere) is shared among its 2024 commune's
    successors in equal parts, the crosswalk's forward weights (the mapping gives no population
    shares). -#}
with

-- Not materialized: each reference reads only its columns and rows from the classification view
-- (DuckDB would otherwise store every household-year once for both).
classified as not materialized (
    select * from {{ ref('int_households_classified') }}
),

review_years as (
    select * from {{ ref('int_review_years_described') }}
),

communes as (
    select * from {{ ref('stg_admin_units__communes') }}
),

mappings as (
    select * from {{ ref('stg_admin_units__commune_mappings') }}
),

forward_weights as (
    select
        old_commune_code,
        new_commune_code,
        {{ exact_share('count(*) over (partition by old_commune_code)') }} as weight
    from (select distinct
        old_commune_code,
        new_commune_code
    from mappings) as pairs
),

previously_poor as (
    select
        review_years.review_year,
        review_years.unit_version,
        previous_year.household_code,
        previous_year.review_year as previous_review_year,
        previous_year.unit_version as previous_unit_version,
        previous_year.commune_code as previous_commune_code
    from review_years
    inner join classified as previous_year
        on review_years.previous_review_year = previous_year.review_year
    where previous_year.is_poor
),

with_current as (
    select
        previously_poor.*,
        current_year.household_code is not null as is_reassessed,
        current_year.commune_code as current_commune_code,
        current_year.is_poor as is_poor_now
    from previously_poor
    left join classified as current_year
        on
            previously_poor.review_year = current_year.review_year
            and previously_poor.household_code = current_year.household_code
),

with_stay as (
    select
        with_current.*,
        with_current.previous_unit_version = with_current.unit_version
        or exists (
            select 1
            from forward_weights
            where
                forward_weights.old_commune_code = with_current.previous_commune_code
                and forward_weights.new_commune_code = with_current.current_commune_code
        ) as is_same_unit_or_successor
    from with_current
),

placed as (
    select
        with_stay.*,
        with_stay.previous_commune_code as commune_code,
        {{ exact_weight(1) }} as weight
    from with_stay
    where with_stay.previous_unit_version = with_stay.unit_version
    union all
    select
        with_stay.*,
        with_stay.current_commune_code as commune_code,
        {{ exact_weight(1) }} as weight
    from with_stay
    where
        with_stay.previous_unit_version <> with_stay.unit_version
        and with_stay.is_reassessed
        and with_stay.is_same_unit_or_successor
    union all
    select
        with_stay.*,
        forward_weights.new_commune_code as commune_code,
        forward_weights.weight
    from with_stay
    inner join forward_weights
        on with_stay.previous_commune_code = forward_weights.old_commune_code
    where
        with_stay.previous_unit_version <> with_stay.unit_version
        and not (with_stay.is_reassessed and with_stay.is_same_unit_or_successor)
),

final as (
    select
        placed.review_year,
        placed.unit_version,
        placed.household_code,
        placed.previous_review_year,
        placed.previous_unit_version,
        placed.previous_commune_code,
        placed.commune_code,
        communes.district_code,
        communes.province_code,
        placed.weight,
        placed.is_reassessed,
        placed.current_commune_code,
        current_communes.district_code as current_district_code,
        current_communes.province_code as current_province_code,
        placed.is_poor_now
    from placed
    left join communes
        on
            placed.unit_version = communes.unit_version
            and placed.commune_code = communes.commune_code
    left join communes as current_communes
        on
            placed.unit_version = current_communes.unit_version
            and placed.current_commune_code = current_communes.commune_code
)

select * from final
