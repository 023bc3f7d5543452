select gid as section_id, name as section_name, project__gid as project_id, created_at
from ({{ live_rows('sections', {'gid': 'text', 'name': 'text', 'project__gid': 'text', 'created_at': 'timestamp with time zone'}) }}) as sections
