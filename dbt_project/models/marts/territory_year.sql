with

apportioned as (
    select * from {{ ref('int_commune_years_apportioned') }}
),

review_years as (
    select * from {{ ref('int_review_years_described') }}
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

-- What each commune of a review brings to one province territory: its share of the commune
-- (1 when the commune lies wholly inside the territory) and the counts placed there.
source_contributions as (
    select
        review_year,
        review_unit_version,
        review_commune_code,
        unit_version,
        province_code,
        bool_and(is_native) as is_native,
        sum(allocation_share) as territory_share,
        bool_or(is_reported) as is_reported,
        bool_or(has_totals) as has_totals,
        sum(total_households) as total_households,
    {%- for measure in territory_measures() %}
        sum({{ measure.name }}) as {{ measure.name }}{{ ',' if not loop.last }}
    {%- endfor %}
    from apportioned
    group by all
    -- a predecessor without households in the weights review gets no share of a 2025 commune
    having sum(allocation_share) > 0 or sum(assessed_households) > 0
),

summed as (
    select
        review_year,
        unit_version,
        province_code,
        case
            when bool_and(is_native) then 'native'
            -- a share below 1 means part of the commune was shared out to another territory
            when bool_and(territory_share >= 1 - 1e-9) then 'mapped'
            else 'apportioned'
        end as method,
        count(*) as communes_total,
        count(*) filter (where is_reported) as communes_reported,
        sum(total_households) filter (where is_reported and has_totals) as total_households,
        sum(total_households) filter (where is_reported) as reported_total_households,
        sum(total_households) as all_total_households,
        -- Counts, like the province's, over the reported communes with totals only, so that
        -- numerators and denominators cover the same communes (a commune reported without
        -- totals shows in communes_reported but adds no count).
    {%- for measure in territory_measures() %}
        sum({{ measure.name }}) filter (where is_reported and has_totals)
            as {{ measure.name }}{{ ',' if not loop.last }}
    {%- endfor %}
    from source_contributions
    group by review_year, unit_version, province_code
),

-- Every territory touched by any review, for every review year.
territories as (
    select distinct
        unit_version,
        province_code
    from summed
),

territory_years as (
    select
        territories.unit_version,
        territories.province_code,
        review_years.review_year,
        review_years.unit_version as review_unit_version,
        review_years.standard_id,
        review_years.standard_verified,
        review_years.previous_review_year
    from territories
    cross join review_years
),

rates as (
    select
        territory_years.*,
        coalesce(
            summed.method,
            case
                when territory_years.unit_version = territory_years.review_unit_version
                    then 'native'
                else 'mapped'
            end
        ) as method,
        cast(summed.total_households as double) as total_households,
        {%- for measure in territory_measures() %}
            cast(summed.{{ measure.name }} as double) as {{ measure.name }},
        {%- endfor %}
        100 * cast(summed.poor_households as double)
        / nullif(summed.total_households, 0) as poverty_rate,
        100 * cast(summed.near_poor_households as double)
        / nullif(summed.total_households, 0) as near_poverty_rate,
        cast(coalesce(summed.communes_reported, 0) as bigint) as communes_reported,
        cast(coalesce(summed.communes_total, 0) as bigint) as communes_total,
        -- Rounded to 9 decimals: both sums add fractional shares, in an order DuckDB does not
        -- fix, so a territory whose communes all reported could show 99.99999999999999 % and
        -- read as incomplete (target_progress marks a target provisional below 100 %).
        -- 0 % where none of its communes with totals reported, as in district_year.
        round(
            100 * cast(coalesce(summed.reported_total_households, 0) as double)
            / nullif(summed.all_total_households, 0),
            9
        ) as households_covered_percent
    from territory_years
    left join summed
        on
            territory_years.unit_version = summed.unit_version
            and territory_years.province_code = summed.province_code
            and territory_years.review_year = summed.review_year
),

-- The change since the previous review on the same territory under the same standard, across the
-- 2025 reorganisation too: both years are measured on the territory's own boundaries.
with_change as (
    select
        rates.*,
        rates.poverty_rate - previous_year.poverty_rate as poverty_rate_change_pp
    from rates
    left join rates as previous_year
        on
            rates.previous_review_year = previous_year.review_year
            and rates.unit_version = previous_year.unit_version
            and rates.province_code = previous_year.province_code
            and rates.standard_id = previous_year.standard_id
),

final as (
    select
        with_change.unit_version || ':' || with_change.province_code as territory,
        with_change.unit_version as territory_unit_version,
        with_change.province_code,
        province_names.province_name,
        -- The name an officer reads: the province as it was on these boundaries.
        province_names.province_name || case with_change.unit_version
            when 'pre2025' then ' (trước 2025)'
            else ' (từ ' || with_change.unit_version || ')'
        end as territory_name_vi,
        with_change.review_year,
        with_change.review_unit_version,
        with_change.standard_id,
        with_change.standard_verified,
        with_change.method,
        with_change.total_households,
        {%- for measure in territory_measures() %}
            with_change.{{ measure.name }},
        {%- endfor %}
        with_change.poverty_rate,
        with_change.near_poverty_rate,
        with_change.poverty_rate_change_pp,
        with_change.communes_reported,
        with_change.communes_total,
        with_change.households_covered_percent
    from with_change
    left join province_names
        on
            with_change.unit_version = province_names.unit_version
            and with_change.province_code = province_names.province_code
)

select * from final
