{% macro distance_km(lat1, lon1, lat2, lon2) -%}
    {#- Great-circle distance in km between two centroids (haversine, Earth radius 6,371 km), as
    orchestration/base/admin_units.py computes it for the seed's coordinate corrections. -#}
    2 * 6371.0 * asin(sqrt(
        pow(sin(radians({{ lat2 }} - {{ lat1 }}) / 2), 2)
        + cos(radians({{ lat1 }})) * cos(radians({{ lat2 }}))
        * pow(sin(radians({{ lon2 }} - {{ lon1 }}) / 2), 2)
    ))
{%- endmacro %}
