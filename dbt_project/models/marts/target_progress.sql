-- How each target is judged, the same for every target of a kind. What a target measures comes
-- from the measure models (int_target_measures_*: a value per plan, territory, target and review
-- year); a new target is a row of the plan_targets seed and, at most, one new measure.
with

target_years as (
    select * from {{ ref('int_plan_target_years') }}
),

review_years as (
    select * from {{ ref('int_review_years_described') }}
),

territory_year as (
    select * from {{ ref('territory_year') }}
),

measures as (
    select * from {{ ref('int_target_measures_rate') }}
    union all by name
    select * from {{ ref('int_target_measures_level') }}
    union all by name
    select * from {{ ref('int_target_measures_access') }}
),

-- The value each target measures in every review year of the territory's series.
series as (
    select
        targets.plan_id,
        targets.territory,
        targets.target_id,
        targets.measure_kind,
        review_years.review_year,
        review_years.standard_id,
        territory_year.households_covered_percent,
        coalesce(measures.method, territory_year.method) as method,
        measures.measured_value,
        measures.target_value,
        measures.measured_value_if_not_reassessed_poor,
        measures.poor_not_reviewed_since,
        measures.rests_on_baseline,
        measures.series_name,
        measures.series_name_vi,
        measures.value_note,
        measures.value_note_vi,
        measures.missing_reason,
        measures.missing_reason_vi
    from (
        select distinct
            plan_id,
            territory,
            target_id,
            measure_kind
        from target_years
    ) as targets
    inner join review_years on true
    left join territory_year
        on
            targets.territory = territory_year.territory
            and review_years.review_year = territory_year.review_year
    left join measures
        on
            targets.plan_id = measures.plan_id
            and targets.territory = measures.territory
            and targets.target_id = measures.target_id
            and review_years.review_year = measures.review_year
),

-- Falls between consecutive reviews under one standard, the 2024 -> 2025 pair included: both
-- years are measured on the territory's own boundaries.
annual_falls as (
    select
        series.plan_id,
        series.territory,
        series.target_id,
        series.review_year,
        previous_year.measured_value - series.measured_value as fall,
        previous_year.measured_value_if_not_reassessed_poor
        - series.measured_value_if_not_reassessed_poor as fall_if_not_reassessed_poor,
        least(
            coalesce(series.households_covered_percent, 0),
            coalesce(previous_year.households_covered_percent, 0)
        ) as pair_coverage
    from series
    inner join series as previous_year
        on
            series.plan_id = previous_year.plan_id
            and series.territory = previous_year.territory
            and series.target_id = previous_year.target_id
            and series.review_year - 1 = previous_year.review_year
            and series.standard_id = previous_year.standard_id
    where
        series.measure_kind = 'mean_annual_fall'
        and series.measured_value is not null
        and previous_year.measured_value is not null
),

-- The falls of each evaluated review: those after the baseline up to the review.
falls_so_far as (
    select
        target_years.plan_id,
        target_years.territory,
        target_years.target_id,
        target_years.review_year,
        avg(annual_falls.fall) as mean_fall,
        avg(annual_falls.fall_if_not_reassessed_poor) as mean_fall_if_not_reassessed_poor,
        count(*) as falls_counted,
        min(annual_falls.pair_coverage) as lowest_pair_coverage
    from target_years
    inner join annual_falls
        on
            target_years.plan_id = annual_falls.plan_id
            and target_years.territory = annual_falls.territory
            and target_years.target_id = annual_falls.target_id
            and target_years.baseline_year < annual_falls.review_year
            and target_years.review_year >= annual_falls.review_year
    group by all
),

-- The reviews each value rests on: the pairs behind a mean of falls, the baseline and this
-- review for a value against the baseline, this review alone for a count of this review.
series_used as (
    select
        target_years.plan_id,
        target_years.territory,
        target_years.target_id,
        target_years.review_year,
        min(coalesce(used.households_covered_percent, 0)) filter (
            where
            used.review_year = target_years.review_year
            or (
                used.review_year = target_years.baseline_year
                and coalesce(current_year.rests_on_baseline, true)
            )
        ) as lowest_level_coverage,
        -- The most derived method among the reviews since the baseline.
        case
            when bool_or(used.method = 'apportioned') then 'apportioned'
            when bool_or(used.method = 'mapped') then 'mapped'
            else 'native'
        end as method
    from target_years
    inner join series as used
        on
            target_years.plan_id = used.plan_id
            and target_years.territory = used.territory
            and target_years.target_id = used.target_id
            and used.review_year
            between least(target_years.baseline_year, target_years.review_year)
            and target_years.review_year
    left join series as current_year
        on
            target_years.plan_id = current_year.plan_id
            and target_years.territory = current_year.territory
            and target_years.target_id = current_year.target_id
            and target_years.review_year = current_year.review_year
    group by all
),

