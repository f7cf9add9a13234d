{#- d_health_access (the export column `TH tiếp cận dịch vụ y tế`) exists only in exports under
    Decision 59/2015; a warehouse whose raw table predates the column reads it as NULL. -#}
{%- set has_health_access = relation_has_column(
    source('review_exports', 'survey_households'), 'd_health_access'
) -%}
{#- The optional indicators reported as new in Decree 351/2025 (version 3 of the input format): a
    raw table from before them reads them as NULL (unknown), never as "not deprived". -#}
{%- set has_nd351_columns = relation_has_column(
    source('review_exports', 'survey_households'), 'd_waste_collection'
) -%}

with

source as (
    select * from {{ source('review_exports', 'survey_households') }}
),

renamed as (
    select
        cast(review_year as integer) as review_year,
        unit_version,
        province_code,
        district_code,
        commune_code,
        commune_name,
        village,
        household_code,
        head_id_hash,
        head_sex,
        ethnicity,
        cast(household_size as integer) as household_size,
        area_type,
        cast(income_per_capita as bigint) as income_per_capita,
        {% if has_health_access -%}
            d_health_access,
        {%- else -%}
            cast(null as boolean) as d_health_access,
        {%- endif %}
        d_employment,
        d_dependents,
        d_nutrition,
        d_health_insurance,
        d_adult_education,
        d_child_schooling,
        d_housing_quality,
        d_housing_area,
        d_water,
        d_sanitation,
        d_telecom,
        d_information_assets,
        is_meritorious_family,
        is_social_protection,
        is_no_labour_capacity,
        reported_class,
        {% if has_nd351_columns -%}
            d_digital_services,
            d_internet_access,
            d_waste_collection,
        {%- else -%}
            cast(null as boolean) as d_digital_services,
            cast(null as boolean) as d_internet_access,
            cast(null as boolean) as d_waste_collection,
        {%- endif %}
        source_file,
        source_sheet,
        source_row,
        source_sha256,
        run_id,
        loaded_at
    from source
)

select * from renamed
