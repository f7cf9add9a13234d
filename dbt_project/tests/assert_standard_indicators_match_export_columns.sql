-- A returned row is an indicator of the standard_indicators seed with no column in the staged
-- households (the deprivation count would fail to compile), or a d_* column of the staged
-- households that no standard lists (a deprivation the warehouse would silently ignore).
with

indicators as (
    select distinct indicator_code from {{ ref('standard_indicators') }}
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
