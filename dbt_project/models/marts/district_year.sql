with

commune_year as (
    select * from {{ ref('commune_year') }}
),

review_years as (
    select * from {{ ref('int_review_years_described') }}
),

summed as (
    select
        commune_year.review_year,
        commune_year.unit_version,
        commune_year.province_code,
        commune_year.province_name,
        commune_year.district_code,
        commune_year.district_name,
        commune_year.standard_id,
        {{ sum_commune_counts('commune_year') }}
    from commune_year
    -- Districts were abolished on 2025-07-01: only reviews on the pre2025 units have them.
    where commune_year.unit_version = 'pre2025'
    group by
        commune_year.review_year,
        commune_year.unit_version,
        commune_year.province_code,
        commune_year.province_name,
        commune_year.district_code,
        commune_year.district_name,
        commune_year.standard_id
),

rates as (
    select
        summed.*,
        review_years.previous_review_year,
        review_years.is_comparable_to_previous,
        100 * cast(summed.poor_households as double) / nullif(summed.total_households, 0)
            as poverty_rate,
        100 * cast(summed.near_poor_households as double) / nullif(summed.total_households, 0)
            as near_poverty_rate
    from summed
    left join review_years
        on summed.review_year = review_years.review_year
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
        communes,
        extremely_difficult_communes,
        difficult_villages,
        total_villages,
        total_households,
        total_population,
        assessed_households,
        poor_households,
        near_poor_households,
        middle_households,
        poverty_rate,
        near_poverty_rate,
        multidimensional_poverty_rate,
        poverty_rate_change_pp,
        poor_ethnic_minority,
        poor_meritorious_family,
        poor_social_protection,
        poor_no_labour_capacity,
        poor_female_headed,
        exited_poverty,
        newly_poor,
        returned_to_poverty,
        classification_mismatches
    from with_change
)

select * from final
