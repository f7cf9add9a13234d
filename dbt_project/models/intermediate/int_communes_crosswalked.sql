with

-- The links of the corrected crosswalk: the package's mapping after the seed
-- crosswalk_corrections (int_crosswalk_links_checked).
links as (
    select * from {{ ref('int_crosswalk_links_checked') }}
    where in_crosswalk
),

communes as (
    select * from {{ ref('stg_admin_units__communes') }}
),

commune_totals as (
    select * from {{ ref('stg_review_exports__commune_totals') }}
),

-- The weights rest on the last review held on pre-2025 units: the population the communes had
-- just before they were reorganised.
weights_review as (
    select max(review_year) as review_year
    from commune_totals
    where unit_version = 'pre2025'
),

predecessor_totals as (
    select
        commune_totals.commune_code,
        commune_totals.review_year,
        commune_totals.total_households
    from commune_totals
    inner join weights_review on commune_totals.review_year = weights_review.review_year
    where commune_totals.unit_version = 'pre2025'
),

pairs as (
    select
        old_commune_code,
        new_commune_code,
        count(*) over (partition by old_commune_code) > 1 as is_split
    from links
),

-- Forward: a pre-2025 commune goes to its successors in equal parts (the mapping gives no
-- population shares for a divided commune).
forward as (
    select
        pairs.*,
        count(*) over (partition by pairs.old_commune_code) as successors,
        {{ exact_share('count(*) over (partition by pairs.old_commune_code)') }} as forward_weight
    from pairs
),

-- What each predecessor brings to a 2025 commune, in parts of a household: its total households
-- times its forward weight, with the weights over their common denominator (the least common
-- multiple of the predecessors' successor counts), so that the shares below are ratios of
-- integers, exact to 18 decimals (macros/exact_share.sql).
common_denominators as (
    select
        new_commune_code,
        list_reduce(list(successors), lambda a, b: lcm(a, b)) as common_denominator  -- noqa: PRS
    from forward
    group by new_commune_code
),

contributions as (
    select
        forward.*,
        weights_review.review_year as weights_review_year,
        coalesce(predecessor_totals.total_households, 0) as old_total_households,
        common_denominators.common_denominator // forward.successors as forward_parts
    from forward
    inner join common_denominators
        on forward.new_commune_code = common_denominators.new_commune_code
    cross join weights_review
    left join predecessor_totals on forward.old_commune_code = predecessor_totals.commune_code
),

-- Backward: a 2025 commune is shared among its predecessors in proportion to the households
-- each contributed. Where none of them has a total in the weights review (a province the
-- warehouse never held on pre-2025 units), the forward weights alone give the proportions.
backward as (
    select
        contributions.*,
        contributions.old_total_households * contributions.forward_parts as contributed_parts,
        count(*) over (partition by contributions.new_commune_code) as predecessors,
        sum(contributions.old_total_households * contributions.forward_parts)
            over (partition by contributions.new_commune_code)
            as new_contributed_parts,
        sum(contributions.forward_parts)
            over (partition by contributions.new_commune_code)
            as new_forward_parts
    from contributions
),

final as (
    select
        backward.old_commune_code,
        old_units.province_code as old_province_code,
        backward.new_commune_code,
        new_units.province_code as new_province_code,
        backward.is_split,
        backward.successors,
        backward.predecessors,
        backward.weights_review_year,
        cast(backward.old_total_households as bigint) as old_total_households,
        backward.forward_weight,
        case
            when backward.new_contributed_parts > 0
                then {{ exact_ratio(
                    'backward.contributed_parts', 'backward.new_contributed_parts'
                ) }}
            else {{ exact_ratio('backward.forward_parts', 'backward.new_forward_parts') }}
        end as backward_weight
    from backward
    left join communes as old_units
        on
            old_units.unit_version = 'pre2025'
            and backward.old_commune_code = old_units.commune_code
    left join communes as new_units
        on
            new_units.unit_version = '2025'
            and backward.new_commune_code = new_units.commune_code
)

select * from final
