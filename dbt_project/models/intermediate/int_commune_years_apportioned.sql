with

commune_totals as (
    select * from {{ ref('stg_review_exports__commune_totals') }}
),

difficult_areas as (
    select * from {{ ref('stg_review_exports__difficult_areas') }}
),

crosswalk as (
    select * from {{ ref('int_communes_crosswalked') }}
),

communes as (
    select * from {{ ref('stg_admin_units__communes') }}
),

-- Household counts per commune of the review, split by where the household's own code places
-- it on the other unit version (NULL: never seen there, shared out by weights): the rows of
-- int_commune_households_counted, which commune_year adds up.
assessed_counts as (
    select
        review_year,
        unit_version,
        commune_code,
        placed_commune_code,
        {%- for measure in territory_measures(with_apportioned=true) %}
            coalesce({{ measure.name }}, 0) as {{ measure.name }},
        {%- endfor %}
        {{ exact_weight(0) }} as poor_not_reviewed_since
    from {{ ref('int_commune_households_counted') }}
),

-- The poor households the review did not see again, where they were last assessed
-- (int_households_not_reviewed_since), placed on the other unit version the same way.
not_reviewed_counts as (
    select
        not_reviewed.review_year,
        not_reviewed.unit_version,
        not_reviewed.commune_code,
        {{ placed_commune_code('not_reviewed') }} as placed_commune_code,
        {%- for measure in territory_measures(with_apportioned=true) %}
            0 as {{ measure.name }},
        {%- endfor %}
        sum(not_reviewed.weight) as poor_not_reviewed_since
    from {{ ref('int_households_not_reviewed_since') }} as not_reviewed
    {{ join_household_placement('not_reviewed') }}
    group by all
),

household_counts as (
    select * from assessed_counts
    union all
    select * from not_reviewed_counts
),

-- The communes with loaded survey rows: the household counts' own groups (the placement joins
-- are left joins), so the households are not read a second time for them.
reported_communes as (
    select distinct
        review_year,
        unit_version,
        commune_code
    from assessed_counts
),

-- Every commune of a review: those with a totals row and those with loaded survey rows.
review_communes as (
    select
        review_year,
        unit_version,
        commune_code
    from commune_totals
    union
    select
        review_year,
        unit_version,
        commune_code
    from reported_communes
),

sources as (
    select
        review_communes.review_year,
        review_communes.unit_version,
        review_communes.commune_code,
        reported_communes.commune_code is not null as is_reported,
        commune_totals.commune_code is not null as has_totals,
        commune_totals.total_households,
        coalesce(difficult_areas.is_extremely_difficult, false) as is_extremely_difficult,
        coalesce(difficult_areas.difficult_villages, 0) as difficult_villages,
        difficult_areas.total_villages
    from review_communes
    left join reported_communes
        on
            review_communes.review_year = reported_communes.review_year
            and review_communes.unit_version = reported_communes.unit_version
            and review_communes.commune_code = reported_communes.commune_code
    left join commune_totals
        on
            review_communes.review_year = commune_totals.review_year
            and review_communes.unit_version = commune_totals.unit_version
            and review_communes.commune_code = commune_totals.commune_code
    left join difficult_areas
        on
            review_communes.review_year = difficult_areas.review_year
            and review_communes.unit_version = difficult_areas.unit_version
            and review_communes.commune_code = difficult_areas.commune_code
),

-- Where each commune of a review lies on both unit versions: itself (share 1), and its
-- successors (forward weights) or predecessors (backward weights) on the other version.
links as (
    select
        sources.*,
        sources.unit_version as target_unit_version,
        sources.commune_code as target_commune_code,
        {{ exact_weight(1) }} as allocation_share,
        true as is_native
    from sources
    union all
    select
        sources.*,
        '2025' as target_unit_version,
        crosswalk.new_commune_code as target_commune_code,
        crosswalk.forward_weight as allocation_share,
        false as is_native
    from sources
    inner join crosswalk on sources.commune_code = crosswalk.old_commune_code
    where sources.unit_version = 'pre2025'
    union all
    select
        sources.*,
        'pre2025' as target_unit_version,
        crosswalk.old_commune_code as target_commune_code,
        crosswalk.backward_weight as allocation_share,
        false as is_native
    from sources
    inner join crosswalk on sources.commune_code = crosswalk.new_commune_code
    where sources.unit_version = '2025'
),

-- A household placed by its own code counts whole where it is placed, and nowhere else on that
-- unit version; the households never seen there count by the commune's share.
weighted as (
    select
        links.review_year,
        links.unit_version,
        links.commune_code,
        links.target_unit_version,
        links.target_commune_code,
        {%- for measure in territory_measures(with_apportioned=true) %}
            household_counts.{{ measure.name }},
        {%- endfor %}
        household_counts.poor_not_reviewed_since,
        case
            when links.is_native then {{ exact_weight(1) }}
            when household_counts.placed_commune_code = links.target_commune_code
                then {{ exact_weight(1) }}
            when household_counts.placed_commune_code is null then links.allocation_share
            else {{ exact_weight(0) }}
        end as weight
    from links
    inner join household_counts
        on
            links.review_year = household_counts.review_year
            and links.unit_version = household_counts.unit_version
            and links.commune_code = household_counts.commune_code
),

linked_counts as (
    select
        review_year,
        unit_version,
        commune_code,
        target_unit_version,
        target_commune_code,
        {%- for measure in territory_measures(with_apportioned=true) %}
            sum(weight * {{ measure.name }}) as {{ measure.name }},
        {%- endfor %}
        -- Both factors are DECIMAL(38, 18) (a household's crosswalk share times a commune's):
        -- exact_product keeps their product in 18 decimals without overflowing at 100.
        sum({{ exact_product('weight', 'poor_not_reviewed_since') }}) as poor_not_reviewed_since
    from weighted
    group by all
),

final as (
    select
        links.review_year,
        links.unit_version as review_unit_version,
        links.commune_code as review_commune_code,
        links.target_unit_version as unit_version,
        target_units.province_code,
        links.target_commune_code as commune_code,
        links.is_native,
        links.allocation_share,
        links.is_reported,
        links.has_totals,
        links.is_extremely_difficult,
        links.total_households * links.allocation_share as total_households,
        links.difficult_villages * links.allocation_share as difficult_villages,
        links.total_villages * links.allocation_share as total_villages,
        {%- for measure in territory_measures(with_apportioned=true) %}
            coalesce(linked_counts.{{ measure.name }}, 0) as {{ measure.name }},
        {%- endfor %}
        coalesce(linked_counts.poor_not_reviewed_since, 0) as poor_not_reviewed_since
    from links
    left join linked_counts
        on
            links.review_year = linked_counts.review_year
            and links.unit_version = linked_counts.unit_version
            and links.commune_code = linked_counts.commune_code
            and links.target_unit_version = linked_counts.target_unit_version
            and links.target_commune_code = linked_counts.target_commune_code
    left join communes as target_units
        on
            links.target_unit_version = target_units.unit_version
            and links.target_commune_code = target_units.commune_code
)

select * from final
