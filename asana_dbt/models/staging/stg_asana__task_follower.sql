-- One row per task and user following it.
with followers as (
    {{ live_rows('tasks__followers', {'gid': 'text', '_dlt_parent_id': 'text'}) }}
)

select distinct task.task_id, followers.gid as user_id
from followers
join {{ ref('stg_asana__task') }} as task on task._dlt_id = followers._dlt_parent_id
