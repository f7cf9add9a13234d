with

source as (
    select * from {{ source('review_exports', 'difficult_areas') }}
),

renamed as (
    select
        cast(review_year as integer) as review_year,
        unit_version,
        commune_code,
        coalesce(is_extremely_difficult, false) as is_extremely_difficult,
        cast(difficult_villages as integer) as difficult_villages,
        cast(total_villages as integer) as total_villages,
        source_file,
        source_row,
        run_id,
        loaded_at
    from source
)

select * from renamed
