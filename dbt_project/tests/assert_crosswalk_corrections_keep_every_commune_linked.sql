-- A returned row is a correction that breaks the crosswalk: a link to a commune the unit lists
-- do not hold, a `remove` of a link the package does not have, or a commune of the package's
-- mapping left without any successor (pre-2025) or predecessor (2025) after the corrections.

with

links as (
    select * from {{ ref('int_crosswalk_links_checked') }}
),

communes as (
    select * from {{ ref('stg_admin_units__communes') }}
),

unknown_communes as (
    select
        links.old_commune_code,
        links.new_commune_code,
        'unknown commune' as problem
    from links
    left join communes as old_units
        on
            old_units.unit_version = 'pre2025'
            and links.old_commune_code = old_units.commune_code
    left join communes as new_units
        on
            new_units.unit_version = '2025'
            and links.new_commune_code = new_units.commune_code
    where old_units.commune_code is null or new_units.commune_code is null
),

removals_of_nothing as (
    select
        old_commune_code,
        new_commune_code,
        'remove of a link the package does not have' as problem
    from links
    where correction_action = 'remove' and not in_package
),

old_left_alone as (
    select
        old_commune_code,
        null as new_commune_code,
        'pre-2025 commune left without a successor' as problem
    from links
    group by old_commune_code
    having not bool_or(in_crosswalk)
),

new_left_alone as (
    select
        null as old_commune_code,
        new_commune_code,
        '2025 commune left without a predecessor' as problem
    from links
    group by new_commune_code
    having not bool_or(in_crosswalk)
)

select * from unknown_communes
union all
select * from removals_of_nothing
union all
select * from old_left_alone
union all
select * from new_left_alone
