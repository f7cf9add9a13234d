-- A returned row is a commune whose crosswalk weights do not sum to 1: a pre-2025 commune whose
-- forward weights to its successors, or a 2025 commune whose backward weights from its
-- predecessors, would create or lose households when the series is carried across 2025.
with

crosswalk as (
    select * from {{ ref('int_communes_crosswalked') }}
),

forward_sums as (
    select
        'forward' as direction,
        old_commune_code as commune_code,
        sum(forward_weight) as weight_sum
    from crosswalk
    group by old_commune_code
),

backward_sums as (
    select
        'backward' as direction,
        new_commune_code as commune_code,
        sum(backward_weight) as weight_sum
    from crosswalk
    group by new_commune_code
),

final as (
    select * from forward_sums
    union all
    select * from backward_sums
)

select * from final
where abs(weight_sum - 1) > 1e-9
