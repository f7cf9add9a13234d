with

source as (
    select * from {{ source('admin_units', 'admin_units') }}
),

renamed as (
    select
        unit_version,
        province_code,
        province_name,
        district_code,
        district_name,
        commune_code,
        commune_name,
        commune_type,
        area_km2,
        name_key,
        latitude,
        longitude
    from source
)

select * from renamed
