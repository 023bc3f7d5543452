{#- A number as Asana displays a number custom field's value: with the field's precision
    (decimal places), no grouping; the field's `format` (currency, percentage) is not applied. -#}
{% macro number_text(value, precision) -%}
  {{ return(adapter.dispatch('number_text')(value, precision)) }}
{%- endmacro %}

{% macro default__number_text(value, precision) -%}
  to_char({{ value }}, 'FM9999999999999990' || case when coalesce({{ precision }}, 0) > 0
    then '.' || repeat('0', cast({{ precision }} as integer)) else '' end)
{%- endmacro %}

{% macro duckdb__number_text(value, precision) -%}
  printf('%.' || cast(coalesce({{ precision }}, 0) as varchar) || 'f', {{ value }})
{%- endmacro %}
