with

links as (
    select * from {{ ref('int_crosswalk_links_checked') }}
),

weights as (
    select * from {{ ref('int_communes_crosswalked') }}
),

communes as (
    select * from {{ ref('stg_admin_units__communes') }}
),

final as (
    select
        links.old_commune_code,
        old_units.commune_name as old_commune_name,
        old_units.district_name as old_district_name,
        old_units.province_code as old_province_code,
        old_units.province_name as old_province_name,
        links.new_commune_code,
        new_units.commune_name as new_commune_name,
        new_units.province_code as new_province_code,
        new_units.province_name as new_province_name,
        links.in_package,
        links.in_crosswalk,
        links.correction_action,
        links.correction_basis,
        links.correction_source,
        round(links.distance_km, 1) as distance_km,
        links.package_status,
        links.package_reasons,
        coalesce(links.status, links.package_status) as status,
        case when links.in_crosswalk then links.reasons else links.package_reasons end as reasons,
        weights.forward_weight,
        weights.backward_weight,
        weights.weights_review_year
    from links
    left join weights
        on
            links.old_commune_code = weights.old_commune_code
            and links.new_commune_code = weights.new_commune_code
    left join communes as old_units
        on
            old_units.unit_version = 'pre2025'
            and links.old_commune_code = old_units.commune_code
    left join communes as new_units
        on
            new_units.unit_version = '2025'
            and links.new_commune_code = new_units.commune_code
)

select * from final
order by old_commune_code, new_commune_code
