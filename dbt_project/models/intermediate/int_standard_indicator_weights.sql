{#- Nested equal weights of the Alkire-Foster measure: the standard's services weigh equally,
    and its indicators equally within a service (QD59_2015: 5 services, so 1/10 per indicator;
    Decree 07/2021: 6 services of 2 indicators, 1/12 each). -#}
{{ config(materialized='view') }}

with

-- Only the indicators counted in k: one published but not counted weighs nothing.
standard_indicators as (
    select * from {{ ref('standard_indicators') }}
    where counted_in_standard
),

services as (
    select
        standard_id,
        count(distinct service_code) as services
    from standard_indicators
    group by standard_id
),

sized as (
    select
        standard_indicators.*,
        services.services,
        count(*) over (
            partition by standard_indicators.standard_id, standard_indicators.service_code
        ) as indicators_in_service
    from standard_indicators
    inner join services on standard_indicators.standard_id = services.standard_id
),

final as (
    select
        standard_id,
        indicator_code,
        service_code,
        indicator_name_vi,
        indicator_name_en,
        service_name_vi,
        -- Exact, so that the MPI sums are the same in every build (macros/exact_share.sql).
        {{ exact_share('services * indicators_in_service') }} as weight
    from sized
)

select * from final
