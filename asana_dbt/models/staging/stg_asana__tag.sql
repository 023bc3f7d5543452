select gid as tag_id, name as tag_name, color, created_at, workspace__gid as workspace_id
from ({{ live_rows('tags', {'gid': 'text', 'name': 'text', 'color': 'text', 'created_at': 'timestamp with time zone', 'workspace__gid': 'text'}) }}) as tags
