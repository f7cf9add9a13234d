{#- The annual review summary offices send upward, one layout for every area level: the
    published marts' counts renamed into start, flows and end, plus the one figure no mart
    holds, poor_start (the previous review's poor households placed on this area, as the
    flow_balance tests count it). Territory rows take their stocks from territory_year and their
    flows from province_year where the territory is the review's own province (method native). -#}
with

commune_year as (
    select * from {{ ref('commune_year') }}
),

district_year as (
    select * from {{ ref('district_year') }}
),

province_year as (
    select * from {{ ref('province_year') }}
),

territory_year as (
    select * from {{ ref('territory_year') }}
),

commune_year_group as (
    select * from {{ ref('commune_year_group') }}
),

province_year_group as (
    select * from {{ ref('province_year_group') }}
),

review_years as (
    select * from {{ ref('int_review_years_described') }}
),

placed as (
    select * from {{ ref('int_households_previously_poor_placed') }}
),

-- The previous review's poor households standing in each commune of this review's units. Exact
-- (DECIMAL(38, 18), macros/exact_share.sql) until published: the districts and provinces sum it
-- again over their communes, and a sum of DOUBLEs depends on the order DuckDB adds the rows in
-- (a change of plan moved a province's figure by 1e-12).
commune_poor_start as (
    select
        review_year,
        unit_version,
        commune_code,
        sum(weight) as poor_start
    from placed
    group by review_year, unit_version, commune_code
),

commune_groups as (
    select
        review_year,
        unit_version,
        commune_code,
        sum(near_poor_households) filter (
            where group_code = 'ethnic_minority'
        ) as near_poor_ethnic_minority,
        sum(near_poor_households) filter (
            where group_code = 'meritorious_family'
        ) as near_poor_meritorious_family
    from commune_year_group
    group by review_year, unit_version, commune_code
),

province_groups as (
    select
        review_year,
        unit_version,
        province_code,
        sum(near_poor_households) filter (
            where group_code = 'ethnic_minority'
        ) as near_poor_ethnic_minority,
        sum(near_poor_households) filter (
            where group_code = 'meritorious_family'
        ) as near_poor_meritorious_family
    from province_year_group
    group by review_year, unit_version, province_code
),

-- Per commune, what the larger areas sum over their counted (reported) communes.
communes as (
    select
        commune_year.*,
        review_years.previous_review_year,
        coalesce(commune_poor_start.poor_start, 0) as placed_poor_start,
        commune_groups.near_poor_ethnic_minority,
        commune_groups.near_poor_meritorious_family
    from commune_year
    left join review_years
        on commune_year.review_year = review_years.review_year
    left join commune_poor_start
        on
            commune_year.review_year = commune_poor_start.review_year
            and commune_year.unit_version = commune_poor_start.unit_version
            and commune_year.commune_code = commune_poor_start.commune_code
    left join commune_groups
        on
            commune_year.review_year = commune_groups.review_year
            and commune_year.unit_version = commune_groups.unit_version
            and commune_year.commune_code = commune_groups.commune_code
),

district_counted as (
    select
        review_year,
        district_code,
        sum(placed_poor_start) as placed_poor_start,
        sum(near_poor_ethnic_minority) as near_poor_ethnic_minority,
        sum(near_poor_meritorious_family) as near_poor_meritorious_family
    from communes
    where unit_version = 'pre2025' and reporting_status = 'reported'
    group by review_year, district_code
),

province_poor_start as (
    select
        review_year,
        unit_version,
        province_code,
        sum(placed_poor_start) as placed_poor_start
    from communes
    where reporting_status = 'reported'
    group by review_year, unit_version, province_code
),

commune_rows as (
    select
        communes.review_year,
        communes.unit_version,
        'commune' as area_level,
        communes.commune_code as area_code,
        communes.commune_name as area_name_vi,
        communes.province_code,
        communes.district_code,
        communes.total_households,
        case when communes.exited_poverty is not null then communes.placed_poor_start end
            as poor_start,
        communes.exited_poverty,
        communes.newly_poor,
        communes.returned_to_poverty + communes.reappeared_poor as poor_returned,
        communes.poor_moved_in,
        communes.poor_moved_out,
        communes.poor_not_reassessed,
        communes.poor_households,
        communes.poverty_rate,
        case when communes.exited_poverty is not null then previous.near_poor_households end
            as near_poor_start,
        communes.exited_near_poverty,
        communes.near_poor_to_poor,
        communes.poor_to_near_poor,
        communes.newly_near_poor,
        communes.near_poor_households,
        communes.near_poverty_rate,
        communes.poor_ethnic_minority,
        communes.near_poor_ethnic_minority,
        communes.poor_meritorious_family,
        communes.near_poor_meritorious_family,
        communes.poor_people,
        communes.near_poor_people
    from communes
    left join commune_year as previous
        on
            communes.previous_review_year = previous.review_year
            and communes.unit_version = previous.unit_version
            and communes.commune_code = previous.commune_code
),

district_rows as (
    select
        district_year.review_year,
        district_year.unit_version,
        'district' as area_level,
        district_year.district_code as area_code,
        district_year.district_name as area_name_vi,
        district_year.province_code,
        district_year.district_code,
        district_year.total_households,
        case
            when district_year.exited_poverty is not null
                then coalesce(district_counted.placed_poor_start, 0)
        end as poor_start,
        district_year.exited_poverty,
        district_year.newly_poor,
        district_year.returned_to_poverty + district_year.reappeared_poor as poor_returned,
        district_year.poor_moved_in,
        district_year.poor_moved_out,
        district_year.poor_not_reassessed,
        district_year.poor_households,
        district_year.poverty_rate,
        case when district_year.exited_poverty is not null then previous.near_poor_households end
            as near_poor_start,
        district_year.exited_near_poverty,
        district_year.near_poor_to_poor,
        district_year.poor_to_near_poor,
        district_year.newly_near_poor,
        district_year.near_poor_households,
        district_year.near_poverty_rate,
        district_year.poor_ethnic_minority,
        district_counted.near_poor_ethnic_minority,
        district_year.poor_meritorious_family,
        district_counted.near_poor_meritorious_family,
        district_year.poor_people,
        district_year.near_poor_people
    from district_year
    left join review_years
        on district_year.review_year = review_years.review_year
    left join district_year as previous
        on
            review_years.previous_review_year = previous.review_year
            and district_year.district_code = previous.district_code
    left join district_counted
        on
            district_year.review_year = district_counted.review_year
            and district_year.district_code = district_counted.district_code
),

-- A province's previous near-poor count on its own territory: across 2025 the harmonised
-- series places the 2024 households on the 2025 province.
province_rows as (
    select
        province_year.review_year,
        province_year.unit_version,
        'province' as area_level,
        province_year.province_code as area_code,
        province_year.province_name as area_name_vi,
        province_year.province_code,
        cast(null as varchar) as district_code,
        province_year.total_households,
        case
            when province_year.exited_poverty is not null
                then coalesce(province_poor_start.placed_poor_start, 0)
        end as poor_start,
        province_year.exited_poverty,
        province_year.newly_poor,
        province_year.returned_to_poverty + province_year.reappeared_poor as poor_returned,
        province_year.poor_moved_in,
        province_year.poor_moved_out,
        province_year.poor_not_reassessed,
        province_year.poor_households,
        province_year.poverty_rate,
        case when province_year.exited_poverty is not null then previous.near_poor_households end
            as near_poor_start,
        province_year.exited_near_poverty,
        province_year.near_poor_to_poor,
        province_year.poor_to_near_poor,
        province_year.newly_near_poor,
        province_year.near_poor_households,
        province_year.near_poverty_rate,
        province_year.poor_ethnic_minority,
        province_groups.near_poor_ethnic_minority,
        province_year.poor_meritorious_family,
        province_groups.near_poor_meritorious_family,
        province_year.poor_people,
        province_year.near_poor_people
    from province_year
    left join review_years
        on province_year.review_year = review_years.review_year
    left join territory_year as previous
        on
            review_years.previous_review_year = previous.review_year
            and province_year.unit_version = previous.territory_unit_version
            and province_year.province_code = previous.province_code
    left join province_poor_start
        on
            province_year.review_year = province_poor_start.review_year
            and province_year.unit_version = province_poor_start.unit_version
            and province_year.province_code = province_poor_start.province_code
    left join province_groups
        on
            province_year.review_year = province_groups.review_year
            and province_year.unit_version = province_groups.unit_version
            and province_year.province_code = province_groups.province_code
),

territory_rows as (
    select
        territory_year.review_year,
        territory_year.review_unit_version as unit_version,
        'territory' as area_level,
        territory_year.territory as area_code,
        territory_year.province_name
        || case
            when territory_year.territory_unit_version = 'pre2025' then ' (trước 2025)'
            else ' (từ 2025)'
        end as area_name_vi,
        territory_year.province_code,
        cast(null as varchar) as district_code,
        territory_year.total_households,
        native.poor_start,
        native.exited_poverty,
        native.newly_poor,
        native.poor_returned,
        native.poor_moved_in,
        native.poor_moved_out,
        native.poor_not_reassessed,
        territory_year.poor_households,
        territory_year.poverty_rate,
        previous.near_poor_households as near_poor_start,
        native.exited_near_poverty,
        native.near_poor_to_poor,
        native.poor_to_near_poor,
        native.newly_near_poor,
        territory_year.near_poor_households,
        territory_year.near_poverty_rate,
        native.poor_ethnic_minority,
        native.near_poor_ethnic_minority,
        native.poor_meritorious_family,
        native.near_poor_meritorious_family,
        territory_year.poor_people,
        territory_year.near_poor_people
    from territory_year
    left join review_years
        on territory_year.review_year = review_years.review_year
    left join territory_year as previous
        on
            review_years.previous_review_year = previous.review_year
            and territory_year.territory = previous.territory
            and review_years.has_known_flows
    left join province_rows as native
        on
            territory_year.method = 'native'
            and territory_year.review_year = native.review_year
            and territory_year.territory_unit_version = native.unit_version
            and territory_year.province_code = native.province_code
),

unioned as (
    select * from commune_rows
    union all
    select * from district_rows
    union all
    select * from province_rows
    union all
    select * from territory_rows
),

final as (
    select
        review_year,
        unit_version,
        area_level,
        area_code,
        area_name_vi,
        province_code,
        district_code,
        cast(total_households as double) as total_households,
        cast(poor_start as double) as poor_start,
        cast(exited_poverty as double) as poor_exited,
        cast(newly_poor as double) as poor_newly,
        cast(poor_returned as double) as poor_returned,
        cast(poor_moved_in as double) as poor_moved_in,
        cast(poor_moved_out as double) as poor_moved_out,
        cast(poor_not_reassessed as double) as poor_not_reassessed,
        cast(poor_households as double) as poor_end,
        poverty_rate as poverty_rate_end,
        cast(near_poor_start as double) as near_poor_start,
        cast(exited_near_poverty as double) as near_poor_exited,
        cast(near_poor_to_poor as double) as near_poor_to_poor,
        cast(poor_to_near_poor as double) as near_poor_from_poor,
        cast(newly_near_poor as double) as near_poor_newly,
        cast(
            near_poor_households - near_poor_start + exited_near_poverty + near_poor_to_poor
            - poor_to_near_poor - newly_near_poor
            as double
        ) as near_poor_other_change,
        cast(near_poor_households as double) as near_poor_end,
        near_poverty_rate as near_poverty_rate_end,
        cast(poor_ethnic_minority as double) as poor_end_ethnic_minority,
        cast(near_poor_ethnic_minority as double) as near_poor_end_ethnic_minority,
        cast(poor_meritorious_family as double) as poor_end_meritorious_family,
        cast(near_poor_meritorious_family as double) as near_poor_end_meritorious_family,
        cast(poor_people as double) as poor_people_end,
        cast(near_poor_people as double) as near_poor_people_end
    from unioned
)

select * from final
