with

commune_year as (
    select * from {{ ref('commune_year') }}
),

review_years as (
    select * from {{ ref('int_review_years_described') }}
),

not_reassessed as (
    select * from {{ ref('int_households_not_reassessed') }}
),

communes as (
    select * from {{ ref('stg_admin_units__communes') }}
),

province_names as (
    select distinct
        unit_version,
        province_code,
        province_name
    from communes
),

summed as (
    select
        commune_year.review_year,
        commune_year.unit_version,
        commune_year.province_code,
        {{ sum_commune_counts('commune_year') }},
        cast(sum(commune_year.poor_households) filter (
            where commune_year.is_extremely_difficult
        ) as bigint) as poor_households_extremely_difficult,
        cast(sum(commune_year.total_households) filter (
            where commune_year.is_extremely_difficult
        ) as bigint) as total_households_extremely_difficult
    from commune_year
    group by commune_year.review_year, commune_year.unit_version, commune_year.province_code
),

not_reassessed_counts as (
    select
        review_year,
        unit_version,
        province_code,
        cast(count(*) as bigint) as poor_not_reassessed
    from not_reassessed
    group by review_year, unit_version, province_code
),

-- A province can have poor households of the previous review that are absent from this one
-- without any commune row this year: it still gets a row so that the flow identity holds.
provinces as (
    select
        review_year,
        unit_version,
        province_code
    from summed
    union
    select
        review_year,
        unit_version,
        province_code
    from not_reassessed_counts
),

joined as (
    select
        provinces.review_year,
        provinces.unit_version,
        provinces.province_code,
        province_names.province_name,
        review_years.standard_id,
        review_years.previous_review_year,
        review_years.is_comparable_to_previous,
        coalesce(summed.communes, 0) as communes,
        coalesce(summed.extremely_difficult_communes, 0) as extremely_difficult_communes,
        coalesce(summed.difficult_villages, 0) as difficult_villages,
        summed.total_villages,
        summed.total_households,
        summed.total_population,
        coalesce(summed.assessed_households, 0) as assessed_households,
        coalesce(summed.poor_households, 0) as poor_households,
        coalesce(summed.near_poor_households, 0) as near_poor_households,
        coalesce(summed.middle_households, 0) as middle_households,
        coalesce(summed.poor_ethnic_minority, 0) as poor_ethnic_minority,
        coalesce(summed.poor_meritorious_family, 0) as poor_meritorious_family,
        coalesce(summed.poor_social_protection, 0) as poor_social_protection,
        coalesce(summed.poor_no_labour_capacity, 0) as poor_no_labour_capacity,
        coalesce(summed.poor_female_headed, 0) as poor_female_headed,
        case
            when review_years.has_known_flows then coalesce(summed.exited_poverty, 0)
        end as exited_poverty,
        case
            when review_years.has_known_flows then coalesce(summed.newly_poor, 0)
        end as newly_poor,
        case
            when review_years.has_known_flows then coalesce(summed.returned_to_poverty, 0)
        end as returned_to_poverty,
        coalesce(summed.classification_mismatches, 0) as classification_mismatches,
        coalesce(summed.poor_households_extremely_difficult, 0)
            as poor_households_extremely_difficult,
        summed.total_households_extremely_difficult,
        -- Known whenever the previous review is loaded (also in a standard's first year).
        case
            when review_years.previous_review_year is not null
                then coalesce(not_reassessed_counts.poor_not_reassessed, 0)
        end as poor_not_reassessed
    from provinces
    left join summed
        on
            provinces.review_year = summed.review_year
            and provinces.unit_version = summed.unit_version
            and provinces.province_code = summed.province_code
    left join not_reassessed_counts
        on
            provinces.review_year = not_reassessed_counts.review_year
            and provinces.unit_version = not_reassessed_counts.unit_version
            and provinces.province_code = not_reassessed_counts.province_code
    left join review_years
        on provinces.review_year = review_years.review_year
    left join province_names
        on
            provinces.unit_version = province_names.unit_version
            and provinces.province_code = province_names.province_code
),

rates as (
    select
        *,
        100 * cast(poor_households as double) / nullif(total_households, 0) as poverty_rate,
        100 * cast(near_poor_households as double) / nullif(total_households, 0)
            as near_poverty_rate,
        100 * cast(poor_households_extremely_difficult as double)
        / nullif(total_households_extremely_difficult, 0) as poverty_rate_extremely_difficult
    from joined
),

with_change as (
    {{ with_rate_change('rates', 'province_code') }}
),

final as (
    select
        review_year,
        unit_version,
        province_code,
        province_name,
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
        classification_mismatches,
        poor_households_extremely_difficult,
        total_households_extremely_difficult,
        poverty_rate_extremely_difficult,
        poor_not_reassessed
    from with_change
)

select * from final
