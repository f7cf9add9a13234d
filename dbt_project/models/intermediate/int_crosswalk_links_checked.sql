{#- The package's links and the seed's corrections, each link checked as the package gives it and
as the corrected crosswalk uses it. POVERTY_CROSSWALK_CORRECTIONS=ignore builds the crosswalk from
the package's mapping as given (to compare figures with and without the corrections). -#}
{% set far_km = var('crosswalk_far_link_km') %}
{% set apply_corrections = env_var('POVERTY_CROSSWALK_CORRECTIONS', 'apply') != 'ignore' %}

with

package_links as (
    select distinct
        old_commune_code,
        new_commune_code
    from {{ ref('stg_admin_units__commune_mappings') }}
),

corrections as (
    select
        old_commune_code,
        new_commune_code,
        action,
        basis,
        legal_source
    from {{ ref('crosswalk_corrections') }}
    {% if not apply_corrections %}where false{% endif %}
),

communes as (
    select * from {{ ref('stg_admin_units__communes') }}
),

-- An old commune with `replace` rows has exactly those successors: its other package links go.
replaced as (
    select
        old_commune_code,
        string_agg(distinct basis, '; ') as basis,
        string_agg(distinct legal_source, '; ') as legal_source
    from corrections
    where action = 'replace'
    group by old_commune_code
),

links as (
    select
        coalesce(package_links.old_commune_code, corrections.old_commune_code)
            as old_commune_code,
        coalesce(package_links.new_commune_code, corrections.new_commune_code)
            as new_commune_code,
        package_links.old_commune_code is not null as in_package,
        case
            when corrections.action is not null then corrections.action
            when replaced.old_commune_code is not null then 'replace'
        end as correction_action,
        coalesce(corrections.basis, replaced.basis) as correction_basis,
        coalesce(corrections.legal_source, replaced.legal_source) as correction_source,
        case
            when corrections.action = 'remove' then false
            when corrections.action in ('add', 'replace') then true
            when replaced.old_commune_code is not null then false
            else true
        end as in_crosswalk
    from package_links
    full outer join corrections
        on
            package_links.old_commune_code = corrections.old_commune_code
            and package_links.new_commune_code = corrections.new_commune_code
    left join replaced
        on
            coalesce(package_links.old_commune_code, corrections.old_commune_code)
            = replaced.old_commune_code
),

-- The same checks run on two sets of links: the package's and the corrected crosswalk's.
link_sets as (
    select
        'package' as link_set,
        old_commune_code,
        new_commune_code
    from links
    where in_package
    union all
    select
        'crosswalk' as link_set,
        old_commune_code,
        new_commune_code
    from links
    where in_crosswalk
),

located as (
    select
        link_sets.*,
        old_units.province_code as old_province_code,
        old_units.district_code as old_district_code,
        old_units.name_key as old_name_key,
        old_units.latitude as old_latitude,
        old_units.longitude as old_longitude,
        {{ distance_km(
            'old_units.latitude', 'old_units.longitude', 'new_units.latitude', 'new_units.longitude'
        ) }} as distance_km
    from link_sets
    left join communes as old_units
        on
            old_units.unit_version = 'pre2025'
            and link_sets.old_commune_code = old_units.commune_code
    left join communes as new_units
        on
            new_units.unit_version = '2025'
            and link_sets.new_commune_code = new_units.commune_code
),

-- The other predecessors of the same 2025 commune: how near the nearest lies, and whether one
-- of another district bears the same name key (the package's mapping is keyed by names).
fellows as (
    select
        this.link_set,
        this.old_commune_code,
        this.new_commune_code,
        min({{ distance_km(
            'this.old_latitude', 'this.old_longitude', 'other.old_latitude', 'other.old_longitude'
        ) }}) as nearest_fellow_km,
        bool_or(
            this.old_name_key = other.old_name_key
            and this.old_district_code != other.old_district_code
        ) as has_namesake
    from located as this
    inner join located as other
        on
            this.link_set = other.link_set
            and this.new_commune_code = other.new_commune_code
            and this.old_commune_code != other.old_commune_code
    group by this.link_set, this.old_commune_code, this.new_commune_code
),

province_counts as (
    select
        link_set,
        new_commune_code,
        old_province_code,
        count(*) as province_predecessors
    from located
    group by link_set, new_commune_code, old_province_code
),

province_leads as (
    select
        *,
        count(*) over (partition by link_set, new_commune_code) as predecessor_provinces,
        max(province_predecessors) over (partition by link_set, new_commune_code)
            as most_predecessors
    from province_counts
),

province_ranks as (
    select
        *,
        count(*) filter (where province_predecessors = most_predecessors)
            over (partition by link_set, new_commune_code)
            as provinces_with_most
    from province_leads
),

checked as (
    select
        located.link_set,
        located.old_commune_code,
        located.new_commune_code,
        located.distance_km,
        located.distance_km > {{ far_km }}
        and coalesce(fellows.nearest_fellow_km > {{ far_km }}, true) as is_far,
        coalesce(fellows.has_namesake, false) as is_name_collision,
        province_ranks.predecessor_provinces > 1
        and (
            province_ranks.province_predecessors < province_ranks.most_predecessors
            or province_ranks.provinces_with_most > 1
        ) as is_cross_province
    from located
    left join fellows
        on
            located.link_set = fellows.link_set
            and located.old_commune_code = fellows.old_commune_code
            and located.new_commune_code = fellows.new_commune_code
    left join province_ranks
        on
            located.link_set = province_ranks.link_set
            and located.new_commune_code = province_ranks.new_commune_code
            and located.old_province_code is not distinct from province_ranks.old_province_code
),

reasoned as (
    select
        *,
        nullif(concat_ws(
            ', ',
            case when is_far then 'far' end,
            case when is_name_collision then 'name_collision' end,
            case when is_cross_province then 'cross_province' end
        ), '') as reasons
    from checked
),

final as (
    select
        links.old_commune_code,
        links.new_commune_code,
        links.in_package,
        links.in_crosswalk,
        links.correction_action,
        links.correction_basis,
        links.correction_source,
        coalesce(in_use.distance_km, as_given.distance_km) as distance_km,
        case
            when as_given.old_commune_code is not null
                then case when as_given.reasons is null then 'ok' else 'suspect' end
        end as package_status,
        as_given.reasons as package_reasons,
        case
            when in_use.old_commune_code is not null
                then case when in_use.reasons is null then 'ok' else 'suspect' end
        end as status,
        in_use.reasons
    from links
    left join reasoned as as_given
        on
            as_given.link_set = 'package'
            and links.old_commune_code = as_given.old_commune_code
            and links.new_commune_code = as_given.new_commune_code
    left join reasoned as in_use
        on
            in_use.link_set = 'crosswalk'
            and links.old_commune_code = in_use.old_commune_code
            and links.new_commune_code = in_use.new_commune_code
)

select * from final
