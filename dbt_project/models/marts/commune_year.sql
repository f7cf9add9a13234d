with

communes as (
    select * from {{ ref('int_communes_enriched') }}
),

review_years as (
    select * from {{ ref('int_review_years_described') }}
),

classified as (
    select * from {{ ref('int_households_classified') }}
),

-- Only the households with a flow: the join then builds its hash table on about one row in
-- seven instead of every household-year (nationally 1.5 s against 2.3 s, identical rows).
flows as (
    select
        review_year,
        household_code,
        flow
    from {{ ref('int_household_flows_tracked') }}
    where flow is not null
),

household_counts as (
    select
        classified.review_year,
        classified.unit_version,
        classified.commune_code,
        count(*) as assessed_households,
        count(*) filter (where classified.computed_class = 'poor') as poor_households,
        count(*) filter (where classified.computed_class = 'near_poor') as near_poor_households,
        count(*) filter (where classified.computed_class = 'middle') as middle_households,
        count(*) filter (
            where classified.is_poor and classified.is_ethnic_minority
        ) as poor_ethnic_minority,
        count(*) filter (
            where classified.is_poor and classified.is_meritorious_family
        ) as poor_meritorious_family,
        count(*) filter (
            where classified.is_poor and classified.is_social_protection
        ) as poor_social_protection,
        count(*) filter (
            where classified.is_poor and classified.is_no_labour_capacity
        ) as poor_no_labour_capacity,
        count(*) filter (
            where classified.is_poor and classified.is_female_headed
        ) as poor_female_headed,
        count(*) filter (where flows.flow = 'exited_poverty') as exited_poverty,
        count(*) filter (where flows.flow = 'newly_poor') as newly_poor,
        count(*) filter (where flows.flow = 'returned_to_poverty') as returned_to_poverty,
        count(*) filter (where classified.is_class_mismatch) as classification_mismatches
    from classified
    left join flows
        on
            classified.review_year = flows.review_year
            and classified.household_code = flows.household_code
    group by classified.review_year, classified.unit_version, classified.commune_code
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
        communes.is_extremely_difficult,
        cast(communes.difficult_villages as bigint) as difficult_villages,
        cast(communes.total_villages as bigint) as total_villages,
        cast(communes.total_households as bigint) as total_households,
        cast(communes.total_population as bigint) as total_population,
        cast(coalesce(household_counts.assessed_households, 0) as bigint) as assessed_households,
        cast(coalesce(household_counts.poor_households, 0) as bigint) as poor_households,
        cast(coalesce(household_counts.near_poor_households, 0) as bigint)
            as near_poor_households,
        cast(coalesce(household_counts.middle_households, 0) as bigint) as middle_households,
        cast(coalesce(household_counts.poor_ethnic_minority, 0) as bigint)
            as poor_ethnic_minority,
        cast(coalesce(household_counts.poor_meritorious_family, 0) as bigint)
            as poor_meritorious_family,
        cast(coalesce(household_counts.poor_social_protection, 0) as bigint)
            as poor_social_protection,
        cast(coalesce(household_counts.poor_no_labour_capacity, 0) as bigint)
            as poor_no_labour_capacity,
        cast(coalesce(household_counts.poor_female_headed, 0) as bigint) as poor_female_headed,
        -- Flows are unknown (NULL) in the first year of the data and of a standard.
        case
            when review_years.has_known_flows
                then cast(coalesce(household_counts.exited_poverty, 0) as bigint)
        end as exited_poverty,
        case
            when review_years.has_known_flows
                then cast(coalesce(household_counts.newly_poor, 0) as bigint)
        end as newly_poor,
        case
            when review_years.has_known_flows
                then cast(coalesce(household_counts.returned_to_poverty, 0) as bigint)
        end as returned_to_poverty,
        cast(coalesce(household_counts.classification_mismatches, 0) as bigint)
            as classification_mismatches,
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
),

rates as (
    select
        *,
        100 * cast(poor_households as double) / nullif(total_households, 0) as poverty_rate,
        100 * cast(near_poor_households as double) / nullif(total_households, 0)
            as near_poverty_rate
    from joined
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
        is_extremely_difficult,
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
