-- One row per task (subtasks included) that exists in Asana, with analysts' column names.
with tasks as (
    {{ live_rows('tasks', {
        'gid': 'text', 'name': 'text', 'resource_subtype': 'text', 'assignee__gid': 'text',
        'created_at': 'timestamp with time zone', 'created_by__gid': 'text',
        'modified_at': 'timestamp with time zone', 'completed': 'boolean',
        'completed_at': 'timestamp with time zone', 'completed_by__gid': 'text', 'due_on': 'date',
        'due_at': 'timestamp with time zone', 'start_on': 'date', 'parent__gid': 'text',
        'num_likes': 'bigint', 'permalink_url': 'text', 'notes': 'text', 'workspace__gid': 'text',
        '_dlt_id': 'text'}) }}
)

select
    gid as task_id,
    name as task_name,
    resource_subtype,
    assignee__gid as assignee_user_id,
    coalesce(completed, false) as is_completed,
    completed_at,
    completed_by__gid as completed_by_user_id,
    created_at,
    created_by__gid as created_by_user_id,
    modified_at,
    coalesce(due_on, {{ utc_date('due_at') }}) as due_date,
    start_on as start_date,
    parent__gid as parent_task_id,
    workspace__gid as workspace_id,
    coalesce(num_likes, 0) as number_of_likes,
    permalink_url as task_link,
    notes,
    _dlt_id
from tasks
