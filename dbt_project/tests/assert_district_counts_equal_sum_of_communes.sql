-- A returned row is a district and review year whose counts differ from the sum of its reported
-- communes with totals in commune_year, or whose commune counts differ.
with

commune_year as (
    select * from {{ ref('commune_year') }}
),

area_year as (
    select * from {{ ref('district_year') }}
),

summed_communes as (
    select
        review_year,
        district_code,
        count(*) as communes_total,
        count(*) filter (where reporting_status = 'reported') as communes_reported,
        {%- for column in [
            'total_households',
            'total_population',
            'assessed_households',
            'poor_households',
            'poor_people',
            'near_poor_households',
            'near_poor_people',
            'middle_households',
            'exited_poverty',
            'newly_poor',
            'returned_to_poverty',
            'reappeared_poor',
            'poor_not_reassessed',
            'near_poor_to_poor',
            'poor_to_near_poor',
            'exited_near_poverty',
            'newly_near_poor',
            'recently_exited_poverty',
            'unreported_class',
        ] %}
            sum({{ column }}) filter (where reporting_status = 'reported') as {{ column }},
        {%- endfor %}
        count(*) as rows_summed
    from commune_year
    where unit_version = 'pre2025'
    group by review_year, district_code
),

final as (
    select
        coalesce(area_year.review_year, summed_communes.review_year) as review_year,
        coalesce(area_year.district_code, summed_communes.district_code) as district_code
    from area_year
    full outer join summed_communes
        on
            area_year.review_year is not distinct from summed_communes.review_year
            and area_year.district_code is not distinct from summed_communes.district_code
    where
        area_year.review_year is null
        or summed_communes.review_year is null
        or area_year.communes_total is distinct from summed_communes.communes_total
        or area_year.communes_reported is distinct from summed_communes.communes_reported
        {%- for column in [
            'total_households',
            'total_population',
            'assessed_households',
            'poor_households',
            'poor_people',
            'near_poor_households',
            'near_poor_people',
            'middle_households',
            'exited_poverty',
            'newly_poor',
            'returned_to_poverty',
            'reappeared_poor',
            'poor_not_reassessed',
            'near_poor_to_poor',
            'poor_to_near_poor',
            'exited_near_poverty',
            'newly_near_poor',
            'recently_exited_poverty',
            'unreported_class',
        ] %}
            -- within 1e-6: counts placed across the 2025 reorganisation are fractional DOUBLEs
            or not coalesce(
                abs(area_year.{{ column }} - summed_communes.{{ column }}) <= 1e-6,
                area_year.{{ column }} is null and summed_communes.{{ column }} is null
            )
        {%- endfor %}
)

select * from final
