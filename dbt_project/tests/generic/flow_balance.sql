{#-
    Returns the area-years whose flows are known but whose poor households do not balance:
    poor(y) = poor(y-1) - exited_poverty - poor_not_reassessed - poor_moved_out + poor_moved_in
              + newly_poor + returned_to_poverty + reappeared_poor,
    with poor(y-1) counted on the area as it is in y: the previous review's poor households placed
    in the area's communes (through the crosswalk across 2025). A larger area counts only its
    reported communes with totals (``counted_communes_only``), as its counts do; a commune counts
    itself. Within 1e-6: households placed across 2025 are fractional.
-#}
{% test flow_balance(model, area_column, counted_communes_only=true) %}
    select
        area_year.review_year,
        area_year.unit_version,
        area_year.{{ area_column }},
        area_year.poor_households,
        coalesce(previous_poor.previous_poor_households, 0) as previous_poor_households
    from {{ model }} as area_year
    left join (
        select
            placed.review_year,
            placed.unit_version,
            commune_year.{{ area_column }} as area_code,
            sum(placed.weight) as previous_poor_households
        from {{ ref('int_households_previously_poor_placed') }} as placed
        inner join {{ ref('commune_year') }} as commune_year
            on
                placed.review_year = commune_year.review_year
                and placed.unit_version = commune_year.unit_version
                and placed.commune_code = commune_year.commune_code
        where {{ "commune_year.reporting_status = 'reported'" if counted_communes_only else "true" }}
        group by placed.review_year, placed.unit_version, commune_year.{{ area_column }}
    ) as previous_poor
        on
            area_year.review_year = previous_poor.review_year
            and area_year.unit_version = previous_poor.unit_version
            and area_year.{{ area_column }} = previous_poor.area_code
    where
        area_year.exited_poverty is not null
        and abs(
            area_year.poor_households - (
                coalesce(previous_poor.previous_poor_households, 0)
                - area_year.exited_poverty
                - area_year.poor_not_reassessed
                - area_year.poor_moved_out
                + area_year.poor_moved_in
                + area_year.newly_poor
                + area_year.returned_to_poverty
                + area_year.reappeared_poor
            )
        ) > 1e-6
{% endtest %}
