-- A returned row is a district and review year whose flows are known but where
-- poor(y) <> poor(y-1) - exited_poverty - poor_not_reassessed - poor_moved_out + poor_moved_in
--           + newly_poor + returned_to_poverty + reappeared_poor,
-- poor(y-1) counted on the district as it is in y (through the crosswalk across 2025),
-- over the district's reported communes with totals.
with

commune_year as (
    select * from {{ ref('commune_year') }}
),

area_year as (
    select * from {{ ref('district_year') }}
),

placed as (
    select * from {{ ref('int_households_previously_poor_placed') }}
),

-- poor(y - 1) on the area as it is in y: the previous review's poor households placed in the
-- area's counted communes (reported with totals in y), through the crosswalk across 2025.
previous_poor as (
    select
        placed.review_year,
        placed.unit_version,
        commune_year.district_code,
        sum(placed.weight) as previous_poor_households
    from placed
    inner join commune_year
        on
            placed.review_year = commune_year.review_year
            and placed.unit_version = commune_year.unit_version
            and placed.commune_code = commune_year.commune_code
    where commune_year.reporting_status = 'reported'
    group by placed.review_year, placed.unit_version, commune_year.district_code
),

final as (
    select
        area_year.review_year,
        area_year.unit_version,
        area_year.district_code,
        area_year.poor_households,
        coalesce(previous_poor.previous_poor_households, 0) as previous_poor_households,
        area_year.exited_poverty,
        area_year.poor_not_reassessed,
        area_year.poor_moved_out,
        area_year.poor_moved_in,
        area_year.newly_poor,
        area_year.returned_to_poverty,
        area_year.reappeared_poor
    from area_year
    left join previous_poor
        on
            area_year.review_year = previous_poor.review_year
            and area_year.unit_version = previous_poor.unit_version
            and area_year.district_code = previous_poor.district_code
    where true
    -- Flows are known (not the first review of the data or of a standard).
    and area_year.exited_poverty is not null
    and abs(
        area_year.poor_households - (
            coalesce(previous_poor.previous_poor_households, 0)
            - area_year.exited_poverty
            - area_year.poor_not_reassessed
            - area_year.poor_moved_out
            + area_year.poor_moved_in
            + area_year.newly_poor
            + area_year.returned_to_poverty
            + area_year.reappeared_poor
        )
    ) > 1e-9
)

select * from final
