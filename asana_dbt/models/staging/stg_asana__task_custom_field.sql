-- One row per task and custom field of its projects, with the task's value (null: unset).
with fields as (
    {{ live_rows('tasks__custom_fields', {
        'gid': 'text', 'name': 'text', 'type': 'text', 'display_value': 'text', 'text_value': 'text',
        'number_value': 'double precision', 'enum_value__name': 'text', 'date_value__date': 'date',
        '_dlt_parent_id': 'text'}) }}
)

select
    task.task_id,
    fields.gid as custom_field_id,
    max(fields.name) as custom_field_name,
    max(fields.type) as custom_field_type,
    max(fields.display_value) as display_value,
    max(fields.text_value) as text_value,
    max(fields.number_value) as number_value,
    max(fields.enum_value__name) as enum_value,
    max(fields.date_value__date) as date_value
from fields
join {{ ref('stg_asana__task') }} as task on task._dlt_id = fields._dlt_parent_id
group by task.task_id, fields.gid
