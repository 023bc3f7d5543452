-- One row per project (archived ones included).
with projects as (
    {{ live_rows('projects', {
        'gid': 'text', 'name': 'text', 'archived': 'boolean', 'completed': 'boolean',
        'completed_at': 'timestamp with time zone', 'created_at': 'timestamp with time zone',
        'modified_at': 'timestamp with time zone', 'due_on': 'date', 'start_on': 'date',
        'owner__gid': 'text', 'team__gid': 'text', 'workspace__gid': 'text', 'public': 'boolean',
        'permalink_url': 'text', 'notes': 'text', 'current_status_update__resource_subtype': 'text',
        '_dlt_id': 'text'}) }}
)

select
    gid as project_id,
    name as project_name,
    coalesce(archived, false) as is_archived,
    coalesce(completed, false) as is_completed,
    completed_at,
    created_at,
    modified_at as last_modified_at,
    due_on as due_date,
    start_on as start_date,
    owner__gid as owner_user_id,
    team__gid as team_id,
    workspace__gid as workspace_id,
    public as is_public,
    permalink_url as project_link,
    notes,
    -- "project_status_on_track" -> "on_track"
    replace(current_status_update__resource_subtype, 'project_status_', '') as current_status,
    _dlt_id
from projects
