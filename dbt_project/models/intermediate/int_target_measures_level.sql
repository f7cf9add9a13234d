-- The measures of the level and count targets read from the territory's communes: poor
-- meritorious families (T3), the baseline's extremely difficult communes no longer extremely
-- difficult (T4), the fall of extremely difficult villages (T5, T9) and the extremely difficult
-- communes left (T8), in every review year, with the value in the target's own unit
-- (target_value) and a sentence saying what it is.
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
    where
        measure in (
            'poor_meritorious_family',
            'extremely_difficult_communes_fall_percent',
            'difficult_villages_fall_percent',
            'extremely_difficult_communes'
        )
),

review_years as (
    select * from {{ ref('int_review_years_described') }}
),

target_communes as (
    select * from {{ ref('int_target_communes') }}
),

territory_counts as (
    select
        review_year,
        unit_version,
        province_code,
        count(*) filter (where is_extremely_difficult) as extremely_difficult_communes,
        sum(difficult_villages) as difficult_villages,
        sum(poor_meritorious_family) as poor_meritorious_family
    from target_communes
    group by all
),

-- The communes of the territory that were extremely difficult in the target's baseline review.
baseline_difficult as (
    select * from {{ ref('int_target_baseline_difficult_communes') }}
),

-- How they are measured in each review (their territory across the 2025 reorganisation).
difficult_methods as (
    select
        plan_id,
        territory,
        target_id,
        review_year,
        {{ set_method('is_native', 'set_allocation_share') }} as method
    from (
        select
            baseline_difficult.plan_id,
            baseline_difficult.territory,
            baseline_difficult.target_id,
            apportioned.review_year,
            apportioned.review_commune_code,
            bool_and(apportioned.is_native) as is_native,
            sum(apportioned.allocation_share) as set_allocation_share
        from baseline_difficult
        inner join {{ ref('int_commune_years_apportioned') }} as apportioned
            on
                baseline_difficult.unit_version = apportioned.unit_version
                and baseline_difficult.commune_code = apportioned.commune_code
        group by all
    )
    group by all
),

difficult_remaining as (
    select
        baseline_difficult.plan_id,
        baseline_difficult.territory,
        baseline_difficult.target_id,
        target_communes.review_year,
        count(*) as baseline_communes,
        count(*) filter (where not target_communes.is_extremely_difficult) as communes_left
    from baseline_difficult
    inner join target_communes
        on
            baseline_difficult.unit_version = target_communes.unit_version
            and baseline_difficult.commune_code = target_communes.commune_code
    group by all
),

series as (
    select
        targets.plan_id,
        targets.territory,
        targets.target_id,
        targets.measure,
        targets.baseline_year,
        review_years.review_year,
        difficult_remaining.communes_left,
        difficult_remaining.baseline_communes,
        difficult_methods.method,
        case targets.measure
            when 'poor_meritorious_family' then territory_counts.poor_meritorious_family
            when 'extremely_difficult_communes_fall_percent'
                then cast(difficult_remaining.baseline_communes as double)
            when 'extremely_difficult_communes'
                then cast(territory_counts.extremely_difficult_communes as double)
            when 'difficult_villages_fall_percent' then territory_counts.difficult_villages
        end as measured_value
    from targets
    inner join review_years on true
    left join territory_counts
        on
            targets.unit_version = territory_counts.unit_version
            and targets.province_code = territory_counts.province_code
            and review_years.review_year = territory_counts.review_year
    left join difficult_remaining
        on
            targets.plan_id = difficult_remaining.plan_id
            and targets.territory = difficult_remaining.territory
            and targets.target_id = difficult_remaining.target_id
            and review_years.review_year = difficult_remaining.review_year
    left join difficult_methods
        on
            targets.plan_id = difficult_methods.plan_id
            and targets.territory = difficult_methods.territory
            and targets.target_id = difficult_methods.target_id
            and review_years.review_year = difficult_methods.review_year
),

