-- One row per task and section it has been in (per project): how long it stayed there in
-- total, from its section-change stories. Answers "where does work wait?".
select
    stint.task_id,
    stint.project_id,
    project.project_name,
    stint.section_id,
    section.section_name,
    count(*) as number_of_stays,
    min(stint.entered_at) as first_entered_at,
    max(stint.exited_at) as last_exited_at,
    sum(stint.days_in_section) as days_in_section,
    max(case when stint.section_id = membership.section_id then 1 else 0 end) = 1 as is_current_section
from {{ ref('int_asana__section_stint') }} as stint
left join {{ ref('stg_asana__project') }} as project on project.project_id = stint.project_id
left join {{ ref('stg_asana__section') }} as section on section.section_id = stint.section_id
left join {{ ref('stg_asana__task_project') }} as membership
    on membership.task_id = stint.task_id and membership.project_id = stint.project_id
group by stint.task_id, stint.project_id, project.project_name, stint.section_id, section.section_name
