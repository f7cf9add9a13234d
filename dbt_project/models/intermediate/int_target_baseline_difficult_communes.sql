-- For each plan, territory and target measured on the communes extremely difficult in its
-- baseline review (T2, T4, T7): those communes, in the territory's unit version.
with

targets as (
    select distinct
        plan_id,
        territory,
        target_id,
        unit_version,
        province_code,
        baseline_year
    from {{ ref('int_plan_target_years') }}
    where
        measure in (
            'mean_annual_fall_extremely_difficult_rate',
            'extremely_difficult_communes_fall_percent'
        )
),

target_communes as (
    select * from {{ ref('int_target_communes') }}
),

final as (
    select distinct
        targets.plan_id,
        targets.territory,
        targets.target_id,
        target_communes.unit_version,
        target_communes.commune_code
    from targets
    inner join target_communes
        on
            targets.baseline_year = target_communes.review_year
            and targets.unit_version = target_communes.unit_version
            and targets.province_code = target_communes.province_code
    where target_communes.is_extremely_difficult
)

select * from final
