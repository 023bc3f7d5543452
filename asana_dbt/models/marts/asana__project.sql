-- One row per project: its open and completed work, close times, and who is involved.
with project as (
    select * from {{ ref('stg_asana__project') }}
),

project_task as (
    select * from {{ ref('int_asana__project_task') }}
),

metrics as (
    select
        project_id,
        count(case when not is_completed then 1 end) as number_of_open_tasks,
        count(case when not is_completed and assignee_user_id is not null then 1 end) as number_of_assigned_open_tasks,
        count(case when is_completed then 1 end) as number_of_tasks_completed,
        {{ avg_double('case when is_completed then days_open end') }} as avg_close_time_days,
        {{ avg_double('case when is_completed then days_since_last_assignment end') }} as avg_close_time_assigned_days,
        {{ avg_double('cycle_time_days') }} as avg_cycle_time_days
    from project_task
    group by project_id
),

last_completed as (
    select project_id, task_id, task_name, completed_at,
        row_number() over (partition by project_id order by completed_at desc, task_id) as rank_in_project
    from project_task
    where is_completed
),

next_due as (
    select project_id, task_id, task_name, due_date,
        row_number() over (partition by project_id order by due_date, task_id) as rank_in_project
    from project_task
    where not is_completed and due_date >= {{ utc_today() }}
),

involved as (
    select project_id, count(*) as number_of_users_involved, {{ list_of('user_name') }} as users_involved
    from (
        select people.project_id, users.user_name
        from (
            select project_id, owner_user_id as user_id from project where owner_user_id is not null
            union
            select project_id, user_id from {{ ref('stg_asana__project_member') }}
            union
            select project_id, assignee_user_id from project_task where assignee_user_id is not null
        ) as people
        join {{ ref('stg_asana__user') }} as users on users.user_id = people.user_id
    ) as named
    group by project_id
),

section_lists as (
    select project_id, count(*) as number_of_sections, {{ list_of('section_name') }} as sections
    from {{ ref('stg_asana__section') }}
    group by project_id
)

select
    project.project_id,
    project.project_name,
    coalesce(metrics.number_of_open_tasks, 0) as number_of_open_tasks,
    coalesce(metrics.number_of_assigned_open_tasks, 0) as number_of_assigned_open_tasks,
    coalesce(metrics.number_of_tasks_completed, 0) as number_of_tasks_completed,
    metrics.avg_close_time_days,
    metrics.avg_close_time_assigned_days,
    metrics.avg_cycle_time_days,
    last_completed.task_id as last_completed_task_id,
    last_completed.task_name as last_completed_task_name,
    last_completed.completed_at as last_completed_at,
    next_due.task_id as next_due_task_id,
    next_due.task_name as next_due_task_name,
    next_due.due_date as next_due_date,
    project.team_id,
    team.team_name,
    project.owner_user_id,
    owner.user_name as owner_name,
    coalesce(involved.number_of_users_involved, 0) as number_of_users_involved,
    involved.users_involved,
    project.is_archived,
    project.is_completed,
    project.is_public,
    project.current_status,
    project.created_at,
    project.last_modified_at,
    project.due_date,
    project.project_link,
    coalesce(section_lists.number_of_sections, 0) as number_of_sections,
    section_lists.sections,
    project.workspace_id,
    project.notes
from project
left join metrics on metrics.project_id = project.project_id
left join last_completed on last_completed.project_id = project.project_id and last_completed.rank_in_project = 1
left join next_due on next_due.project_id = project.project_id and next_due.rank_in_project = 1
left join {{ ref('stg_asana__team') }} as team on team.team_id = project.team_id
left join {{ ref('stg_asana__user') }} as owner on owner.user_id = project.owner_user_id
left join involved on involved.project_id = project.project_id
left join section_lists on section_lists.project_id = project.project_id
