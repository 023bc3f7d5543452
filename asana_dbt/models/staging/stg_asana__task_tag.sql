-- One row per task and tag on it.
with tags as (
    {{ live_rows('tasks__tags', {'gid': 'text', '_dlt_parent_id': 'text'}) }}
)

select distinct task.task_id, tags.gid as tag_id
from tags
join {{ ref('stg_asana__task') }} as task on task._dlt_id = tags._dlt_parent_id
