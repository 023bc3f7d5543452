-- One row per team: the work in its projects (a task in two of its projects counts once).
with team_task as (
    select distinct project.team_id, pt.task_id, pt.assignee_user_id, pt.is_completed, pt.days_open,
        pt.days_since_last_assignment
    from {{ ref('int_asana__project_task') }} as pt
    join {{ ref('stg_asana__project') }} as project on project.project_id = pt.project_id
    where project.team_id is not null
),

metrics as (
    select
        team_id,
        count(case when not is_completed then 1 end) as number_of_open_tasks,
        count(case when not is_completed and assignee_user_id is not null then 1 end) as number_of_assigned_open_tasks,
        count(case when is_completed then 1 end) as number_of_tasks_completed,
        {{ avg_double('case when is_completed then days_open end') }} as avg_close_time_days,
        {{ avg_double('case when is_completed then days_since_last_assignment end') }} as avg_close_time_assigned_days
    from team_task
    group by team_id
),

projects as (
    select
        team_id,
        count(case when not is_archived then 1 end) as number_of_active_projects,
        count(case when is_archived then 1 end) as number_of_archived_projects,
        {{ list_of('case when not is_archived then project_name end') }} as active_projects
    from {{ ref('stg_asana__project') }}
    where team_id is not null
    group by team_id
)

select
    team.team_id,
    team.team_name,
    coalesce(metrics.number_of_open_tasks, 0) as number_of_open_tasks,
    coalesce(metrics.number_of_assigned_open_tasks, 0) as number_of_assigned_open_tasks,
    coalesce(metrics.number_of_tasks_completed, 0) as number_of_tasks_completed,
    metrics.avg_close_time_days,
    metrics.avg_close_time_assigned_days,
    projects.active_projects,
    coalesce(projects.number_of_active_projects, 0) as number_of_active_projects,
    coalesce(projects.number_of_archived_projects, 0) as number_of_archived_projects
from {{ ref('stg_asana__team') }} as team
left join metrics on metrics.team_id = team.team_id
left join projects on projects.team_id = team.team_id
