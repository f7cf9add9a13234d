{#- A status as the Vietnamese notes say it (the report's labels). -#}
{% macro status_vi(expression) -%}
    case {{ expression }}
        when 'achieved' then 'đạt'
        when 'missed' then 'không đạt'
        when 'on_track' then 'đúng tiến độ'
        when 'off_track' then 'chậm tiến độ'
        when 'provisional' then 'tạm tính'
        when 'not_measurable' then 'không đo được'
    end
{%- endmacro %}