-- Rounded to 9 decimals: the measures sum fractional shares in an order DuckDB does not fix, so
-- unrounded they differed from one build to the next in the last digits, and a value exactly at
-- its target could be judged either way.
valued as (
    select
        series.*,
        baseline.measured_value as baseline_value,
        round(case series.measure
            when 'extremely_difficult_communes_fall_percent'
                then
                    100 * cast(series.communes_left as double)
                    / nullif(series.baseline_communes, 0)
            when 'difficult_villages_fall_percent'
                then 100 * (1 - series.measured_value / nullif(baseline.measured_value, 0))
            else series.measured_value
        end, 9) as target_value
    from series
    left join series as baseline
        on
            series.plan_id = baseline.plan_id
            and series.territory = baseline.territory
            and series.target_id = baseline.target_id
            and series.baseline_year = baseline.review_year
),

final as (
    select
        plan_id,
        territory,
        target_id,
        review_year,
        method,
        measured_value,
        target_value,
        cast(null as double) as measured_value_if_not_reassessed_poor,
        cast(null as double) as poor_not_reviewed_since,
        -- The values the measure can take, so that a projection stays inside them (a count
        -- does not fall below 0, a share not above 100 %); NULL: unbounded on that side.
        case when measure = 'difficult_villages_fall_percent' then null else 0 end
            as value_floor,
        case
            when
                measure in (
                    'extremely_difficult_communes_fall_percent', 'difficult_villages_fall_percent'
                )
                then 100
        end as value_ceiling,
        -- A count of this review alone rests on this review; a fall against the baseline on both.
        measure not in ('poor_meritorious_family', 'extremely_difficult_communes')
            as rests_on_baseline,
        cast(null as varchar) as series_name,
        cast(null as varchar) as series_name_vi,
        case measure
            when 'poor_meritorious_family'
                then
                    {{ count_text('target_value') }}
                    || ' poor households are meritorious families in review ' || review_year
            when 'extremely_difficult_communes_fall_percent'
                then
                    communes_left || ' of the ' || baseline_communes
                    || ' communes extremely difficult in ' || baseline_year
                    || ' are no longer in an extremely difficult commune: '
                    || round(target_value, 2) || ' %'
            when 'difficult_villages_fall_percent'
                then
                    'extremely difficult villages ' || {{ count_text('baseline_value') }}
                    || ' in ' || baseline_year || ', ' || {{ count_text('measured_value') }}
                    || ' in ' || review_year || ': a fall of ' || round(target_value, 2) || ' %'
            when 'extremely_difficult_communes'
                then
                    {{ count_text('target_value') }} || ' extremely difficult communes in review '
                    || review_year
        end as value_note,
        case measure
            when 'poor_meritorious_family'
                then
                    {{ vi_number('target_value') }}
                    || ' hộ nghèo là hộ người có công với cách mạng trong đợt rà soát '
                    || review_year
            when 'extremely_difficult_communes_fall_percent'
                then
                    communes_left || ' trong số ' || baseline_communes
                    || ' xã đặc biệt khó khăn năm ' || baseline_year
                    || ' không còn thuộc xã đặc biệt khó khăn: '
                    || {{ vi_number('target_value') }} || ' %'
            when 'difficult_villages_fall_percent'
                then
                    'số thôn đặc biệt khó khăn ' || {{ vi_number('baseline_value') }}
                    || ' năm ' || baseline_year || ', ' || {{ vi_number('measured_value') }}
                    || ' năm ' || review_year || ': giảm ' || {{ vi_number('target_value') }}
                    || ' %'
            when 'extremely_difficult_communes'
                then
                    {{ vi_number('target_value') }} || ' xã đặc biệt khó khăn trong đợt rà soát '
                    || review_year
        end as value_note_vi,
        case measure
            when 'extremely_difficult_communes_fall_percent'
                then
                    'the territory had no extremely difficult commune in the baseline review '
                    || baseline_year
            when 'difficult_villages_fall_percent'
                then
                    'the territory had no extremely difficult village in the baseline review '
                    || baseline_year
        end as missing_reason,
        case measure
            when 'extremely_difficult_communes_fall_percent'
                then
                    'địa bàn không có xã đặc biệt khó khăn trong đợt rà soát gốc '
                    || baseline_year
            when 'difficult_villages_fall_percent'
                then
                    'địa bàn không có thôn đặc biệt khó khăn trong đợt rà soát gốc '
                    || baseline_year
        end as missing_reason_vi
    from valued
)

select * from final
