with

source as (
    select * from {{ source('admin_units', 'admin_unit_mapping') }}
),

renamed as (
    select
        old_commune_code,
        new_commune_code,
        is_split,
        is_default_new_commune,
        new_commune_area_km2
    from source
)

select * from renamed
