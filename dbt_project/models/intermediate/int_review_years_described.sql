with

households as (
    select * from {{ ref('stg_review_exports__households') }}
),

commune_totals as (
    select * from {{ ref('stg_review_exports__commune_totals') }}
),

standards as (
    select * from {{ ref('poverty_standards') }}
),

-- A standard is verified when every indicator it counts was checked against its legal text.
standard_verification as (
    select
        standard_id,
        bool_and(verified) as standard_verified
    from {{ ref('standard_indicators') }}
    where counted_in_standard
    group by standard_id
),

review_years as (
    select
        review_year,
        min(unit_version) as unit_version
    from (
        select
            review_year,
            unit_version
        from households
        union all
        select
            review_year,
            unit_version
        from commune_totals
    ) as loaded
    group by review_year
),

standard_periods as (
    select
        standard_id,
        min(first_review_year) as first_review_year,
        max(last_review_year) as last_review_year,
        -- A middle class exists only where the standard states a middle line for every area.
        bool_and(middle_line is not null) as has_middle_line
    from standards
    group by standard_id
),

with_standard as (
    select
        review_years.review_year,
        review_years.unit_version,
        standard_periods.standard_id,
        standard_periods.first_review_year as standard_first_review_year,
        coalesce(standard_periods.has_middle_line, false) as has_middle_line,
        standard_verification.standard_verified,
        -- How many earlier loaded reviews the flows can look at (reviews before this one).
        count(*) over (order by review_years.review_year) - 1 as history_reviews
    from review_years
    left join standard_periods
        on
            review_years.review_year
            between standard_periods.first_review_year and standard_periods.last_review_year
    left join standard_verification
        on standard_periods.standard_id = standard_verification.standard_id
),

final as (
    select
        current_year.review_year,
        current_year.unit_version,
        current_year.standard_id,
        current_year.standard_first_review_year,
        current_year.has_middle_line,
        current_year.standard_verified,
        current_year.history_reviews,
        previous_year.review_year as previous_review_year,
        current_year.review_year = current_year.standard_first_review_year
            as is_first_year_of_standard,
        previous_year.review_year is not null
        and current_year.review_year <> current_year.standard_first_review_year
            as has_known_flows,
        previous_year.review_year is not null
        and previous_year.standard_id = current_year.standard_id
        and previous_year.unit_version = current_year.unit_version
            as is_comparable_to_previous
    from with_standard as current_year
    left join with_standard as previous_year
        on current_year.review_year - 1 = previous_year.review_year
)

select * from final
