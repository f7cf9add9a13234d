with

classified as (
    select * from {{ ref('int_households_classified') }}
),

review_years as (
    select * from {{ ref('int_review_years_described') }}
),

communes as (
    select * from {{ ref('stg_admin_units__communes') }}
),

mappings as (
    select * from {{ ref('stg_admin_units__commune_mappings') }}
),

-- One 2025 commune per old commune: the default new commune when the old one was split.
default_mappings as (
    select
        old_commune_code,
        min(new_commune_code) as new_commune_code
    from mappings
    where is_default_new_commune
    group by old_commune_code
),

previously_poor_absent as (
    select
        review_years.review_year,
        review_years.unit_version,
        previous_year.review_year as previous_review_year,
        previous_year.unit_version as previous_unit_version,
        previous_year.commune_code as previous_commune_code,
        previous_year.household_code
    from review_years
    inner join classified as previous_year
        on review_years.previous_review_year = previous_year.review_year
    where
        previous_year.is_poor
        and not exists (
            select 1
            from classified as current_year
            where
                current_year.review_year = review_years.review_year
                and current_year.household_code = previous_year.household_code
        )
),

-- The commune whose territory holds the household in this review's unit version.
located as (
    select
        previously_poor_absent.*,
        case
            when previously_poor_absent.previous_unit_version = previously_poor_absent.unit_version
                then previously_poor_absent.previous_commune_code
            else default_mappings.new_commune_code
        end as commune_code
    from previously_poor_absent
    left join default_mappings
        on previously_poor_absent.previous_commune_code = default_mappings.old_commune_code
),

final as (
    select
        located.review_year,
        located.unit_version,
        located.household_code,
        located.previous_review_year,
        located.previous_unit_version,
        located.previous_commune_code,
        located.commune_code,
        communes.province_code
    from located
    left join communes
        on
            located.unit_version = communes.unit_version
            and located.commune_code = communes.commune_code
)

select * from final