evaluated as (
    select
        target_years.*,
        baseline.measured_value as baseline_value,
        falls_so_far.mean_fall,
        falls_so_far.mean_fall_if_not_reassessed_poor,
        current_year.poor_not_reviewed_since,
        coalesce(falls_so_far.falls_counted, 0) as falls_counted,
        case
            when target_years.measure_kind = 'mean_annual_fall'
                then falls_so_far.lowest_pair_coverage
            else series_used.lowest_level_coverage
        end as lowest_coverage,
        coalesce(series_used.method, 'native') as method,
        current_year.target_value,
        current_year.series_name,
        current_year.series_name_vi,
        current_year.value_note,
        current_year.value_note_vi,
        current_year.missing_reason,
        current_year.missing_reason_vi
    from target_years
    left join series as baseline
        on
            target_years.plan_id = baseline.plan_id
            and target_years.territory = baseline.territory
            and target_years.target_id = baseline.target_id
            and target_years.baseline_year = baseline.review_year
    left join series as current_year
        on
            target_years.plan_id = current_year.plan_id
            and target_years.territory = current_year.territory
            and target_years.target_id = current_year.target_id
            and target_years.review_year = current_year.review_year
    left join falls_so_far
        on
            target_years.plan_id = falls_so_far.plan_id
            and target_years.territory = falls_so_far.territory
            and target_years.target_id = falls_so_far.target_id
            and target_years.review_year = falls_so_far.review_year
    left join series_used
        on
            target_years.plan_id = series_used.plan_id
            and target_years.territory = series_used.territory
            and target_years.target_id = series_used.target_id
            and target_years.review_year = series_used.review_year
),

-- Rounded to 9 decimals (the measures' values already are): the means sum fractional shares in
-- an order DuckDB does not fix, and a value exactly at its target could be judged either way.
measured as (
    select
        *,
        case
            when measure_kind = 'mean_annual_fall' then round(mean_fall, 9)
            else target_value
        end as actual,
        round(
            case when measure_kind = 'mean_annual_fall' then mean_fall_if_not_reassessed_poor end,
            9
        ) as actual_if_not_reassessed_poor
    from evaluated
),

judged as (
    select
        *,
        case comparison
            when '>=' then actual >= required
            when '>' then actual > required
            when '=' then actual = required
        end as meets_target,
        case comparison
            when '>=' then actual_if_not_reassessed_poor >= required
            when '>' then actual_if_not_reassessed_poor > required
            when '=' then actual_if_not_reassessed_poor = required
        end as meets_target_if_not_reassessed_poor,
        review_year >= period_end as is_final
    from measured
),

verdicts as (
    select
        *,
        case
            when is_final and meets_target then 'achieved'
            when is_final then 'missed'
            when meets_target then 'on_track'
            else 'off_track'
        end as verdict,
        case
            when is_final and meets_target_if_not_reassessed_poor then 'achieved'
            when is_final then 'missed'
            when meets_target_if_not_reassessed_poor then 'on_track'
            else 'off_track'
        end as verdict_if_not_reassessed_poor,
        case
            when actual is not null then null
            when not is_baseline_loaded
                then 'the baseline review ' || baseline_year || ' is not loaded'
            when measure_kind = 'mean_annual_fall' and falls_counted = 0
                then
                    'no pair of consecutive reviews under one standard since the baseline '
                    || baseline_year || ' yet'
            when measure_kind = 'mean_annual_fall'
                then
                    'the rate is unknown in a review of the period '
                    || '(no reported commune with totals)'
            else coalesce(missing_reason, 'no data for the measure in review ' || review_year)
        end as reason_unmeasurable
    from judged
),

final as (
    select
        plan_id,
        territory,
        territory_name_vi,
        target_id,
        target_order,
        description,
        description_vi,
        period_start,
        period_end,
        review_year,
        baseline_year,
        round(baseline_value, 9) as baseline_value,
        actual,
        required,
        case
            when actual is null then 'not_measurable'
            when lowest_coverage < 100 then 'provisional'
            when meets_target_if_not_reassessed_poor <> meets_target then 'provisional'
            else verdict
        end as status,
        case
            when actual is null then reason_unmeasurable
            else
                case measure_kind
                    when 'mean_annual_fall'
                        then
                            'mean of ' || falls_counted || ' year-on-year falls of '
                            || series_name || ': ' || round(actual, 2) || ' points'
                            || case
                                when not is_baseline_loaded
                                    then
                                        ' (the baseline review is not loaded: '
                                        || 'the loaded pairs only)'
                                else ''
                            end
                    else value_note
                end
                || case
                    when is_final then '; the period''s last review is in: ' || verdict
                    else '; ' || replace(verdict, '_', ' ') || ' before the period ends'
                end
                || case
                    when lowest_coverage < 100
                        then
                            '; provisional: a review used covers only '
                            || round(lowest_coverage, 1) || ' % of the households'
                    else ''
                end
                || case
                    when meets_target_if_not_reassessed_poor <> meets_target
                        then
                            '; provisional: ' || {{ count_text('poor_not_reviewed_since') }}
                            || ' poor households were not reviewed again by review '
                            || review_year || '; counted as still poor they give '
                            || round(actual_if_not_reassessed_poor, 2) || ' points ('
                            || replace(verdict_if_not_reassessed_poor, '_', ' ') || ')'
                    else ''
                end
        end as note,
        method,
        actual_if_not_reassessed_poor
    from verdicts
)

select * from final
