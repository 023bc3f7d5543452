-- Each stay of a task in a section of one project, from its section-change stories.
--
-- A move from A to B ends a stay in A and starts one in B. The stay before the first move (in
-- its old section) started when the task was created; a task never moved stays in its
-- current section since then. The last stay of a task runs until it was completed, else
-- until now: `exited_at` is null while the task is still there.
with moves as (
    select
        story.task_id,
        coalesce(new_section.project_id, old_section.project_id) as project_id,
        story.old_section_id,
        story.new_section_id,
        story.created_at as moved_at,
        row_number() over (
            partition by story.task_id, coalesce(new_section.project_id, old_section.project_id)
            order by story.created_at, story.story_id
        ) as move_number
    from {{ ref('stg_asana__story') }} as story
    left join {{ ref('stg_asana__section') }} as new_section on new_section.section_id = story.new_section_id
    left join {{ ref('stg_asana__section') }} as old_section on old_section.section_id = story.old_section_id
    where story.event_type = 'section_changed'
),

stays as (
    -- the stay before the first move
    select moves.task_id, moves.project_id, moves.old_section_id as section_id,
        task.created_at as entered_at, moves.moved_at as exited_at
    from moves
    join {{ ref('stg_asana__task') }} as task on task.task_id = moves.task_id
    where moves.move_number = 1 and moves.old_section_id is not null
    union all
    -- each move starts a stay that the next move of the same project ends
    select moves.task_id, moves.project_id, moves.new_section_id as section_id,
        moves.moved_at as entered_at,
        lead(moves.moved_at) over (partition by moves.task_id, moves.project_id order by moves.move_number) as exited_at
    from moves
    union all
    -- never moved: in its current section since it was created
    select membership.task_id, membership.project_id, membership.section_id,
        task.created_at as entered_at, cast(null as timestamp with time zone) as exited_at
    from {{ ref('stg_asana__task_project') }} as membership
    join {{ ref('stg_asana__task') }} as task on task.task_id = membership.task_id
    where membership.section_id is not null
        and not exists (
            select 1 from moves
            where moves.task_id = membership.task_id and moves.project_id = membership.project_id
        )
)

select
    stays.task_id,
    stays.project_id,
    stays.section_id,
    stays.entered_at,
    stays.exited_at,
    -- a stay that began after the task was completed counts no time
    greatest({{ fractional_days('stays.entered_at', 'coalesce(stays.exited_at, task.completed_at, current_timestamp)') }}, 0) as days_in_section
from stays
join {{ ref('stg_asana__task') }} as task on task.task_id = stays.task_id
where stays.project_id is not null and stays.section_id is not null
