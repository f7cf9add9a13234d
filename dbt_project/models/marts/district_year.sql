with

commune_year as (
    select * from {{ ref('commune_year') }}
),

review_years as (
    select * from {{ ref('int_review_years_described') }}
),

placed as (
    select * from {{ ref('int_households_previously_poor_placed') }}
),

-- Districts were abolished on 2025-07-01: only reviews on the pre2025 units have them.
pre2025_communes as (
    select * from commune_year
    where unit_version = 'pre2025'
),

summed as (
    select
        pre2025_communes.review_year,
        pre2025_communes.unit_version,
        pre2025_communes.province_code,
        pre2025_communes.province_name,
        pre2025_communes.district_code,
        pre2025_communes.district_name,
        pre2025_communes.standard_id,
        {{ sum_commune_counts('pre2025_communes') }}
    from pre2025_communes
    group by
        pre2025_communes.review_year,
        pre2025_communes.unit_version,
        pre2025_communes.province_code,
        pre2025_communes.province_name,
        pre2025_communes.district_code,
        pre2025_communes.district_name,
        pre2025_communes.standard_id
),

moves as (
    {{ area_poor_moves('placed', 'pre2025_communes', 'district_code') }}
),

rates as (
    select
        summed.*,
        case
            when review_years.has_known_flows and summed.communes_reported > 0
                then cast(coalesce(moves.poor_moved_in, 0) as double)
        end as poor_moved_in,
        case
            when review_years.has_known_flows and summed.communes_reported > 0
                then cast(coalesce(moves.poor_moved_out, 0) as double)
        end as poor_moved_out,
        review_years.previous_review_year,
        review_years.is_comparable_to_previous,
        review_years.standard_verified,
        100 * cast(summed.poor_households as double) / nullif(summed.total_households, 0)
            as poverty_rate,
        100 * cast(summed.near_poor_households as double) / nullif(summed.total_households, 0)
            as near_poverty_rate,
        {{ derived_rates('true', 'summed.poor_ethnic_minority_with_totals', 'summed.') }}
    from summed
    left join review_years
        on summed.review_year = review_years.review_year
    left join moves
        on
            summed.review_year = moves.review_year
            and summed.unit_version = moves.unit_version
            and summed.district_code = moves.district_code
),

with_change as (
    {{ with_rate_change('rates', 'district_code') }}
),

final as (
    select
        review_year,
        unit_version,
        province_code,
        province_name,
        district_code,
        district_name,
        standard_id,
        communes_total,
        communes_reported,
        households_covered_percent,
        extremely_difficult_communes,
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
