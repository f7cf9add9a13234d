-- A returned row is a standard whose indicator_count in poverty_standards differs from the
-- number of its rows in standard_indicators: the documented count and the counted set disagree.
with

standards as (
    select distinct
        standard_id,
        indicator_count
    from {{ ref('poverty_standards') }}
),

indicator_sets as (
    select
        standard_id,
        count(*) as indicators
    from {{ ref('standard_indicators') }}
    where counted_in_standard
    group by standard_id
),

final as (
    select
        standards.standard_id,
        standards.indicator_count,
        indicator_sets.indicators
    from standards
    left join indicator_sets
        on standards.standard_id = indicator_sets.standard_id
    where standards.indicator_count is distinct from indicator_sets.indicators
)

select * from final
