{{ config(materialized='view') }}

{#- The households poor in the previous review and absent from this one, placed in this review's
    units (see int_households_previously_poor_placed: across 2025 a split commune's household is
    shared among the successors, so one household can have several rows and a weight below 1). -#}
with

placed as (
    select * from {{ ref('int_households_previously_poor_placed') }}
),

final as (
    select
        review_year,
        unit_version,
        household_code,
        previous_review_year,
        previous_unit_version,
        previous_commune_code,
        commune_code,
        province_code,
        weight
    from placed
    where not is_reassessed
)

select * from final
