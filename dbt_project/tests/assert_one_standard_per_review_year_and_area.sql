-- A returned row is a pair of poverty_standards seed rows whose review years overlap for the same
-- area type: a household of such a year would be classified twice.
with

standards as (
    select * from {{ ref('poverty_standards') }}
),

final as (
    select
        earlier.standard_id,
        later.standard_id as overlapping_standard_id,
        earlier.area_type
    from standards as earlier
    inner join standards as later
        on
            earlier.area_type = later.area_type
            and earlier.standard_id < later.standard_id
            and earlier.first_review_year <= later.last_review_year
            and earlier.last_review_year >= later.first_review_year
)

select * from final
