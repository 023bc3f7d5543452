"""Constants of the Asana source: where Asana is, how we page, and which fields we ask for.

Every field below is in the `opt_fields` enum of the endpoint that asks for it in Asana's own
OpenAPI description (`tests/test_settings_spec.py` proves it), so a field Asana does not have can
never creep in. Asana always returns `gid` and `resource_type`, so they are not asked for. A nested object named without sub-fields (`assignee`) comes back compact
(`gid` and `resource_type`), which is what a warehouse needs to join to its own table.
"""

from typing import Dict, Tuple

DEFAULT_BASE_URL = "https://app.asana.com/api/1.0"

# Asana's maximum page size: fewer pages means fewer requests against a per-minute quota.
PAGE_SIZE = 100

# Asana allows at most 1,500 requests a minute on paid workspaces (150 on free ones) and
# 50 GETs in flight per token; we stay just under the in-flight cap.
DEFAULT_REQUESTS_PER_MINUTE = 1500
DEFAULT_MAX_CONCURRENCY = 45

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

# Query parameters each endpoint is sent, beyond `opt_fields`, `limit` and `offset`.
PARAMS_BY_ENDPOINT: Dict[str, Tuple[str, ...]] = {
    "/users": ("workspace",),
    "/tasks": ("project", "modified_since"),
}

# Columns typed up front: Asana sends dates as plain strings, and a date column that
# starts out as text cannot be compared in SQL.
TIMESTAMP_COLUMNS = ("created_at", "modified_at", "completed_at", "due_at", "start_at")
DATE_COLUMNS = ("due_on", "start_on")
