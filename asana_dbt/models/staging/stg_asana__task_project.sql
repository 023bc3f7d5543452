-- One row per task and project it sits in, with the section it sits in there.
with memberships as (
    {{ live_rows('tasks__memberships', {'project__gid': 'text', 'section__gid': 'text', '_dlt_parent_id': 'text'}) }}
),
projects as (
    {{ live_rows('tasks__projects', {'gid': 'text', '_dlt_parent_id': 'text'}) }}
),
task_projects as (
    select distinct task._dlt_id, projects.gid as project_id
    from projects
    join {{ ref('stg_asana__task') }} as task on task._dlt_id = projects._dlt_parent_id
    union
    select distinct task._dlt_id, memberships.project__gid as project_id
    from memberships
    join {{ ref('stg_asana__task') }} as task on task._dlt_id = memberships._dlt_parent_id
    where memberships.project__gid is not null
)

select
    task.task_id,
    task_projects.project_id,
    max(memberships.section__gid) as section_id
from task_projects
join {{ ref('stg_asana__task') }} as task on task._dlt_id = task_projects._dlt_id
left join memberships
    on memberships._dlt_parent_id = task_projects._dlt_id
    and memberships.project__gid = task_projects.project_id
group by task.task_id, task_projects.project_id
