-- The measure of the access target (T10): among the households poor in the target's baseline
-- review and assessed in each review, the lowest share not deprived over the indicators.
with

-- The review years of the target's period only: following the baseline's poor households into
-- every loaded review would read each review's household rows once more.
access_targets as (
    select distinct
        plan_id,
        territory,
        target_id,
        unit_version,
        province_code,
        baseline_year,
        review_year
    from {{ ref('int_plan_target_years') }}
    where measure = 'min_access_rate_baseline_poor'
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

-- The households poor in the baseline review, each with its weight in the territory (1 when its
-- commune, or its own code, puts it there; the crosswalk's share otherwise).
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
        -- 0 % when every household followed lacks the indicator: a filtered sum over no rows is
        -- NULL, and a NULL rate would leave the indicator out of the lowest.
        100 * coalesce(sum(weight) filter (where not is_deprived), 0) / sum(weight) as access_rate,
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

valued as (
    select
        access_targets.plan_id,
        access_targets.territory,
        access_targets.target_id,
        access_targets.baseline_year,
        access_targets.review_year,
        lowest_access.min_access_rate as measured_value,
        round(lowest_access.min_access_rate, 9) as target_value,
        lowest_access.lowest_indicator,
        lowest_access.followed_households
    from access_targets
    left join lowest_access
        on
            access_targets.plan_id = lowest_access.plan_id
            and access_targets.territory = lowest_access.territory
            and access_targets.target_id = lowest_access.target_id
            and access_targets.review_year = lowest_access.review_year
),

final as (
    select
        plan_id,
        territory,
        target_id,
        review_year,
        cast(null as varchar) as method,
        measured_value,
        target_value,
        cast(null as double) as measured_value_if_not_reassessed_poor,
        cast(null as double) as poor_not_reviewed_since,
        0 as value_floor,
        100 as value_ceiling,
        true as rests_on_baseline,
        cast(null as varchar) as series_name,
        cast(null as varchar) as series_name_vi,
        'lowest access among the ' || {{ count_text('followed_households') }}
        || ' households poor in ' || baseline_year || ' and assessed in ' || review_year || ': '
        || round(target_value, 2) || ' % (' || lowest_indicator || ')' as value_note,
        'tiếp cận thấp nhất trong ' || {{ vi_number('followed_households') }}
        || ' hộ nghèo năm ' || baseline_year || ' được rà soát năm ' || review_year || ': '
        || {{ vi_number('target_value') }} || ' % (' || lowest_indicator || ')' as value_note_vi,
        'none of the households poor in the baseline review ' || baseline_year
        || ' in this territory was assessed in review ' || review_year as missing_reason,
        'không hộ nào nghèo trong đợt rà soát gốc ' || baseline_year
        || ' của địa bàn được rà soát năm ' || review_year as missing_reason_vi
    from valued
)

select * from final
