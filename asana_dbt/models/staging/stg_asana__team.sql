select gid as team_id, name as team_name, organization__gid as workspace_id
from ({{ live_rows('teams', {'gid': 'text', 'name': 'text', 'organization__gid': 'text'}) }}) as teams
