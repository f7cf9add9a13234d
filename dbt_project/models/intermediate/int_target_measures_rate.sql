-- The measures of the rate-fall targets (T1, T2, T6, T7): the rate each target follows in every
-- review year, and that rate if the poor households not reviewed again were still poor.
-- target_progress judges the mean of its yearly falls.
with

targets as (
    select distinct
        plan_id,
        territory,
        target_id,
        measure,
        unit_version,
        province_code,
        baseline_year
    from {{ ref('int_plan_target_years') }}
    where measure_kind = 'mean_annual_fall'
),

review_years as (
    select * from {{ ref('int_review_years_described') }}
),

territory_year as (
    select * from {{ ref('territory_year') }}
),

apportioned as (
    select * from {{ ref('int_commune_years_apportioned') }}
),

-- The poor households each review did not see again, counted as still poor where they were last
-- assessed (int_households_not_reviewed_since), over the communes the territory's counts use.
territory_not_reviewed as (
    select
        review_year,
        unit_version,
        province_code,
        sum(poor_not_reviewed_since) filter (where is_reported and has_totals)
            as poor_not_reviewed_since
    from apportioned
    group by all
),

-- The communes of the territory that were extremely difficult in the target's baseline review.
baseline_difficult as (
    select * from {{ ref('int_target_baseline_difficult_communes') }}
),

-- Their pooled rate in each review: counts of the review's communes placed in them, over the
-- reported communes with totals, as one rate.
difficult_sources as (
    select
        baseline_difficult.plan_id,
        baseline_difficult.territory,
        baseline_difficult.target_id,
        apportioned.review_year,
        apportioned.review_commune_code,
        bool_and(apportioned.is_native) as is_native,
        sum(apportioned.allocation_share) as set_allocation_share,
        bool_or(apportioned.is_reported and apportioned.has_totals) as is_counted,
        sum(apportioned.poor_households) as poor_households,
        sum(apportioned.poor_not_reviewed_since) as poor_not_reviewed_since,
        sum(apportioned.total_households) as total_households
    from baseline_difficult
    inner join apportioned
        on
            baseline_difficult.unit_version = apportioned.unit_version
            and baseline_difficult.commune_code = apportioned.commune_code
    group by all
),

difficult_rates as (
    select
        plan_id,
        territory,
        target_id,
        review_year,
        {{ set_method('is_native', 'set_allocation_share') }} as method,
        100 * sum(poor_households) filter (where is_counted)
        / nullif(sum(total_households) filter (where is_counted), 0) as pooled_rate,
        100 * (
            cast(sum(poor_households) filter (where is_counted) as double)
            + cast(sum(poor_not_reviewed_since) filter (where is_counted) as double)
        )
        / nullif(sum(total_households) filter (where is_counted), 0)
            as pooled_rate_if_not_reassessed_poor,
        sum(poor_not_reviewed_since) filter (where is_counted) as poor_not_reviewed_since
    from difficult_sources
    group by all
),

final as (
    select
        targets.plan_id,
        targets.territory,
        targets.target_id,
        review_years.review_year,
        difficult_rates.method,
        case targets.measure
            when 'mean_annual_fall_poverty_rate' then territory_year.poverty_rate
            when 'mean_annual_fall_extremely_difficult_rate' then difficult_rates.pooled_rate
        end as measured_value,
        cast(null as double) as target_value,
        -- The rate if the poor households not reviewed again were still poor (numerator only:
        -- the commune totals already count them as resident).
        case targets.measure
            when 'mean_annual_fall_poverty_rate'
                then
                    territory_year.poverty_rate
                    + 100
                    * cast(coalesce(territory_not_reviewed.poor_not_reviewed_since, 0) as double)
                    / nullif(territory_year.total_households, 0)
            when 'mean_annual_fall_extremely_difficult_rate'
                then difficult_rates.pooled_rate_if_not_reassessed_poor
        end as measured_value_if_not_reassessed_poor,
        case targets.measure
            when 'mean_annual_fall_poverty_rate'
                then cast(coalesce(territory_not_reviewed.poor_not_reviewed_since, 0) as double)
            when 'mean_annual_fall_extremely_difficult_rate'
                then cast(coalesce(difficult_rates.poor_not_reviewed_since, 0) as double)
        end as poor_not_reviewed_since,
        cast(null as integer) as value_floor,
        cast(null as integer) as value_ceiling,
        true as rests_on_baseline,
        case targets.measure
            when 'mean_annual_fall_poverty_rate'
                then 'the territory''s poverty rate since ' || targets.baseline_year
            when 'mean_annual_fall_extremely_difficult_rate'
                then
                    'the pooled rate of the communes extremely difficult in '
                    || targets.baseline_year
        end as series_name,
        case targets.measure
            when 'mean_annual_fall_poverty_rate'
                then 'tỷ lệ hộ nghèo của địa bàn từ năm ' || targets.baseline_year
            when 'mean_annual_fall_extremely_difficult_rate'
                then
                    'tỷ lệ hộ nghèo chung của các xã đặc biệt khó khăn năm '
                    || targets.baseline_year
        end as series_name_vi,
        cast(null as varchar) as value_note,
        cast(null as varchar) as value_note_vi,
        cast(null as varchar) as missing_reason,
        cast(null as varchar) as missing_reason_vi
    from targets
    inner join review_years on true
    left join territory_year
        on
            targets.territory = territory_year.territory
            and review_years.review_year = territory_year.review_year
    left join territory_not_reviewed
        on
            targets.unit_version = territory_not_reviewed.unit_version
            and targets.province_code = territory_not_reviewed.province_code
            and review_years.review_year = territory_not_reviewed.review_year
    left join difficult_rates
        on
            targets.plan_id = difficult_rates.plan_id
            and targets.territory = difficult_rates.territory
            and targets.target_id = difficult_rates.target_id
            and review_years.review_year = difficult_rates.review_year
)

select * from final
