-- One row per task, one column per custom field (its displayed value), for filtering and
-- grouping tasks by their fields without a join. The columns follow the fields the account
-- has; two fields with the same name get their gid appended.
{%- set fields = [] %}
{%- if execute %}
  {%- set rows = run_query("select distinct custom_field_id, custom_field_name from " ~ ref('stg_asana__task_custom_field') ~ " order by custom_field_id") %}
  {%- set taken = [] %}
  {%- for row in rows %}
    {%- set slug = modules.re.sub('[^0-9a-z]+', '_', (row[1] or 'field') | lower).strip('_') or 'field' %}
    {%- set slug = 'cf_' ~ slug %}
    {%- if slug in taken %}{% set slug = slug ~ '_' ~ row[0] %}{% endif %}
    {%- do taken.append(slug) %}
    {%- do fields.append((row[0], slug)) %}
  {%- endfor %}
{%- endif %}

select
    task.task_id
    {%- for gid, column in fields %},
    max(case when cf.custom_field_id = '{{ gid }}' then cf.display_value end) as {{ adapter.quote(column) }}
    {%- endfor %}
from {{ ref('stg_asana__task') }} as task
left join {{ ref('stg_asana__task_custom_field') }} as cf on cf.task_id = task.task_id
group by task.task_id
