{#- The commune_year counts (one list: macros/summed_measures.sql) summed into a larger area
    (district, province), as BIGINT (DuckDB's sum() of integers is a HUGEINT, which some BI
    drivers reject), over the area's communes that are reported and have a totals row only:
    numerator and denominator over the same communes. Coverage columns say how much of the area
    that is. -#}
{% macro sum_commune_counts(relation_alias) -%}
    {%- set counted = relation_alias ~ ".reporting_status = 'reported'" -%}
    cast(count(*) as bigint) as communes_total,
    cast(count(*) filter (where {{ counted }}) as bigint) as communes_reported,
    -- 0 % where none of the area's communes with totals is reported (a filtered sum over no
    -- rows is NULL, which would read as unknown); NULL only where none has totals.
    100 * cast(
        coalesce(sum({{ relation_alias }}.total_households) filter (where {{ counted }}), 0)
        as double
    ) / nullif(sum({{ relation_alias }}.total_households), 0) as households_covered_percent,
    cast(count(*) filter (where {{ relation_alias }}.is_extremely_difficult) as bigint)
        as extremely_difficult_communes,
    cast(sum({{ relation_alias }}.difficult_villages) as bigint) as difficult_villages,
    cast(sum({{ relation_alias }}.total_villages) as bigint) as total_villages,
    {%- for column in ['total_households', 'total_population'] %}
    cast(sum({{ relation_alias }}.{{ column }}) filter (where {{ counted }}) as bigint)
        as {{ column }},
    {%- endfor %}
    {%- set with_group_totals = counted ~ ' and ' ~ relation_alias
        ~ '.total_ethnic_minority_households is not null' %}
    -- The ethnic-minority households and their poor over the counted communes that give them.
    cast(sum({{ relation_alias }}.total_ethnic_minority_households)
        filter (where {{ with_group_totals }}) as bigint) as total_ethnic_minority_households,
    cast(sum({{ relation_alias }}.poor_ethnic_minority)
        filter (where {{ with_group_totals }}) as bigint) as poor_ethnic_minority_with_totals,
    {%- for measure in commune_measures() if measure.summed %}
        {%- set column = relation_alias ~ '.' ~ measure.name %}
        {%- if measure.summed == 'sum' %}
    cast(sum({{ column }}) filter (where {{ counted }}) as {{ measure.type }})
        {%- elif measure.summed == 'exact_sum' %}
    -- Summed as exact decimals (macros/exact_share.sql): the same figure in every build.
    cast(sum({{ exact_weight(column) }}) filter (where {{ counted }}) as {{ measure.type }})
        {%- else %}
    {{ measure.summed }}({{ column }})
        {%- endif %}
        as {{ measure.name }}{{ ',' if not loop.last }}
    {%- endfor %}
{%- endmacro %}

{#- The moves of the previous review's poor households between larger areas, counted against
    each area's reported communes with totals (the set its counts are summed over), so that the
    balance identity holds for the area and a move between two of its counted communes is not a
    move of the area: poor_moved_out where the origin is counted and the destination is not in
    the same area's counted communes, poor_moved_in the other way round. DOUBLE: across 2025 a
    household can be shared among its commune's successors. Body of a CTE keyed by
    (review_year, unit_version, area_code). -#}
{% macro area_poor_moves(placed, commune_year, area_code) -%}
    with moves as (
        select
            placed.review_year,
            placed.unit_version,
            placed.weight,
            origin.{{ area_code }} as origin_area,
            destination.{{ area_code }} as destination_area
        from {{ placed }} as placed
        left join {{ commune_year }} as origin
            on
                placed.review_year = origin.review_year
                and placed.unit_version = origin.unit_version
                and placed.commune_code = origin.commune_code
                and origin.reporting_status = 'reported'
        left join {{ commune_year }} as destination
            on
                placed.review_year = destination.review_year
                and placed.unit_version = destination.unit_version
                and placed.current_commune_code = destination.commune_code
                and destination.reporting_status = 'reported'
        where placed.is_reassessed
    ),

    moved_out as (
        select
            review_year,
            unit_version,
            origin_area as {{ area_code }},
            sum(weight) as poor_moved_out
        from moves
        where origin_area is not null and origin_area is distinct from destination_area
        group by review_year, unit_version, origin_area
    ),

    moved_in as (
        select
            review_year,
            unit_version,
            destination_area as {{ area_code }},
            sum(weight) as poor_moved_in
        from moves
        where destination_area is not null and destination_area is distinct from origin_area
        group by review_year, unit_version, destination_area
    )

    select
        coalesce(moved_out.review_year, moved_in.review_year) as review_year,
        coalesce(moved_out.unit_version, moved_in.unit_version) as unit_version,
        coalesce(moved_out.{{ area_code }}, moved_in.{{ area_code }}) as {{ area_code }},
        moved_in.poor_moved_in,
        moved_out.poor_moved_out
    from moved_out
    full outer join moved_in
        on
            moved_out.review_year = moved_in.review_year
            and moved_out.unit_version = moved_in.unit_version
            and moved_out.{{ area_code }} = moved_in.{{ area_code }}
{%- endmacro %}
