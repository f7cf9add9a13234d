with

targets as (
    select * from {{ ref('plan_targets') }}
),

review_years as (
    select * from {{ ref('int_review_years_described') }}
),

commune_year as (
    select * from {{ ref('commune_year') }}
),

province_year_deprivation as (
    select * from {{ ref('province_year_deprivation') }}
),

-- "The province" of the plan is every unit the warehouse holds: rates from summed counts over
-- the reported communes with totals, numerator and denominator alike.
warehouse_years as (
    select
        review_year,
        100 * cast(sum(poor_households) filter (where reporting_status = 'reported') as double)
        / nullif(sum(total_households) filter (where reporting_status = 'reported'), 0)
            as poverty_rate,
        cast(sum(poor_meritorious_family) as double) as poor_meritorious_family,
        cast(count(*) filter (where is_extremely_difficult) as double)
            as extremely_difficult_communes,
        cast(sum(difficult_villages) as double) as difficult_villages
    from commune_year
    group by review_year
),

indicator_access as (
    select
        review_year,
        indicator_code,
        100 * cast(sum(poor_households) - sum(deprived_poor_households) as double)
        / nullif(sum(poor_households), 0) as access_rate
    from province_year_deprivation
    group by review_year, indicator_code
),

access_years as (
    select
        review_year,
        min(access_rate) as min_access_rate
    from indicator_access
    group by review_year
),

target_years as (
    select
        targets.target_id,
        targets.measure,
        review_years.review_year,
        review_years.unit_version,
        review_years.is_comparable_to_previous
    from targets
    inner join review_years
        on review_years.review_year between targets.period_start and targets.period_end
),

-- Baseline: the first review of the target's period present in the warehouse.
baselines as (
    select
        target_id,
        min(review_year) as baseline_year
    from target_years
    group by target_id
),

baseline_extremely_difficult_communes as (
    select
        baselines.target_id,
        commune_year.unit_version,
        commune_year.commune_code
    from baselines
    inner join targets on baselines.target_id = targets.target_id
    inner join commune_year on baselines.baseline_year = commune_year.review_year
    where
        targets.measure = 'mean_annual_fall_extremely_difficult_rate'
        and commune_year.is_extremely_difficult
),

-- One pooled rate over the communes that were extremely difficult in the baseline review,
-- followed on the same unit version (a commune code alone names another territory in 2025).
pooled_extremely_difficult as (
    select
        baseline_extremely_difficult_communes.target_id,
        commune_year.review_year,
        100 * cast(sum(commune_year.poor_households) filter (
            where commune_year.reporting_status = 'reported'
        ) as double)
        / nullif(sum(commune_year.total_households) filter (
            where commune_year.reporting_status = 'reported'
        ), 0) as pooled_rate
    from baseline_extremely_difficult_communes
    inner join commune_year
        on
            baseline_extremely_difficult_communes.unit_version = commune_year.unit_version
            and baseline_extremely_difficult_communes.commune_code = commune_year.commune_code
    group by baseline_extremely_difficult_communes.target_id, commune_year.review_year
),

series as (
    select
        target_years.target_id,
        target_years.measure,
        target_years.review_year,
        target_years.unit_version,
        target_years.is_comparable_to_previous,
        case target_years.measure
            when 'mean_annual_fall_poverty_rate' then warehouse_years.poverty_rate
            when 'mean_annual_fall_extremely_difficult_rate'
                then pooled_extremely_difficult.pooled_rate
            when 'poor_meritorious_family' then warehouse_years.poor_meritorious_family
            when 'extremely_difficult_communes_fall_percent'
                then warehouse_years.extremely_difficult_communes
            when 'extremely_difficult_communes' then warehouse_years.extremely_difficult_communes
            when 'difficult_villages_fall_percent' then warehouse_years.difficult_villages
            when 'min_access_rate' then access_years.min_access_rate
        end as measured_value
    from target_years
    left join warehouse_years on target_years.review_year = warehouse_years.review_year
    left join access_years on target_years.review_year = access_years.review_year
    left join pooled_extremely_difficult
        on
            target_years.target_id = pooled_extremely_difficult.target_id
            and target_years.review_year = pooled_extremely_difficult.review_year
),

-- Year-on-year falls between consecutive comparable reviews (same standard and unit version).
annual_falls as (
    select
        series.target_id,
        series.review_year,
        previous_year.measured_value - series.measured_value as fall
    from series
    inner join series as previous_year
        on
            series.target_id = previous_year.target_id
            and series.review_year - 1 = previous_year.review_year
    where
        series.is_comparable_to_previous
        and series.measured_value is not null
        and previous_year.measured_value is not null
),

evaluated as (
    select
        series.target_id,
        series.measure,
        series.review_year,
        series.unit_version,
        baselines.baseline_year,
        baseline.unit_version as baseline_unit_version,
        baseline.measured_value as baseline_value,
        series.measured_value,
        (
            select avg(annual_falls.fall)
            from annual_falls
            where
                annual_falls.target_id = series.target_id
                and annual_falls.review_year <= series.review_year
        ) as mean_fall,
        (
            select count(*)
            from annual_falls
            where
                annual_falls.target_id = series.target_id
                and annual_falls.review_year <= series.review_year
        ) as falls_counted
    from series
    inner join baselines on series.target_id = baselines.target_id
    inner join series as baseline
        on
            baselines.target_id = baseline.target_id
            and baselines.baseline_year = baseline.review_year
),

measured as (
    select
        *,
        case
            when measure like 'mean_annual_fall_%' then mean_fall
            when
                measure = 'extremely_difficult_communes_fall_percent'
                and unit_version <> baseline_unit_version
                then null
            when measure like '%_fall_percent'
                then 100 * (1 - measured_value / nullif(baseline_value, 0))
            else measured_value
        end as actual
    from evaluated
),

judged as (
    select
        measured.*,
        targets.description,
        targets.period_start,
        targets.period_end,
        targets.required_value as required,
        case targets.comparison
            when '>=' then measured.actual >= targets.required_value
            when '>' then measured.actual > targets.required_value
            when '=' then measured.actual = targets.required_value
        end as meets_target
    from measured
    inner join targets on measured.target_id = targets.target_id
),

final as (
    select
        target_id,
        description,
        period_start,
        period_end,
        review_year,
        baseline_year,
        baseline_value,
        actual,
        required,
        case
            when actual is null then 'not_measurable'
            when review_year = period_end and meets_target then 'achieved'
            when review_year = period_end then 'missed'
            when meets_target then 'on_track'
            else 'off_track'
        end as status,
        case
            when
                measure = 'extremely_difficult_communes_fall_percent'
                and unit_version <> baseline_unit_version
                then
                    'count compares unit versions ' || baseline_unit_version
                    || ' and ' || unit_version
            when measure like 'mean_annual_fall_%' and falls_counted = 0
                then 'no comparable consecutive reviews since the baseline yet'
            when measure like 'mean_annual_fall_%'
                then
                    'mean of ' || falls_counted || ' comparable year-on-year falls since '
                    || baseline_year
            when actual is null then 'no data for the measure in this review'
            else measure || ' in review ' || review_year
        end as note
    from judged
)

select * from final
