-- One row per project and task in it, with the task's measures (a task in two projects
-- counts in both, as Asana shows it in both).
select
    tp.project_id,
    tp.section_id,
    task.task_id,
    task.task_name,
    task.assignee_user_id,
    task.is_completed,
    task.completed_at,
    task.due_date,
    task.days_open,
    task.days_since_last_assignment,
    task.cycle_time_days
from {{ ref('stg_asana__task_project') }} as tp
join {{ ref('asana__task') }} as task on task.task_id = tp.task_id
