-- One row per day (UTC) from the day the first task was created until today: how much work
-- was open at the end of the day, created and completed that day, and how old the open work was.
--
-- A task is open on a day when it was created on or before it and not completed by its end.
-- "Assigned" counts open tasks first assigned (per story history) on or before that day.
{%- set first_day = "(select coalesce(min(" ~ utc_date('created_at') ~ "), " ~ utc_today() ~ ") from " ~ ref('stg_asana__task') ~ ")" %}

with spine as (
    select cast(date_day as date) as date_day
    from ({{ dbt.date_spine('day', first_day, dbt.dateadd('day', 1, utc_today())) }}) as days
),

task as (
    select
        task_id,
        {{ utc_date('created_at') }} as created_date,
        {{ utc_date('completed_at') }} as completed_date,
        {{ utc_date('first_assigned_at') }} as first_assigned_date
    from {{ ref('asana__task') }}
),

open_work as (
    select
        spine.date_day,
        count(task.task_id) as number_of_tasks_open,
        count(case when task.first_assigned_date <= spine.date_day then 1 end) as number_of_tasks_open_assigned,
        {{ avg_double(dbt.datediff('task.created_date', 'spine.date_day', 'day')) }} as avg_days_open,
        {{ avg_double('case when task.first_assigned_date <= spine.date_day then '
                      ~ dbt.datediff('task.first_assigned_date', 'spine.date_day', 'day') ~ ' end') }} as avg_days_open_assigned
    from spine
    left join task
        on task.created_date <= spine.date_day
        and (task.completed_date is null or task.completed_date > spine.date_day)
    group by spine.date_day
),

created as (
    select created_date as date_day, count(*) as number_of_tasks_created
    from task
    group by created_date
),

completed as (
    select completed_date as date_day, count(*) as number_of_tasks_completed
    from task
    where completed_date is not null
    group by completed_date
)

select
    spine.date_day,
    open_work.number_of_tasks_open,
    open_work.number_of_tasks_open_assigned,
    coalesce(created.number_of_tasks_created, 0) as number_of_tasks_created,
    coalesce(completed.number_of_tasks_completed, 0) as number_of_tasks_completed,
    open_work.avg_days_open,
    open_work.avg_days_open_assigned
from spine
join open_work on open_work.date_day = spine.date_day
left join created on created.date_day = spine.date_day
left join completed on completed.date_day = spine.date_day
