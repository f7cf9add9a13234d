{#- The groups the review's report forms break households down by: code, Vietnamese name and the
    condition on a row of int_households_classified (alias `classified`). -#}
{% macro population_groups() -%}
    {{- return([
        ('ethnic_minority', 'Hộ dân tộc thiểu số', 'classified.is_ethnic_minority'),
        ('meritorious_family', 'Hộ gia đình người có công với cách mạng', 'classified.is_meritorious_family'),
        ('social_protection', 'Hộ thuộc diện bảo trợ xã hội', 'classified.is_social_protection'),
        ('no_labour_capacity', 'Hộ không có khả năng lao động', 'classified.is_no_labour_capacity'),
        ('female_headed', 'Hộ có chủ hộ là nữ', 'classified.is_female_headed'),
        ('rural', 'Nông thôn', "classified.area_type = 'rural'"),
        ('urban', 'Thành thị', "classified.area_type = 'urban'"),
    ]) -}}
{%- endmacro %}
