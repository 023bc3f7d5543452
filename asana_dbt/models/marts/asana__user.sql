-- One row per user: the work assigned to them and the projects they work in.
with task as (
    select * from {{ ref('asana__task') }}
),

metrics as (
    select
        assignee_user_id as user_id,
        count(case when not is_completed then 1 end) as number_of_open_tasks,
        count(case when is_completed then 1 end) as number_of_tasks_completed,
        {{ avg_double('case when is_completed then days_open end') }} as avg_close_time_days,
        {{ avg_double('cycle_time_days') }} as avg_cycle_time_days
    from task
    where assignee_user_id is not null
    group by assignee_user_id
),

working_on as (
    select user_id, count(*) as number_of_projects_currently_assigned_to, {{ list_of('project_name') }} as projects_working_on
    from (
        select distinct pt.assignee_user_id as user_id, project.project_name, project.project_id
        from {{ ref('int_asana__project_task') }} as pt
        join {{ ref('stg_asana__project') }} as project on project.project_id = pt.project_id
        where pt.assignee_user_id is not null and not pt.is_completed and not project.is_archived
    ) as open_work
    group by user_id
),

owned as (
    select owner_user_id as user_id, count(*) as number_of_projects_owned
    from {{ ref('stg_asana__project') }}
    where owner_user_id is not null
    group by owner_user_id
)

select
    users.user_id,
    users.user_name,
    users.email,
    coalesce(metrics.number_of_open_tasks, 0) as number_of_open_tasks,
    coalesce(metrics.number_of_tasks_completed, 0) as number_of_tasks_completed,
    metrics.avg_close_time_days,
    metrics.avg_cycle_time_days,
    coalesce(owned.number_of_projects_owned, 0) as number_of_projects_owned,
    coalesce(working_on.number_of_projects_currently_assigned_to, 0) as number_of_projects_currently_assigned_to,
    working_on.projects_working_on
from {{ ref('stg_asana__user') }} as users
left join metrics on metrics.user_id = users.user_id
left join working_on on working_on.user_id = users.user_id
left join owned on owned.user_id = users.user_id
