{#- Where a household's own code places a row of `households` (a review's household rows) on
    the other unit version. A row of a 2025-units review goes to the household's latest pre-2025
    commune when that commune is a predecessor of the row's commune; a row of a pre-2025 review
    goes to the first 2025 commune the household was assessed in when that commune is a
    successor of the row's commune (the crosswalk holds every such pair once). Any other row is
    placed by nothing (NULL) and is shared out by the crosswalk's weights.

    join_household_placement: the joins, after `from households`;
    placed_commune_code: the commune it is placed in, or NULL. -#}
{% macro join_household_placement(households) -%}
    left join {{ ref('int_households_placed') }} as household_versions
        on {{ households }}.household_code = household_versions.household_code
    left join {{ ref('int_communes_crosswalked') }} as placement
        on
            placement.old_commune_code = case
                when {{ households }}.unit_version = '2025'
                    then household_versions.last_pre2025_commune_code
                else {{ households }}.commune_code
            end
            and placement.new_commune_code = case
                when {{ households }}.unit_version = '2025' then {{ households }}.commune_code
                else household_versions.first_2025_commune_code
            end
{%- endmacro %}

{% macro placed_commune_code(households) -%}
    case
        when placement.old_commune_code is null then null
        when {{ households }}.unit_version = '2025' then placement.old_commune_code
        else placement.new_commune_code
    end
{%- endmacro %}
