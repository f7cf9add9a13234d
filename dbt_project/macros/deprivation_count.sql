{#- Number of the 12 deprivation indicators (the export's d_* columns, listed in the
    deprivation_indicators seed) in which the household is deprived. A missing mark counts as
    not deprived. The seed and these columns are kept equal by the test
    assert_deprivation_indicators_match_export_columns. -#}
{% macro deprivation_count(relation_alias) -%}
    (
        cast(coalesce({{ relation_alias }}.d_employment, false) as integer)
        + cast(coalesce({{ relation_alias }}.d_dependents, false) as integer)
        + cast(coalesce({{ relation_alias }}.d_nutrition, false) as integer)
        + cast(coalesce({{ relation_alias }}.d_health_insurance, false) as integer)
        + cast(coalesce({{ relation_alias }}.d_adult_education, false) as integer)
        + cast(coalesce({{ relation_alias }}.d_child_schooling, false) as integer)
        + cast(coalesce({{ relation_alias }}.d_housing_quality, false) as integer)
        + cast(coalesce({{ relation_alias }}.d_housing_area, false) as integer)
        + cast(coalesce({{ relation_alias }}.d_water, false) as integer)
        + cast(coalesce({{ relation_alias }}.d_sanitation, false) as integer)
        + cast(coalesce({{ relation_alias }}.d_telecom, false) as integer)
        + cast(coalesce({{ relation_alias }}.d_information_assets, false) as integer)
    )
{%- endmacro %}
