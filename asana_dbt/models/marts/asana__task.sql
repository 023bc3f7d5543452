-- One row per task (subtasks included): who, where, how long, and its history in numbers.
with task as (
    select * from {{ ref('stg_asana__task') }}
),

users as (
    select * from {{ ref('stg_asana__user') }}
),

project_lists as (
    select
        tp.task_id,
        count(*) as number_of_projects,
        {{ list_of('project.project_name') }} as projects,
        {{ list_of('project.project_id') }} as project_ids,
        {{ list_of("project.project_name || ': ' || coalesce(section.section_name, '(no section)')") }} as projects_sections,
        {{ list_of('section.section_name') }} as sections
    from {{ ref('stg_asana__task_project') }} as tp
    join {{ ref('stg_asana__project') }} as project on project.project_id = tp.project_id
    left join {{ ref('stg_asana__section') }} as section on section.section_id = tp.section_id
    group by tp.task_id
),

team_lists as (
    select task_id, count(*) as number_of_teams, {{ list_of('team_name') }} as teams
    from (
        select distinct tp.task_id, team.team_name
        from {{ ref('stg_asana__task_project') }} as tp
        join {{ ref('stg_asana__project') }} as project on project.project_id = tp.project_id
        join {{ ref('stg_asana__team') }} as team on team.team_id = project.team_id
    ) as task_teams
    group by task_id
),

tag_lists as (
    select tt.task_id, count(*) as number_of_tags, {{ list_of('tag.tag_name') }} as tags
    from {{ ref('stg_asana__task_tag') }} as tt
    join {{ ref('stg_asana__tag') }} as tag on tag.tag_id = tt.tag_id
    group by tt.task_id
),

follower_lists as (
    select tf.task_id, count(*) as number_of_followers, {{ list_of('users.user_name') }} as followers
    from {{ ref('stg_asana__task_follower') }} as tf
    join users on users.user_id = tf.user_id
    group by tf.task_id
),

history as (
    select * from {{ ref('int_asana__task_story_metrics') }}
)

select
    task.task_id,
    task.task_name,
    task.resource_subtype,
    task.assignee_user_id,
    assignee.user_name as assignee_name,
    assignee.email as assignee_email,
    task.is_completed,
    task.completed_at,
    task.completed_by_user_id,
    task.created_at,
    task.created_by_user_id,
    task.due_date,
    task.start_date,
    task.modified_at,
    task.task_link,
    task.workspace_id,
    {{ days_between('task.created_at', 'coalesce(task.completed_at, current_timestamp)') }} as days_open,
    task.assignee_user_id is not null as is_currently_assigned,
    (task.assignee_user_id is not null or history.number_of_assignments > 0) as has_been_assigned,
    history.first_assigned_at,
    history.last_assigned_at,
    {{ days_between('history.first_assigned_at', 'coalesce(task.completed_at, current_timestamp)') }} as days_since_first_assignment,
    {{ days_between('history.last_assigned_at', 'coalesce(task.completed_at, current_timestamp)') }} as days_since_last_assignment,
    -- from first assignment to completion, in exact days
    case when task.is_completed then
        {{ fractional_days('history.first_assigned_at', 'task.completed_at') }}
    end as cycle_time_days,
    history.number_of_comments,
    history.number_of_section_changes,
    history.number_of_due_date_changes,
    coalesce(follower_lists.number_of_followers, 0) as number_of_followers,
    follower_lists.followers,
    coalesce(tag_lists.number_of_tags, 0) as number_of_tags,
    tag_lists.tags,
    coalesce(project_lists.number_of_projects, 0) as number_of_projects,
    project_lists.projects,
    project_lists.project_ids,
    project_lists.sections,
    project_lists.projects_sections,
    coalesce(team_lists.number_of_teams, 0) as number_of_teams,
    team_lists.teams,
    task.parent_task_id is not null as is_subtask,
    task.parent_task_id,
    parent.task_name as parent_task_name,
    parent.assignee_user_id as parent_assignee_user_id,
    parent.due_date as parent_due_date,
    task.number_of_likes
from task
left join users as assignee on assignee.user_id = task.assignee_user_id
left join task as parent on parent.task_id = task.parent_task_id
left join history on history.task_id = task.task_id
left join project_lists on project_lists.task_id = task.task_id
left join team_lists on team_lists.task_id = task.task_id
left join tag_lists on tag_lists.task_id = task.task_id
left join follower_lists on follower_lists.task_id = task.task_id
