-- One row per plan, territory, target and loaded review year of the plan's period: what the
-- measures measure and the judgement judges. The measure's kind (a mean of yearly falls, or a
-- level read at each review) decides how target_progress judges it.
with

plans as (
    select * from {{ ref('plans_applied') }}
),

plan_targets as (
    select * from {{ ref('plan_targets') }}
),

review_years as (
    select * from {{ ref('int_review_years_described') }}
),

territory_names as (
    select distinct
        territory,
        territory_name_vi
    from {{ ref('territory_year') }}
),

final as (
    select
        plans.plan_id,
        plans.territory,
        territory_names.territory_name_vi,
        split_part(plans.territory, ':', 1) as unit_version,
        split_part(plans.territory, ':', 2) as province_code,
        plan_targets.target_id,
        -- T1 ... T10 in their number's order, not as text (T10 after T9).
        cast(regexp_extract(plan_targets.target_id, '[0-9]+') as integer) as target_order,
        plan_targets.description,
        plan_targets.description_vi,
        plan_targets.measure,
        case
            when plan_targets.measure like 'mean_annual_fall_%' then 'mean_annual_fall'
            else 'level'
        end as measure_kind,
        plan_targets.required_value as required,
        plan_targets.comparison,
        plans.period_start,
        plans.period_end,
        coalesce(plan_targets.baseline_year, plans.baseline_year) as baseline_year,
        review_years.review_year,
        baseline_review.review_year is not null as is_baseline_loaded
    from plans
    inner join plan_targets on plans.plan_id = plan_targets.plan_id
    inner join review_years
        on review_years.review_year between plans.period_start and plans.period_end
    left join review_years as baseline_review
        on coalesce(plan_targets.baseline_year, plans.baseline_year) = baseline_review.review_year
    left join territory_names on plans.territory = territory_names.territory
)

select * from final
