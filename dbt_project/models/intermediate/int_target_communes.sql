-- Each commune of a territory's unit version as measured in every review: whole in a review of
-- its own units, through the crosswalk in the other. Across versions a commune counts as
-- extremely difficult when a commune it shares territory with is (for a pre-2025 commune in a
-- 2025 review: one of its successors).
with

apportioned as (
    select * from {{ ref('int_commune_years_apportioned') }}
),

final as (
    select
        review_year,
        unit_version,
        province_code,
        commune_code,
        bool_or(is_extremely_difficult) as is_extremely_difficult,
        sum(difficult_villages) as difficult_villages,
        sum(poor_meritorious_family) filter (where is_reported) as poor_meritorious_family
    from apportioned
    group by all
)

select * from final
