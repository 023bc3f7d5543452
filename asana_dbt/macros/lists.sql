{#- A readable, sorted list of values in one text column (", "-separated), on any adapter. -#}
{% macro list_of(expression) -%}
  {{ dbt.listagg(expression, "', '", "order by " ~ expression) }}
{%- endmacro %}
