-- One row per task and custom field of its projects, with the task's value (null: unset).
-- The loaded value names other objects by gid only (asana_dlt/references.py): the field's and
-- its options' names come from `custom_fields`, the people's from `users`, both listed whole on
-- every run, so the displayed value reads as Asana shows it now, renames included.
with fields as (
    {{ live_rows('tasks__custom_fields', {
        'gid': 'text', 'type': 'text', 'text_value': 'text', 'number_value': 'double precision',
        'enum_value__gid': 'text', 'date_value__date': 'date', '_dlt_parent_id': 'text', '_dlt_id': 'text'}) }}
),
multi as (
    {{ live_rows('tasks__custom_fields__multi_enum_values', {'gid': 'text', '_dlt_parent_id': 'text', '_dlt_list_idx': 'bigint'}) }}
),
people as (
    {{ live_rows('tasks__custom_fields__people_value', {'gid': 'text', '_dlt_parent_id': 'text', '_dlt_list_idx': 'bigint'}) }}
),
definitions as (
    {{ live_rows('custom_fields', {'gid': 'text', 'name': 'text', 'precision': 'bigint'}) }}
),
options as (
    {{ live_rows('custom_fields__enum_options', {'gid': 'text', 'name': 'text'}) }}
),
users as (
    {{ live_rows('users', {'gid': 'text', 'name': 'text'}) }}
),
listed as (
    -- In the task's order, as Asana lists them.
    select multi._dlt_parent_id as value_id, {{ dbt.listagg('options.name', "', '", 'order by multi._dlt_list_idx') }} as names
    from multi
    join options on options.gid = multi.gid
    group by multi._dlt_parent_id
    union all
    select people._dlt_parent_id as value_id, {{ dbt.listagg('users.name', "', '", 'order by people._dlt_list_idx') }} as names
    from people
    join users on users.gid = people.gid
    group by people._dlt_parent_id
)

select
    task.task_id,
    fields.gid as custom_field_id,
    max(definitions.name) as custom_field_name,
    max(fields.type) as custom_field_type,
    max(case fields.type
        when 'text' then fields.text_value
        when 'number' then {{ number_text('fields.number_value', 'definitions.precision') }}
        when 'enum' then chosen.name
        when 'date' then cast(fields.date_value__date as text)
        else listed.names
    end) as display_value,
    max(fields.text_value) as text_value,
    max(fields.number_value) as number_value,
    max(chosen.name) as enum_value,
    max(fields.date_value__date) as date_value
from fields
join {{ ref('stg_asana__task') }} as task on task._dlt_id = fields._dlt_parent_id
left join definitions on definitions.gid = fields.gid
left join options as chosen on chosen.gid = fields.enum_value__gid
left join listed on listed.value_id = fields._dlt_id
group by task.task_id, fields.gid
