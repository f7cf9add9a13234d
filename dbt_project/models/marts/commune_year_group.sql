{#- The group counts of int_commune_groups_counted (incremental by review year) with each
    commune's codes, for the communes commune_year reports; a flow is NULL where commune_year's
    is unknown. -#}
with

commune_year as (
    select * from {{ ref('commune_year') }}
),

long as (
    select * from {{ ref('int_commune_groups_counted') }}
),

-- Reported communes only (a commune without loaded rows has no group figures); flows NULL
-- where commune_year's are unknown.
final as (
    select
        commune_year.review_year,
        commune_year.unit_version,
        commune_year.province_code,
        commune_year.district_code,
        commune_year.commune_code,
        long.group_code,
        long.group_name_vi,
        cast(long.assessed_households as bigint) as assessed_households,
        cast(long.poor_households as bigint) as poor_households,
        cast(long.near_poor_households as bigint) as near_poor_households,
        cast(coalesce(long.poor_people, 0) as bigint) as poor_people,
        cast(coalesce(long.near_poor_people, 0) as bigint) as near_poor_people,
        case
            when commune_year.exited_poverty is not null then cast(long.exited_poverty as bigint)
        end as exited_poverty,
        case
            when commune_year.newly_poor is not null then cast(long.newly_poor as bigint)
        end as newly_poor,
        case
            when commune_year.returned_to_poverty is not null
                then cast(long.returned_to_poverty as bigint)
        end as returned_to_poverty
    from long
    inner join commune_year
        on
            long.review_year = commune_year.review_year
            and long.unit_version = commune_year.unit_version
            and long.commune_code = commune_year.commune_code
)

select * from final
