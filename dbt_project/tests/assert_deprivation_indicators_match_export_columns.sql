-- A returned row is an indicator listed in the deprivation_indicators seed with no d_* column in
-- the staged households, or a d_* column the seed does not list: deprivation_count and the
-- deprivation marts would then disagree with the seed.
with

indicators as (
    select * from {{ ref('deprivation_indicators') }}
),

export_columns as (
    select column_name as indicator_code
    from information_schema.columns
    where
        table_schema = '{{ ref("stg_review_exports__households").schema }}'
        and table_name = '{{ ref("stg_review_exports__households").identifier }}'
        and column_name like 'd\_%' escape '\'
),

final as (
    select
        coalesce(indicators.indicator_code, export_columns.indicator_code) as indicator_code,
        indicators.indicator_code is not null as is_in_seed,
        export_columns.indicator_code is not null as is_in_export
    from indicators
    full outer join export_columns
        on indicators.indicator_code = export_columns.indicator_code
    where indicators.indicator_code is null or export_columns.indicator_code is null
)

select * from final
