{{ config(alias='plans') }}

with

plans as (
    select * from {{ ref('plans') }}
),

territories as (
    select distinct
        territory,
        territory_unit_version
    from {{ ref('territory_year') }}
),

-- A seed row whose territory is `*` or `<unit version>:*` is a template_plan for every province
-- territory it matches; a row naming one territory is that province's own plan.
matched as (
    select
        plans.plan_id,
        plans.name,
        territories.territory,
        plans.period_start,
        plans.period_end,
        plans.baseline_year,
        plans.legal_source,
        plans.territory = territories.territory as is_specific
    from plans
    inner join territories
        on
            plans.territory = '*'
            or plans.territory = territories.territory_unit_version || ':*'
            or plans.territory = territories.territory
),

-- Reviews from 2025 on are held on the 2025 units (Decision 19/2025/QĐ-TTg, from 2025-07-01).
reorganisation as (
    select 2025 as first_review_year
),

-- A province's own plan replaces any template_plan whose period overlaps it on that territory.
-- A plan whose period starts after the 2025 reorganisation is for 2025 provinces only.
issued as (
    select
        template_plan.plan_id,
        template_plan.name,
        template_plan.territory,
        template_plan.period_start,
        template_plan.period_end,
        template_plan.baseline_year,
        template_plan.legal_source
    from matched as template_plan
    where
        not exists (
            select 1
            from matched as specific
            where
                specific.is_specific
                and not template_plan.is_specific
                and specific.territory = template_plan.territory
                and specific.period_start <= template_plan.period_end
                and specific.period_end >= template_plan.period_start
        )
        and not (
            template_plan.territory like 'pre2025:%'
            and template_plan.period_start
            >= (select reorganisation.first_review_year from reorganisation)
        )
),

-- A plan of a pre-2025 province whose period reaches the reorganisation is also followed on each
-- 2025 province that took in part of that province: the merged province reports the period's
-- result on its new territory (its harmonised series from the plan's first year).
successor_provinces as (
    select distinct
        'pre2025:' || old_province_code as territory,
        '2025:' || new_province_code as successor_territory
    from {{ ref('int_communes_crosswalked') }}
    where old_province_code is not null and new_province_code is not null
),

followed_on_successors as (
    select distinct
        issued.plan_id,
        issued.name,
        successor_provinces.successor_territory as territory,
        issued.period_start,
        issued.period_end,
        issued.baseline_year,
        issued.legal_source
    from issued
    inner join successor_provinces on issued.territory = successor_provinces.territory
    inner join territories on successor_provinces.successor_territory = territories.territory
    where issued.period_end >= (select reorganisation.first_review_year from reorganisation)
),

final as (
    select * from issued
    union
    select * from followed_on_successors
)

select * from final
