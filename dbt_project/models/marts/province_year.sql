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

deprivations as (
    select * from {{ ref('int_commune_deprivations_counted') }}
),

weights as (
    select * from {{ ref('int_standard_indicator_weights') }}
),

-- Per commune: households deprived in 3 or more of the standard's indicators (identified) and
-- the sum of their weighted deprivation scores.
commune_mpi as (
    select
        deprivations.review_year,
        deprivations.unit_version,
        deprivations.commune_code,
        any_value(deprivations.identified_households) as identified_households,
        sum(weights.weight * deprivations.deprived_identified_households) as identified_score
    from deprivations
    inner join weights
        on
            deprivations.standard_id = weights.standard_id
            and deprivations.indicator_code = weights.indicator_code
    group by deprivations.review_year, deprivations.unit_version, deprivations.commune_code
),

summed as (
    select
        commune_year.review_year,
        commune_year.unit_version,
        commune_year.province_code,
        any_value(commune_year.province_name) as province_name,
        any_value(commune_year.standard_id) as standard_id,
        {{ sum_commune_counts('commune_year') }},
        cast(sum(commune_year.poor_households) filter (
            where commune_year.is_extremely_difficult
            and commune_year.reporting_status = 'reported'
        ) as bigint) as poor_households_extremely_difficult,
        cast(sum(commune_year.total_households) filter (
            where commune_year.is_extremely_difficult
            and commune_year.reporting_status = 'reported'
        ) as bigint) as total_households_extremely_difficult,
        sum(coalesce(commune_mpi.identified_households, 0)) filter (
            where commune_year.reporting_status = 'reported'
        ) as identified_households,
        sum(coalesce(commune_mpi.identified_score, 0)) filter (
            where commune_year.reporting_status = 'reported'
        ) as identified_score
    from commune_year
    left join commune_mpi
        on
            commune_year.review_year = commune_mpi.review_year
            and commune_year.unit_version = commune_mpi.unit_version
            and commune_year.commune_code = commune_mpi.commune_code
    group by commune_year.review_year, commune_year.unit_version, commune_year.province_code
),

moves as (
    {{ area_poor_moves('placed', 'commune_year', 'province_code') }}
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
        {{ derived_rates('true', 'summed.poor_ethnic_minority_with_totals', 'summed.') }},
        100 * cast(summed.poor_households_extremely_difficult as double)
        / nullif(summed.total_households_extremely_difficult, 0)
            as poverty_rate_extremely_difficult,
        -- Alkire-Foster over the assessed households of the counted communes (proportions 0-1).
        cast(summed.identified_households as double)
        / nullif(summed.assessed_households, 0) as mpi_headcount_ratio,
        summed.identified_score / nullif(summed.identified_households, 0) as mpi_intensity,
        summed.identified_score / nullif(summed.assessed_households, 0) as mpi_m0
    from summed
    left join review_years
        on summed.review_year = review_years.review_year
    left join moves
        on
            summed.review_year = moves.review_year
            and summed.unit_version = moves.unit_version
            and summed.province_code = moves.province_code
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
        standard_verified,
        poor_households_extremely_difficult,
        total_households_extremely_difficult,
        poverty_rate_extremely_difficult,
        mpi_headcount_ratio,
        mpi_intensity,
        mpi_m0
    from with_change
)

select * from final
