-- One row per tag: the work carrying it.
with metrics as (
    select
        tt.tag_id,
        count(case when not task.is_completed then 1 end) as number_of_open_tasks,
        count(case when not task.is_completed and task.assignee_user_id is not null then 1 end) as number_of_assigned_open_tasks,
        count(case when task.is_completed then 1 end) as number_of_tasks_completed,
        {{ avg_double('case when not task.is_completed then task.days_open end') }} as avg_days_open,
        {{ avg_double('case when not task.is_completed then task.days_since_last_assignment end') }} as avg_days_assigned
    from {{ ref('stg_asana__task_tag') }} as tt
    join {{ ref('asana__task') }} as task on task.task_id = tt.task_id
    group by tt.tag_id
)

select
    tag.tag_id,
    tag.tag_name,
    tag.color,
    tag.created_at,
    coalesce(metrics.number_of_open_tasks, 0) as number_of_open_tasks,
    coalesce(metrics.number_of_assigned_open_tasks, 0) as number_of_assigned_open_tasks,
    coalesce(metrics.number_of_tasks_completed, 0) as number_of_tasks_completed,
    metrics.avg_days_open,
    metrics.avg_days_assigned
from {{ ref('stg_asana__tag') }} as tag
left join metrics on metrics.tag_id = tag.tag_id
