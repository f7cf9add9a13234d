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
        measures.value_floor,
        measures.value_ceiling,
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

-- Each year's step of a target's value between consecutive reviews under one standard: for a
-- rate, its fall (the 2024 -> 2025 pair included: both years are measured on the territory's
-- own boundaries); for a level, its change.
yearly_steps as (
    select
        series.plan_id,
        series.territory,
        series.target_id,
        series.review_year,
        case
            when series.measure_kind = 'mean_annual_fall'
                then previous_year.measured_value - series.measured_value
            else series.target_value - previous_year.target_value
        end as step,
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
            -- A rate's fall only under one standard; a level (communes, villages, a count or an
            -- access share measured the same way) changes across a change of standard too.
            and (
                series.measure_kind = 'level'
                or series.standard_id = previous_year.standard_id
            )
    where
        (
            series.measure_kind = 'mean_annual_fall'
            and series.measured_value is not null
            and previous_year.measured_value is not null
        )
        or (
            series.measure_kind = 'level'
            and series.target_value is not null
            and previous_year.target_value is not null
        )
),

-- The steps of each evaluated review: those after the baseline up to the review.
steps_so_far as (
    select
        target_years.plan_id,
        target_years.territory,
        target_years.target_id,
        target_years.review_year,
        avg(yearly_steps.step) as mean_step,
        min(yearly_steps.step) as slowest_step,
        max(yearly_steps.step) as fastest_step,
        avg(yearly_steps.fall_if_not_reassessed_poor) as mean_fall_if_not_reassessed_poor,
        count(*) as steps_counted,
        min(yearly_steps.pair_coverage) as lowest_pair_coverage
    from target_years
    inner join yearly_steps
        on
            target_years.plan_id = yearly_steps.plan_id
            and target_years.territory = yearly_steps.territory
            and target_years.target_id = yearly_steps.target_id
            and target_years.baseline_year < yearly_steps.review_year
            and target_years.review_year >= yearly_steps.review_year
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
        baseline.target_value as baseline_target_value,
        case when target_years.measure_kind = 'mean_annual_fall' then steps_so_far.mean_step end
            as mean_fall,
        steps_so_far.mean_fall_if_not_reassessed_poor,
        steps_so_far.slowest_step,
        steps_so_far.fastest_step,
        current_year.poor_not_reviewed_since,
        coalesce(steps_so_far.steps_counted, 0) as falls_counted,
        case
            when target_years.measure_kind = 'mean_annual_fall'
                then steps_so_far.lowest_pair_coverage
            else series_used.lowest_level_coverage
        end as lowest_coverage,
        coalesce(series_used.method, 'native') as method,
        current_year.target_value,
        current_year.value_floor,
        current_year.value_ceiling,
        current_year.series_name,
        current_year.series_name_vi,
        current_year.value_note,
        current_year.value_note_vi,
        current_year.missing_reason,
        current_year.missing_reason_vi,
        target_years.period_end - target_years.review_year as years_left
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
    left join steps_so_far
        on
            target_years.plan_id = steps_so_far.plan_id
            and target_years.territory = steps_so_far.territory
            and target_years.target_id = steps_so_far.target_id
            and target_years.review_year = steps_so_far.review_year
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

-- Pace and projection, in the unit the target is stated in (poverty-rules: "Pace and
-- projection"). A rate-fall target: the pace so far is the mean yearly fall (its actual); the
-- pace still required is the mean fall the remaining reviews need for the period's mean to reach
-- the required value; the projection is the period's mean if every remaining review fell at the
-- mean so far (the actual), at the slowest or at the fastest fall seen. A level target: the pace
-- so far is (value - baseline value) / years since the baseline; the pace still required is
-- (required - value) / years left; the projection is value + pace x years left (slowest and
-- fastest yearly change seen), kept within the values the measure can take; the straight line
-- runs from the baseline value to the required value at the period's last review.
paced as (
    select
        *,
        round(case
            when measure_kind = 'mean_annual_fall' then actual
            when review_year > baseline_year
                then (actual - baseline_target_value) / (review_year - baseline_year)
        end, 9) as pace_so_far,
        round(case
            when years_left <= 0 then null
            when measure_kind = 'mean_annual_fall'
                then
                    (required * (falls_counted + years_left) - coalesce(actual * falls_counted, 0))
                    / years_left
            else (required - actual) / years_left
        end, 9) as required_pace,
        case
            when measure_kind = 'level' and review_year > baseline_year
                then
                    baseline_target_value
                    + (required - baseline_target_value) * (review_year - baseline_year)
                    / nullif(period_end - baseline_year, 0)
            when measure_kind = 'level' and review_year = baseline_year
                then baseline_target_value
        end as line_value,
        case
            when years_left <= 0 then actual
            when measure_kind = 'mean_annual_fall' then actual
            when review_year > baseline_year
                then
                    actual
                    + (actual - baseline_target_value) / (review_year - baseline_year) * years_left
        end as projected_raw,
        case
            when years_left <= 0 then actual
            when measure_kind = 'mean_annual_fall'
                then
                    (actual * falls_counted + slowest_step * years_left)
                    / (falls_counted + years_left)
            else actual + slowest_step * years_left
        end as projected_slowest,
        case
            when years_left <= 0 then actual
            when measure_kind = 'mean_annual_fall'
                then
                    (actual * falls_counted + fastest_step * years_left)
                    / (falls_counted + years_left)
            else actual + fastest_step * years_left
        end as projected_fastest
    from measured
),

-- Kept within the values the measure can take (a count does not fall below 0).
projected as (
    select
        *,
        round({{ clamp('projected_raw') }}, 9) as projected_value,
        round(
            {{ clamp('least(projected_slowest, projected_fastest)') }},
            9
        ) as projected_low,
        round(
            {{ clamp('greatest(projected_slowest, projected_fastest)') }},
            9
        ) as projected_high
    from paced
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
        case comparison
            when '>=' then projected_value >= required
            when '>' then projected_value > required
            when '=' then projected_value = required
        end as projection_meets_target,
        -- On the straight line, or ahead of it, towards the required value (in the baseline
        -- review itself the value is the line's start).
        case
            when line_value is null then null
            when review_year = baseline_year then true
            when comparison = '>=' or (comparison = '=' and required > baseline_target_value)
                then actual >= round(line_value, 9)
            when comparison = '>' then actual > round(line_value, 9)
            when required < baseline_target_value then actual <= round(line_value, 9)
            else actual = required
        end as on_the_line,
        review_year >= period_end as is_final
    from projected
),

verdicts as (
    select
        *,
        case
            when is_final and meets_target then 'achieved'
            when is_final then 'missed'
            -- A level: at the pace so far (on the straight line); with no baseline value, on
            -- the value so far.
            when measure_kind = 'level' and on_the_line is not null
                then case when on_the_line then 'on_track' else 'off_track' end
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
            when projected_value is null then null
            when projection_meets_target then 'achieved'
            else 'missed'
        end as projected_status,
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
        end as reason_unmeasurable,
        case
            when actual is not null then null
            when not is_baseline_loaded
                then 'đợt rà soát gốc ' || baseline_year || ' chưa được nạp'
            when measure_kind = 'mean_annual_fall' and falls_counted = 0
                then
                    'chưa có hai đợt rà soát liên tiếp cùng chuẩn nghèo kể từ năm gốc '
                    || baseline_year
            when measure_kind = 'mean_annual_fall'
                then
                    'chưa biết tỷ lệ trong một đợt rà soát của kỳ '
                    || '(không xã nào báo cáo có tổng số hộ)'
            else
                coalesce(
                    missing_reason_vi,
                    'không có số liệu cho chỉ tiêu trong đợt rà soát ' || review_year
                )
        end as reason_unmeasurable_vi
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
                    when is_final then ''
                    when measure_kind = 'level' and line_value is null
                        then '; the baseline value is unknown: judged on the value so far'
                    when measure_kind = 'level'
                        then
                            '; the straight line from '
                            || {{ count_text('baseline_target_value') }}
                            || ' in ' || baseline_year || ' to ' || {{ count_text('required') }}
                            || ' in ' || period_end || ' stands at '
                            || {{ count_text('line_value') }} || ' in ' || review_year
                    else ''
                end
                || case
                    when is_final or required_pace is null then ''
                    when meets_target and measure_kind = 'level'
                        then '; already met: it stays met if the value holds'
                    when measure_kind = 'mean_annual_fall' and required_pace <= 0
                        then '; already met: it stays met unless the rate rises again'
                    when measure_kind = 'mean_annual_fall'
                        then
                            '; a mean fall of ' || {{ count_text('required_pace') }}
                            || ' points a year still required over the ' || years_left
                            || ' remaining reviews'
                    else
                        '; ' || {{ count_text('required_pace') }}
                        || ' a year still required over the ' || years_left
                        || ' remaining reviews'
                end
                || case
                    when is_final or projected_value is null then ''
                    else
                        '; at the pace so far ('
                        || {{ count_text('pace_so_far') }}
                        || case when measure_kind = 'mean_annual_fall' then ' points' else '' end
                        || ' a year) '
                        || case
                            when measure_kind = 'mean_annual_fall' then 'a mean fall of '
                            else ''
                        end
                        || {{ count_text('projected_value') }} || ' by ' || period_end
                        || coalesce(
                            ' (' || {{ count_text('projected_low') }} || ' to '
                            || {{ count_text('projected_high') }}
                            || ' at the slowest and fastest year seen)',
                            ''
                        )
                        || ': ' || projected_status
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
        case
            when actual is null then reason_unmeasurable_vi
            else
                case measure_kind
                    when 'mean_annual_fall'
                        then
                            'bình quân ' || falls_counted || ' mức giảm hằng năm của '
                            || series_name_vi || ': ' || {{ vi_number('actual') }} || ' điểm %'
                            || case
                                when not is_baseline_loaded
                                    then
                                        ' (đợt rà soát gốc chưa được nạp: '
                                        || 'chỉ tính các cặp đã nạp)'
                                else ''
                            end
                    else value_note_vi
                end
                || case
                    when is_final
                        then '; đã có đợt rà soát cuối kỳ: ' || {{ status_vi('verdict') }}
                    else '; ' || {{ status_vi('verdict') }} || ' trước khi hết kỳ'
                end
                || case
                    when is_final then ''
                    when measure_kind = 'level' and line_value is null
                        then '; chưa biết giá trị năm gốc: đánh giá theo giá trị hiện tại'
                    when measure_kind = 'level'
                        then
                            '; đường thẳng từ ' || {{ vi_number('baseline_target_value') }}
                            || ' năm ' || baseline_year || ' đến ' || {{ vi_number('required') }}
                            || ' năm ' || period_end || ' ở mức '
                            || {{ vi_number('line_value') }} || ' năm ' || review_year
                    else ''
                end
                || case
                    when is_final or required_pace is null then ''
                    when meets_target and measure_kind = 'level'
                        then '; đã đạt: vẫn đạt nếu giữ được giá trị này'
                    when measure_kind = 'mean_annual_fall' and required_pace <= 0
                        then '; đã đạt: vẫn đạt nếu tỷ lệ không tăng trở lại'
                    when measure_kind = 'mean_annual_fall'
                        then
                            '; cần giảm bình quân ' || {{ vi_number('required_pace') }}
                            || ' điểm %/năm trong ' || years_left || ' đợt rà soát còn lại'
                    else
                        '; cần ' || {{ vi_number('required_pace') }} || '/năm trong '
                        || years_left || ' đợt rà soát còn lại'
                end
                || case
                    when is_final or projected_value is null then ''
                    else
                        '; giữ tốc độ hiện nay ('
                        || {{ vi_number('pace_so_far') }}
                        || case when measure_kind = 'mean_annual_fall' then ' điểm %' else '' end
                        || '/năm) thì đến ' || period_end || ' đạt '
                        || case
                            when measure_kind = 'mean_annual_fall' then 'mức giảm bình quân '
                            else ''
                        end
                        || {{ vi_number('projected_value') }}
                        || coalesce(
                            ' (từ ' || {{ vi_number('projected_low') }} || ' đến '
                            || {{ vi_number('projected_high') }}
                            || ' theo năm chậm nhất và nhanh nhất)',
                            ''
                        )
                        || ': ' || {{ status_vi('projected_status') }}
                end
                || case
                    when lowest_coverage < 100
                        then
                            '; tạm tính: một đợt rà soát được dùng chỉ bao phủ '
                            || {{ vi_number('lowest_coverage', 1) }} || ' % số hộ'
                    else ''
                end
                || case
                    when meets_target_if_not_reassessed_poor <> meets_target
                        then
                            '; tạm tính: ' || {{ vi_number('poor_not_reviewed_since') }}
                            || ' hộ nghèo không được rà soát lại đến đợt ' || review_year
                            || '; nếu tính là vẫn nghèo thì đạt '
                            || {{ vi_number('actual_if_not_reassessed_poor') }} || ' điểm % ('
                            || {{ status_vi('verdict_if_not_reassessed_poor') }} || ')'
                    else ''
                end
        end as note_vi,
        method,
        actual_if_not_reassessed_poor,
        pace_so_far,
        required_pace,
        projected_value,
        projected_low,
        projected_high,
        projected_status
    from verdicts
)

select * from final
