-- Per task, what its story history says: comments, and when it was first and last assigned.
select
    task.task_id,
    count(case when story.story_type = 'comment' then 1 end) as number_of_comments,
    count(case when story.event_type = 'assigned' then 1 end) as number_of_assignments,
    min(case when story.event_type = 'assigned' then story.created_at end) as first_assigned_at,
    max(case when story.event_type = 'assigned' then story.created_at end) as last_assigned_at,
    count(case when story.event_type = 'section_changed' then 1 end) as number_of_section_changes,
    count(case when story.event_type in ('due_date_changed', 'dates_changed') then 1 end) as number_of_due_date_changes
from {{ ref('stg_asana__task') }} as task
left join {{ ref('stg_asana__story') }} as story on story.task_id = task.task_id
group by task.task_id
