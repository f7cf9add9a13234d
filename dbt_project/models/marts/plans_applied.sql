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

-- A province's own plan replaces any template_plan whose period overlaps it on that territory.
final as (
    select
        template_plan.plan_id,
        template_plan.name,
        template_plan.territory,
        template_plan.period_start,
        template_plan.period_end,
        template_plan.baseline_year,
        template_plan.legal_source
    from matched as template_plan
    where not exists (
        select 1
        from matched as specific
        where
            specific.is_specific
            and not template_plan.is_specific
            and specific.territory = template_plan.territory
            and specific.period_start <= template_plan.period_end
            and specific.period_end >= template_plan.period_start
    )
)

select * from final
