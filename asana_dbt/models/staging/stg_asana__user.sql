select gid as user_id, name as user_name, email
from ({{ live_rows('users', {'gid': 'text', 'name': 'text', 'email': 'text'}) }}) as users
