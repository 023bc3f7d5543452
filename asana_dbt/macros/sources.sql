{#
  The rows of one loaded table that still exist in Asana, as a subquery.

  A table dlt never created (an account without tags has no `tasks__tags`) is an empty set
  with the given columns, so every model builds on any account. Where deletes are captured
  softly (an `is_deleted` column), deleted rows are left out: no model ever counts them.
#}
{% macro live_rows(table, columns) %}
  {%- set src = source('asana', table) -%}
  {%- set relation = adapter.get_relation(database=src.database, schema=src.schema, identifier=src.identifier) if execute else none -%}
  {%- if relation is none -%}
    select
    {%- for name, type in columns.items() %}
      cast(null as {{ type }}) as {{ adapter.quote(name) }}{{ "," if not loop.last }}
    {%- endfor %}
    where 1 = 0
  {%- else -%}
    {%- set names = adapter.get_columns_in_relation(relation) | map(attribute='name') | map('lower') | list -%}
    select
    {%- for name, type in columns.items() %}
      {% if name | lower in names -%}
        {{ adapter.quote(name) }}
      {%- else -%}
        cast(null as {{ type }}) as {{ adapter.quote(name) }}
      {%- endif %}{{ "," if not loop.last }}
    {%- endfor %}
    from {{ relation }}
    {%- if 'is_deleted' in names %}
    where is_deleted is not true
    {%- endif %}
  {%- endif -%}
{% endmacro %}
