-- One row per story (comment or system change) of a task that exists.
with stories as (
    {{ live_rows('stories', {
        'gid': 'text', 'target__gid': 'text', 'created_at': 'timestamp with time zone',
        'created_by__gid': 'text', 'type': 'text', 'resource_subtype': 'text', 'text': 'text',
        'assignee__gid': 'text', 'old_section__gid': 'text', 'new_section__gid': 'text',
        'old_name': 'text', 'new_name': 'text', 'old_dates__due_on': 'date', 'new_dates__due_on': 'date',
        'custom_field__gid': 'text', 'old_enum_value__gid': 'text', 'new_enum_value__gid': 'text',
        'old_text_value': 'text', 'new_text_value': 'text', 'project__gid': 'text'}) }}
),
-- A story names an enum option by gid (asana_dlt/references.py): its name as Asana shows it now.
options as (
    {{ live_rows('custom_fields__enum_options', {'gid': 'text', 'name': 'text'}) }}
)

select
    stories.gid as story_id,
    stories.target__gid as task_id,
    stories.created_at,
    stories.created_by__gid as created_by_user_id,
    stories.type as story_type,
    stories.resource_subtype as event_type,
    stories.text as story_content,
    stories.assignee__gid as assignee_user_id,
    stories.old_section__gid as old_section_id,
    stories.new_section__gid as new_section_id,
    stories.old_name,
    stories.new_name,
    stories.old_dates__due_on as old_due_date,
    stories.new_dates__due_on as new_due_date,
    stories.custom_field__gid as custom_field_id,
    coalesce(old_option.name, stories.old_text_value) as old_custom_field_value,
    coalesce(new_option.name, stories.new_text_value) as new_custom_field_value,
    stories.project__gid as project_id
from stories
join {{ ref('stg_asana__task') }} as task on task.task_id = stories.target__gid
left join options as old_option on old_option.gid = stories.old_enum_value__gid
left join options as new_option on new_option.gid = stories.new_enum_value__gid
