{#- The method of a set of communes measured in a review, from its review communes' rows of
    int_commune_years_apportioned (aggregated per review commune first): native when every one
    is the set's own commune, mapped when each lies whole in the set, apportioned otherwise. -#}
{% macro set_method(is_native, allocation_share) -%}
    case
        when bool_and({{ is_native }}) then 'native'
        when bool_and({{ allocation_share }} >= 1 - 1e-9) then 'mapped'
        else 'apportioned'
    end
{%- endmacro %}
