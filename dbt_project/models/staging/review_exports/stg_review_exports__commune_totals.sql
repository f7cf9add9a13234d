with

source as (
    select * from {{ source('review_exports', 'commune_totals') }}
),

renamed as (
    select
        cast(review_year as integer) as review_year,
        unit_version,
        commune_code,
        cast(total_households as bigint) as total_households,
        cast(total_population as bigint) as total_population,
        {% if relation_has_column(source('review_exports', 'commune_totals'),
            'total_ethnic_minority_households') -%}
            cast(total_ethnic_minority_households as bigint) as total_ethnic_minority_households,
        {%- else -%}
            cast(null as bigint) as total_ethnic_minority_households,
        {%- endif %}
        source_file,
        source_row,
        run_id,
        loaded_at
    from source
)

select * from renamed
