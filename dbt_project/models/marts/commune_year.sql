with

communes as (
    select * from {{ ref('int_communes_enriched') }}
),

review_years as (
    select * from {{ ref('int_review_years_described') }}
),

placed as (
    select * from {{ ref('int_households_previously_poor_placed') }}
),

-- Each commune's household counts: its rows in int_commune_households_counted are its
-- households split by where their codes place them on the other unit version, added up here.
household_counts as (
    select
        review_year,
        unit_version,
        commune_code,
        {{ count_commune_measures(added_up=true) }}
    from {{ ref('int_commune_households_counted') }}
    group by review_year, unit_version, commune_code
),

-- The previous review's poor households where they stand in this review's units: not
-- reassessed, or reassessed in another commune (moved out), counted where they were.
previous_poor_counts as (
    select
        review_year,
        unit_version,
        commune_code,
        sum(weight) filter (where not is_reassessed) as poor_not_reassessed,
        sum(weight) filter (
            where is_reassessed and current_commune_code <> commune_code
        ) as poor_moved_out
    from placed
    group by review_year, unit_version, commune_code
),

-- Reassessed in this commune, poor in the previous review somewhere else.
moved_in_counts as (
    select
        review_year,
        unit_version,
        current_commune_code as commune_code,
        sum(weight) as poor_moved_in
    from placed
    where is_reassessed and current_commune_code <> commune_code
    group by review_year, unit_version, current_commune_code
),

joined as (
    select
        communes.review_year,
        communes.unit_version,
        communes.province_code,
        communes.province_name,
        communes.district_code,
        communes.district_name,
        communes.commune_code,
        communes.commune_name,
        communes.standard_id,
        review_years.standard_verified,
        communes.reporting_status,
        communes.reporting_status <> 'not_reported' as is_reported,
        coalesce(review_years.has_known_flows, false) as has_known_flows,
        coalesce(review_years.has_middle_line, false) as has_middle_line,
        review_years.history_reviews,
        communes.is_extremely_difficult,
        cast(communes.difficult_villages as bigint) as difficult_villages,
        cast(communes.total_villages as bigint) as total_villages,
        cast(communes.total_households as bigint) as total_households,
        cast(communes.total_population as bigint) as total_population,
        cast(communes.total_ethnic_minority_households as bigint)
            as total_ethnic_minority_households,
        {%- for measure in commune_measures() if measure.count %}
            household_counts.{{ measure.name }},
        {%- endfor %}
        previous_poor_counts.poor_not_reassessed,
        previous_poor_counts.poor_moved_out,
        moved_in_counts.poor_moved_in,
        review_years.previous_review_year,
        review_years.is_comparable_to_previous
    from communes
    left join review_years
        on communes.review_year = review_years.review_year
    left join household_counts
        on
            communes.review_year = household_counts.review_year
            and communes.unit_version = household_counts.unit_version
            and communes.commune_code = household_counts.commune_code
    left join previous_poor_counts
        on
            communes.review_year = previous_poor_counts.review_year
            and communes.unit_version = previous_poor_counts.unit_version
            and communes.commune_code = previous_poor_counts.commune_code
    left join moved_in_counts
        on
            communes.review_year = moved_in_counts.review_year
            and communes.unit_version = moved_in_counts.unit_version
            and communes.commune_code = moved_in_counts.commune_code
),

-- A commune that is not reported has NULL counts (nothing is known of it, never 0); flows are
-- NULL too where they are unknown (first review of the data or of a standard).
counted as (
    select
        review_year,
        unit_version,
        province_code,
        province_name,
        district_code,
        district_name,
        commune_code,
        commune_name,
        standard_id,
        standard_verified,
        reporting_status,
        is_extremely_difficult,
        difficult_villages,
        total_villages,
        total_households,
        total_population,
        total_ethnic_minority_households,
        {{ published_commune_measures() }},
        previous_review_year,
        is_comparable_to_previous
    from joined
),

-- Rates only where the commune is reported and has its totals row.
rates as (
    select
        *,
        case
            when reporting_status = 'reported'
                then 100 * cast(poor_households as double) / nullif(total_households, 0)
        end as poverty_rate,
        case
            when reporting_status = 'reported'
                then 100 * cast(near_poor_households as double) / nullif(total_households, 0)
        end as near_poverty_rate,
        {{ derived_rates("reporting_status = 'reported'", 'poor_ethnic_minority') }}
    from counted
),

with_change as (
    {{ with_rate_change('rates', 'commune_code') }}
),

final as (
    select
        review_year,
        unit_version,
        province_code,
        province_name,
        district_code,
        district_name,
        commune_code,
        commune_name,
        standard_id,
        reporting_status,
        is_extremely_difficult,
        difficult_villages,
        total_villages,
        total_households,
        total_population,
        {{ measure_columns('households') }},
        poverty_rate,
        near_poverty_rate,
        multidimensional_poverty_rate,
        poverty_rate_change_pp,
        {{ measure_columns('details') }},
        {{ measure_columns('checks') }},
        total_ethnic_minority_households,
        poverty_rate_excl_social_protection,
        poverty_rate_ethnic_minority,
        standard_verified
    from with_change
)

select * from final
