-- One row per project and member.
with members as (
    {{ live_rows('projects__members', {'gid': 'text', '_dlt_parent_id': 'text'}) }}
)

select distinct project.project_id, members.gid as user_id
from members
join {{ ref('stg_asana__project') }} as project on project._dlt_id = members._dlt_parent_id
