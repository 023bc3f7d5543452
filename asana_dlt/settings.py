"""Constants of the Asana source: where Asana is, how we page, and which fields we ask for.

Every field below is in the `opt_fields` enum of the endpoint that asks for it in Asana's own
OpenAPI description (`tests/test_settings_spec.py` proves it), so a field Asana does not have can
never creep in. Asana always returns `gid` and `resource_type`, so they are not asked for. A nested object named without sub-fields (`assignee`) comes back compact
(`gid` and `resource_type`), which is what a warehouse needs to join to its own table.
"""

from typing import Dict, FrozenSet, Tuple

DEFAULT_BASE_URL = "https://app.asana.com/api/1.0"

# Asana's maximum page size: fewer pages means fewer requests against a per-minute quota.
PAGE_SIZE = 100

# Asana allows at most 1,500 requests a minute on paid workspaces (150 on free ones) and
# 50 GETs in flight per token; our semaphore never exceeds the cap, so we use all of it.
DEFAULT_REQUESTS_PER_MINUTE = 1500
DEFAULT_MAX_CONCURRENCY = 50

# Asana delivers events at most once: each project is compared in full with Asana at least this
# often, so a lost event cannot leave a row stale for longer.
DEFAULT_RECONCILE_EVERY_DAYS = 7

# How often one listing is restarted when Asana expires its pagination offset mid-way.
MAX_LISTING_RESTARTS = 3

WORKSPACE_FIELDS: Tuple[str, ...] = ("name", "is_organization", "email_domains")

PROJECT_FIELDS: Tuple[str, ...] = (
    "name",
    "archived",
    "color",
    "completed",
    "completed_at",
    "completed_by",
    "created_at",
    "modified_at",
    "current_status_update",
    "default_view",
    "due_on",
    "start_on",
    "notes",
    "owner",
    "permalink_url",
    "privacy_setting",
    "public",
    "team",
    "workspace",
    "members",
    "followers",
)

SECTION_FIELDS: Tuple[str, ...] = ("name", "created_at", "project")

TAG_FIELDS: Tuple[str, ...] = (
    "name",
    "color",
    "created_at",
    "notes",
    "permalink_url",
    "workspace",
    "followers",
)

TASK_FIELDS: Tuple[str, ...] = (
    "name",
    "resource_subtype",
    "assignee",
    "assignee_status",
    "created_at",
    "created_by",
    "modified_at",
    "completed",
    "completed_at",
    "completed_by",
    "due_on",
    "due_at",
    "start_on",
    "start_at",
    "memberships.project",
    "memberships.section",
    "projects",
    "tags",
    "followers",
    "parent",
    "num_subtasks",
    "custom_fields.name",
    "custom_fields.type",
    "custom_fields.resource_subtype",
    "custom_fields.display_value",
    "custom_fields.text_value",
    "custom_fields.number_value",
    "custom_fields.enum_value.name",
    "custom_fields.multi_enum_values.name",
    "custom_fields.date_value.date",
    "custom_fields.date_value.date_time",
    "custom_fields.people_value",
    "likes",
    "num_likes",
    "actual_time_minutes",
    "permalink_url",
    "notes",
    "workspace",
)

STORY_FIELDS: Tuple[str, ...] = (
    "type",
    "resource_subtype",
    "text",
    "created_at",
    "created_by",
    "target",
    "is_pinned",
    "is_edited",
    "num_likes",
)

TEAM_FIELDS: Tuple[str, ...] = (
    "name",
    "description",
    "organization",
    "permalink_url",
    "visibility",
)

USER_FIELDS: Tuple[str, ...] = ("name", "email", "workspaces")

# The endpoint each field list is sent to, as the OpenAPI description names its path.
FIELDS_BY_ENDPOINT: Dict[str, Tuple[str, ...]] = {
    "/workspaces": WORKSPACE_FIELDS,
    "/workspaces/{workspace_gid}/projects": PROJECT_FIELDS,
    "/projects/{project_gid}/sections": SECTION_FIELDS,
    "/workspaces/{workspace_gid}/tags": TAG_FIELDS,
    "/tasks": TASK_FIELDS,
    "/tasks/{task_gid}/subtasks": TASK_FIELDS,
    "/tasks/{task_gid}/stories": STORY_FIELDS,
    "/workspaces/{workspace_gid}/teams": TEAM_FIELDS,
    "/users": USER_FIELDS,
}

# Single objects read again when an event names them (no paging: `opt_fields` only).
SINGLE_OBJECT_FIELDS: Dict[str, Tuple[str, ...]] = {
    "/tasks/{task_gid}": TASK_FIELDS,
    "/projects/{project_gid}": ("name",),
}

# `GET /events` takes no paging parameters; it answers 100 events at a time with `has_more`.
EVENTS_PARAMS: Tuple[str, ...] = ("resource", "sync")

# Query parameters each endpoint is sent, beyond `opt_fields`, `limit` and `offset`.
PARAMS_BY_ENDPOINT: Dict[str, Tuple[str, ...]] = {
    "/users": ("workspace",),
    "/tasks": ("project", "modified_since"),
}

# Column types, so every column exists and compares correctly in SQL from the first run on,
# even while all its values are null (an all-null column would otherwise not be created).
# Scalar fields not listed here are text.
COLUMN_TYPES: Dict[str, str] = {
    "created_at": "timestamp",
    "modified_at": "timestamp",
    "completed_at": "timestamp",
    "due_at": "timestamp",
    "start_at": "timestamp",
    "due_on": "date",
    "start_on": "date",
    "completed": "bool",
    "archived": "bool",
    "public": "bool",
    "is_organization": "bool",
    "is_pinned": "bool",
    "is_edited": "bool",
    "num_subtasks": "bigint",
    "num_likes": "bigint",
    "actual_time_minutes": "double",
}

# Fields holding one compact object (`{"gid", "resource_type"}`): a column `<field>__gid`.
REFERENCE_FIELDS: FrozenSet[str] = frozenset(
    {
        "assignee", "completed_by", "created_by", "parent", "workspace", "team", "owner",
        "organization", "project", "target", "current_status_update",
    }
)

# Fields holding lists: each becomes a child table such as `tasks__projects`.
LIST_FIELDS: FrozenSet[str] = frozenset(
    {
        "memberships", "projects", "tags", "followers", "custom_fields", "likes", "members",
        "workspaces", "email_domains",
    }
)

# Columns of the child tables whose values may all be null in a given account.
NESTED_COLUMN_TYPES: Dict[str, Dict[str, str]] = {
    "memberships": {"project__gid": "text", "section__gid": "text"},
    "custom_fields": {
        "gid": "text",
        "name": "text",
        "type": "text",
        "resource_subtype": "text",
        "display_value": "text",
        "text_value": "text",
        "number_value": "double",
        "enum_value__gid": "text",
        "enum_value__name": "text",
        "date_value__date": "date",
        "date_value__date_time": "timestamp",
    },
}
