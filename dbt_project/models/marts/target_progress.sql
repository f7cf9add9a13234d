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

territory_year as (
    select * from {{ ref('territory_year') }}
),

apportioned as (
    select * from {{ ref('int_commune_years_apportioned') }}
),

-- Not materialized: each reference reads only its review years (the baseline's, the targets')
-- from the classification view, instead of DuckDB storing every household-year once for both.
classified as not materialized (
    select * from {{ ref('int_households_classified') }}
),

crosswalk as (
    select * from {{ ref('int_communes_crosswalked') }}
),

communes as (
    select * from {{ ref('stg_admin_units__communes') }}
),

territory_names as (
    select distinct
        territory,
        territory_name_vi
    from territory_year
),

-- One row per plan, territory, target and loaded review year of the plan's period.
target_years as (
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
),

-- Each commune of the territory's unit version as measured in every review: whole in a review
-- of its own units, through the crosswalk in the other. Across versions a commune counts as
-- extremely difficult when a commune it shares territory with is (for a pre-2025 commune in a
-- 2025 review: one of its successors).
target_communes as (
    select
        review_year,
        unit_version,
        province_code,
        commune_code,
        bool_or(is_extremely_difficult) as is_extremely_difficult,
        sum(difficult_villages) as difficult_villages,
        sum(poor_meritorious_family) filter (where is_reported) as poor_meritorious_family
    from apportioned
    group by all
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
    select distinct
        target_years.plan_id,
        target_years.territory,
        target_years.target_id,
        target_communes.unit_version,
        target_communes.commune_code
    from target_years
    inner join target_communes
        on
            target_years.baseline_year = target_communes.review_year
            and target_years.unit_version = target_communes.unit_version
            and target_years.province_code = target_communes.province_code
    where
        target_years.measure in (
            'mean_annual_fall_extremely_difficult_rate',
            'extremely_difficult_communes_fall_percent'
        )
        and target_communes.is_extremely_difficult
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
        case
            when bool_and(is_native) then 'native'
            when bool_and(set_allocation_share >= 1 - 1e-9) then 'mapped'
            else 'apportioned'
        end as method,
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

access_targets as (
    select distinct
        plan_id,
        territory,
        target_id,
        unit_version,
        province_code,
        baseline_year,
        review_year
    from target_years
    where measure = 'min_access_rate_baseline_poor'
),

-- T10: the households poor in the baseline review, each with its weight in the territory
-- (1 when its commune, or its own code, puts it there; the crosswalk's share otherwise).
baseline_poor as (
    select
        classified.review_year,
        classified.unit_version,
        classified.household_code,
        classified.province_code,
        classified.commune_code,
        case when classified.unit_version = '2025' then 'pre2025' else '2025' end
            as placed_unit_version,
        {{ placed_commune_code('classified') }} as placed_commune_code
    from classified
    {{ join_household_placement('classified') }}
    where
        classified.is_poor
        and classified.review_year in (select access_targets.baseline_year from access_targets)
),

baseline_poor_weights as (
    select
        review_year,
        household_code,
        unit_version,
        province_code,
        {{ exact_weight(1) }} as weight
    from baseline_poor
    union all
    select
        baseline_poor.review_year,
        baseline_poor.household_code,
        baseline_poor.placed_unit_version as unit_version,
        placed_units.province_code,
        {{ exact_weight(1) }} as weight
    from baseline_poor
    inner join communes as placed_units
        on
            baseline_poor.placed_unit_version = placed_units.unit_version
            and baseline_poor.placed_commune_code = placed_units.commune_code
    union all
    select
        baseline_poor.review_year,
        baseline_poor.household_code,
        '2025' as unit_version,
        crosswalk.new_province_code as province_code,
        sum(crosswalk.forward_weight) as weight
    from baseline_poor
    inner join crosswalk on baseline_poor.commune_code = crosswalk.old_commune_code
    where baseline_poor.unit_version = 'pre2025' and baseline_poor.placed_commune_code is null
    group by all
    union all
    select
        baseline_poor.review_year,
        baseline_poor.household_code,
        'pre2025' as unit_version,
        crosswalk.old_province_code as province_code,
        sum(crosswalk.backward_weight) as weight
    from baseline_poor
    inner join crosswalk on baseline_poor.commune_code = crosswalk.new_commune_code
    where baseline_poor.unit_version = '2025' and baseline_poor.placed_commune_code is null
    group by all
),

baseline_poor_followed as (
    select
        access_targets.plan_id,
        access_targets.territory,
        access_targets.target_id,
        access_targets.review_year,
        baseline_poor_weights.weight,
        followed.d_employment,
        followed.d_dependents,
        followed.d_nutrition,
        followed.d_health_insurance,
        followed.d_adult_education,
        followed.d_child_schooling,
        followed.d_housing_quality,
        followed.d_housing_area,
        followed.d_water,
        followed.d_sanitation,
        followed.d_telecom,
        followed.d_information_assets
    from access_targets
    inner join baseline_poor_weights
        on
            access_targets.baseline_year = baseline_poor_weights.review_year
            and access_targets.unit_version = baseline_poor_weights.unit_version
            and access_targets.province_code = baseline_poor_weights.province_code
    inner join classified as followed
        on
            access_targets.review_year = followed.review_year
            and baseline_poor_weights.household_code = followed.household_code
    where baseline_poor_weights.weight > 0
),

indicator_access as (
    unpivot baseline_poor_followed
    on
    d_employment, d_dependents, d_nutrition, d_health_insurance, d_adult_education,
    d_child_schooling, d_housing_quality, d_housing_area, d_water, d_sanitation, d_telecom,
    d_information_assets
    into name indicator_code value is_deprived
),

access_rates as (
    select
        plan_id,
        territory,
        target_id,
        review_year,
        indicator_code,
        100 * sum(weight) filter (where not is_deprived) / sum(weight) as access_rate,
        sum(weight) as followed_households
    from indicator_access
    group by all
),

lowest_access as (
    select
        plan_id,
        territory,
        target_id,
        review_year,
        min(access_rate) as min_access_rate,
        first(indicator_code order by access_rate, indicator_code) as lowest_indicator,
        max(followed_households) as followed_households
    from access_rates
    group by all
),

-- The value each target measures in every review year of the territory's series.
series as (
    select
        target_years.plan_id,
        target_years.territory,
        target_years.target_id,
        target_years.measure,
        review_years.review_year,
        review_years.standard_id,
        territory_year.households_covered_percent,
        coalesce(difficult_rates.method, territory_year.method) as method,
        case target_years.measure
            when 'mean_annual_fall_poverty_rate' then territory_year.poverty_rate
            when 'mean_annual_fall_extremely_difficult_rate' then difficult_rates.pooled_rate
            when 'poor_meritorious_family' then territory_counts.poor_meritorious_family
            when 'extremely_difficult_communes_fall_percent'
                then cast(difficult_remaining.baseline_communes as double)
            when 'extremely_difficult_communes'
                then cast(territory_counts.extremely_difficult_communes as double)
            when 'difficult_villages_fall_percent' then territory_counts.difficult_villages
            when 'min_access_rate_baseline_poor' then series_access.min_access_rate
        end as measured_value,
        -- The rate if the poor households not reviewed again were still poor (numerator only:
        -- the commune totals already count them as resident).
        case target_years.measure
            when 'mean_annual_fall_poverty_rate'
                then
                    territory_year.poverty_rate
                    + 100
                    * cast(coalesce(territory_not_reviewed.poor_not_reviewed_since, 0) as double)
                    / nullif(territory_year.total_households, 0)
            when 'mean_annual_fall_extremely_difficult_rate'
                then difficult_rates.pooled_rate_if_not_reassessed_poor
        end as measured_value_if_not_reassessed_poor,
        case target_years.measure
            when 'mean_annual_fall_poverty_rate'
                then cast(coalesce(territory_not_reviewed.poor_not_reviewed_since, 0) as double)
            when 'mean_annual_fall_extremely_difficult_rate'
                then cast(coalesce(difficult_rates.poor_not_reviewed_since, 0) as double)
        end as poor_not_reviewed_since
    from (
        select distinct
            plan_id,
            territory,
            target_id,
            measure,
            unit_version,
            province_code
        from target_years
    ) as target_years
    inner join review_years on true
    left join territory_year
        on
            target_years.territory = territory_year.territory
            and review_years.review_year = territory_year.review_year
    left join territory_counts
        on
            target_years.unit_version = territory_counts.unit_version
            and target_years.province_code = territory_counts.province_code
            and review_years.review_year = territory_counts.review_year
    left join territory_not_reviewed
        on
            target_years.unit_version = territory_not_reviewed.unit_version
            and target_years.province_code = territory_not_reviewed.province_code
            and review_years.review_year = territory_not_reviewed.review_year
    left join difficult_rates
        on
            target_years.plan_id = difficult_rates.plan_id
            and target_years.territory = difficult_rates.territory
            and target_years.target_id = difficult_rates.target_id
            and review_years.review_year = difficult_rates.review_year
    left join difficult_remaining
        on
            target_years.plan_id = difficult_remaining.plan_id
            and target_years.territory = difficult_remaining.territory
            and target_years.target_id = difficult_remaining.target_id
            and review_years.review_year = difficult_remaining.review_year
    left join lowest_access as series_access
        on
            target_years.plan_id = series_access.plan_id
            and target_years.territory = series_access.territory
            and target_years.target_id = series_access.target_id
            and review_years.review_year = series_access.review_year
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
        series.measure like 'mean_annual_fall_%'
        and series.measured_value is not null
        and previous_year.measured_value is not null
),

evaluated as (
    select
        target_years.*,
        baseline.measured_value as baseline_value,
        current_year.measured_value,
        (
            select avg(annual_falls.fall)
            from annual_falls
            where
                annual_falls.plan_id = target_years.plan_id
                and annual_falls.territory = target_years.territory
                and annual_falls.target_id = target_years.target_id
                and annual_falls.review_year > target_years.baseline_year
                and annual_falls.review_year <= target_years.review_year
        ) as mean_fall,
        (
            select avg(annual_falls.fall_if_not_reassessed_poor)
            from annual_falls
            where
                annual_falls.plan_id = target_years.plan_id
                and annual_falls.territory = target_years.territory
                and annual_falls.target_id = target_years.target_id
                and annual_falls.review_year > target_years.baseline_year
                and annual_falls.review_year <= target_years.review_year
        ) as mean_fall_if_not_reassessed_poor,
        current_year.poor_not_reviewed_since,
        (
            select count(*)
            from annual_falls
            where
                annual_falls.plan_id = target_years.plan_id
                and annual_falls.territory = target_years.territory
                and annual_falls.target_id = target_years.target_id
                and annual_falls.review_year > target_years.baseline_year
                and annual_falls.review_year <= target_years.review_year
        ) as falls_counted,
        -- The reviews a value rests on: the pairs behind a mean of falls, the baseline and this
        -- review for a fall in percent or T10, this review alone for a count.
        case
            when target_years.measure like 'mean_annual_fall_%'
                then (
                    select min(annual_falls.pair_coverage)
                    from annual_falls
                    where
                        annual_falls.plan_id = target_years.plan_id
                        and annual_falls.territory = target_years.territory
                        and annual_falls.target_id = target_years.target_id
                        and annual_falls.review_year > target_years.baseline_year
                        and annual_falls.review_year <= target_years.review_year
                )
            else (
                select min(coalesce(used.households_covered_percent, 0))
                from series as used
                where
                    used.plan_id = target_years.plan_id
                    and used.territory = target_years.territory
                    and used.target_id = target_years.target_id
                    and (
                        used.review_year = target_years.review_year
                        or (
                            used.review_year = target_years.baseline_year
                            and target_years.measure not in (
                                'poor_meritorious_family', 'extremely_difficult_communes'
                            )
                        )
                    )
            )
        end as lowest_coverage,
        (
            select
                case
                    when bool_or(used.method = 'apportioned') then 'apportioned'
                    when bool_or(used.method = 'mapped') then 'mapped'
                    else 'native'
                end
            from series as used
            where
                used.plan_id = target_years.plan_id
                and used.territory = target_years.territory
                and used.target_id = target_years.target_id
                and used.review_year
                between least(target_years.baseline_year, target_years.review_year)
                and target_years.review_year
        ) as method,
        difficult_remaining.communes_left,
        difficult_remaining.baseline_communes,
        lowest_access.min_access_rate,
        lowest_access.lowest_indicator,
        lowest_access.followed_households
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
    left join difficult_remaining
        on
            target_years.plan_id = difficult_remaining.plan_id
            and target_years.territory = difficult_remaining.territory
            and target_years.target_id = difficult_remaining.target_id
            and target_years.review_year = difficult_remaining.review_year
    left join lowest_access
        on
            target_years.plan_id = lowest_access.plan_id
            and target_years.territory = lowest_access.territory
            and target_years.target_id = lowest_access.target_id
            and target_years.review_year = lowest_access.review_year
),

-- Rounded to 9 decimals: the measures sum fractional shares in an order DuckDB does not fix, so
-- unrounded they differed from one build to the next in the last digits, and a value exactly at
-- its target could be judged either way.
measured as (
    select
        *,
        round(case measure
            when 'mean_annual_fall_poverty_rate' then mean_fall
            when 'mean_annual_fall_extremely_difficult_rate' then mean_fall
            when 'extremely_difficult_communes_fall_percent'
                then 100 * cast(communes_left as double) / nullif(baseline_communes, 0)
            when 'difficult_villages_fall_percent'
                then 100 * (1 - measured_value / nullif(baseline_value, 0))
            when 'min_access_rate_baseline_poor' then min_access_rate
            else measured_value
        end, 9) as actual,
        round(
            case when measure like 'mean_annual_fall_%' then mean_fall_if_not_reassessed_poor end,
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
            when measure like 'mean_annual_fall_%' and falls_counted = 0
                then
                    'no pair of consecutive reviews under one standard since the baseline '
                    || baseline_year || ' yet'
            when measure like 'mean_annual_fall_%'
                then
                    'the rate is unknown in a review of the period '
                    || '(no reported commune with totals)'
            when measure = 'extremely_difficult_communes_fall_percent'
                then
                    'the territory had no extremely difficult commune in the baseline review '
                    || baseline_year
            when measure = 'difficult_villages_fall_percent'
                then
                    'the territory had no extremely difficult village in the baseline review '
                    || baseline_year
            when measure = 'min_access_rate_baseline_poor'
                then
                    'none of the households poor in the baseline review ' || baseline_year
                    || ' in this territory was assessed in review ' || review_year
            else 'no data for the measure in review ' || review_year
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
                case measure
                    when 'mean_annual_fall_poverty_rate'
                        then
                            'mean of ' || falls_counted
                            || ' year-on-year falls of the territory''s poverty rate since '
                            || baseline_year || ': ' || round(actual, 2) || ' points'
                            || case
                                when not is_baseline_loaded
                                    then
                                        ' (the baseline review is not loaded: '
                                        || 'the loaded pairs only)'
                                else ''
                            end
                    when 'mean_annual_fall_extremely_difficult_rate'
                        then
                            'mean of ' || falls_counted
                            || ' year-on-year falls of the pooled rate of the communes extremely '
                            || 'difficult in ' || baseline_year || ': ' || round(actual, 2)
                            || ' points'
                    when 'poor_meritorious_family'
                        then
                            {{ count_text('actual') }}
                            || ' poor households are meritorious families in review ' || review_year
                    when 'extremely_difficult_communes_fall_percent'
                        then
                            communes_left || ' of the ' || baseline_communes
                            || ' communes extremely difficult in ' || baseline_year
                            || ' are no longer in an extremely difficult commune: '
                            || round(actual, 2) || ' %'
                    when 'difficult_villages_fall_percent'
                        then
                            'extremely difficult villages ' || {{ count_text('baseline_value') }}
                            || ' in ' || baseline_year || ', ' || {{ count_text('measured_value') }}
                            || ' in '
                            || review_year || ': a fall of ' || round(actual, 2) || ' %'
                    when 'extremely_difficult_communes'
                        then
                            {{ count_text('actual') }} || ' extremely difficult communes in review '
                            || review_year
                    when 'min_access_rate_baseline_poor'
                        then
                            'lowest access among the ' || {{ count_text('followed_households') }}
                            || ' households poor in ' || baseline_year || ' and assessed in '
                            || review_year || ': ' || round(actual, 2) || ' % (' || lowest_indicator
                            || ')'
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
