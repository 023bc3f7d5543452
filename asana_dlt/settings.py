"""Constants of the Asana source: where Asana is, how we page, and which fields we ask for.

Every field below is in the `opt_fields` enum of the endpoint that asks for it in Asana's own
OpenAPI description (`tests/source/test_settings_spec.py` proves it), so a field Asana does not
have can never creep in. Asana always returns `gid` and `resource_type`, so they are not asked for.
A nested object named without sub-fields (`assignee`) comes back compact; in the tables kept
between runs it is reduced to its `gid` (references.py), which is what a warehouse needs to join
to the referenced object's own table, where its current name is.
"""

from dataclasses import dataclass, field
from typing import Dict, FrozenSet, Optional, Tuple

DEFAULT_BASE_URL = "https://app.asana.com/api/1.0"

# Asana's maximum page size: fewer pages means fewer requests against a per-minute quota.
PAGE_SIZE = 100

# Asana allows at most 1,500 requests a minute on paid workspaces (150 on free ones) and
# 50 GETs in flight per token; our semaphore never exceeds the cap, so we use all of it.
DEFAULT_REQUESTS_PER_MINUTE = 1500
DEFAULT_MAX_CONCURRENCY = 50

# Listings per `POST /batch` (Asana's batch API, at most 10 actions): each action still costs one
# request of the quota, but ten share one HTTP round trip, a tenth of the client's CPU per request.
DEFAULT_BATCH_SIZE = 10

# Asana delivers events at most once: each project is compared in full with Asana at least this
# often, so a lost event cannot leave a row stale for longer.
DEFAULT_RECONCILE_EVERY_DAYS = 7

# How often one listing is restarted when Asana expires its pagination offset mid-way.
MAX_LISTING_RESTARTS = 3

# Bounds that stop a listing that would never end (a proxy or a paginated list gone wrong):
# pages in a row that bring no record the listing has not yielded yet (Asana may serve a
# few empty pages with a next_page), and pages in one listing (10 million records).
MAX_STALE_PAGES = 20
MAX_LISTING_PAGES = 100_000

WORKSPACE_FIELDS: Tuple[str, ...] = ("name", "is_organization", "email_domains")

# A project's custom field settings come inside the project listing (no request per project):
# the `custom_field_settings` table is cut from the project records (see `Endpoint.embedded_in`).
# `custom_field.name`, not `custom_field`: the compact custom field carries its enum options, which
# `custom_fields` already holds.
CUSTOM_FIELD_SETTING_FIELDS: Tuple[str, ...] = ("custom_field.name", "is_important", "parent", "project")

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
    "current_status_update.resource_subtype",  # on track, at risk, ...: the project's status
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
    *(f"custom_field_settings.{name}" for name in CUSTOM_FIELD_SETTING_FIELDS),
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
    # A custom field's values, not its name or `display_value`, which Asana derives from other
    # objects' current names (references.py): the names are in `custom_fields` and its enum options.
    "custom_fields.type",
    "custom_fields.resource_subtype",
    "custom_fields.text_value",
    "custom_fields.number_value",
    "custom_fields.enum_value",
    "custom_fields.multi_enum_values",
    "custom_fields.date_value.date",
    "custom_fields.date_value.date_time",
    "custom_fields.people_value",
    "likes",
    "num_likes",
    "actual_time_minutes",
    "permalink_url",
    "notes",
    "workspace",
    "dependencies",
    "dependents",
    "approval_status",
    "assignee_section",
    "html_notes",
    "num_hearts",
    "custom_type",
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
    # What a system story changed (each is null on the stories it does not describe): the
    # task's history, from which analytics derive assignment times and time in each section.
    "assignee",
    "follower",
    "old_section",
    "new_section",
    "old_name",
    "new_name",
    "old_dates.due_on",
    "old_dates.due_at",
    "old_dates.start_on",
    "new_dates.due_on",
    "new_dates.due_at",
    "new_dates.start_on",
    "old_resource_subtype",
    "new_resource_subtype",
    "project",
    "tag",
    "custom_field",
    "old_text_value",
    "new_text_value",
    "old_number_value",
    "new_number_value",
    "old_enum_value",
    "new_enum_value",
    "old_approval_status",
    "new_approval_status",
    "duplicate_of",
    "duplicated_from",
    "dependency",
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

# Task search (`GET /workspaces/{workspace_gid}/tasks/search`) has no offsets and no declared
# `limit`: it is paged by moving `modified_at.after`, sorted by `modified_at` ascending.
SEARCH_PARAMS: Tuple[str, ...] = ("modified_at.after", "sort_by", "sort_ascending")
# `GET /workspaces/{workspace_gid}/events` takes only the sync token; 1,000 events a call.
WORKSPACE_EVENTS_PARAMS: Tuple[str, ...] = ("sync",)

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
    "num_hearts": "bigint",
    "enabled": "bool",
    "is_important": "bool",
    "is_admin": "bool",
    "is_guest": "bool",
    "is_limited_access": "bool",
    "is_active": "bool",
    "is_view_only": "bool",
    "is_global_to_workspace": "bool",
    "is_formula_field": "bool",
    "is_workspace_level": "bool",
    "connected_to_app": "bool",
    "precision": "bigint",
    "size": "bigint",
    "duration_minutes": "bigint",
    "contribution_weight": "double",
    "entered_on": "date",
    "end_on": "date",
    "start_date": "date",
    "end_date": "date",
    "old_number_value": "double",
    "new_number_value": "double",
}

# Fields holding one compact object (`{"gid", "resource_type"}`): a column `<field>__gid`,
# and `<field>__<sub>` for a sub-field asked as `<field>.<sub>`. A dotted field of any other
# (plain) object outside OBJECT_FIELDS, such as a story's `new_dates.due_on`, is the typed
# column `new_dates__due_on`.
REFERENCE_FIELDS: FrozenSet[str] = frozenset(
    {
        "assignee", "completed_by", "created_by", "parent", "workspace", "team", "owner",
        "organization", "project", "target", "current_status_update",
        "assignee_section", "custom_type", "custom_field", "member", "user", "portfolio", "author",
        "supported_goal", "supporting_resource", "time_period", "attributable_to",
        # a story's history fields
        "follower", "old_section", "new_section", "tag", "old_enum_value",
        "new_enum_value", "duplicate_of", "duplicated_from", "dependency",
    }
)

# Fields holding lists: each becomes a child table such as `tasks__projects`.
LIST_FIELDS: FrozenSet[str] = frozenset(
    {
        "memberships", "projects", "tags", "followers", "custom_fields", "likes", "members",
        "workspaces", "email_domains", "dependencies", "dependents", "enum_options", "custom_field_settings",
    }
)

# Columns of the child tables whose values may all be null in a given account.
NESTED_COLUMN_TYPES: Dict[str, Dict[str, str]] = {
    "memberships": {"project__gid": "text", "section__gid": "text"},
    "custom_fields": {
        "gid": "text",
        "type": "text",
        "resource_subtype": "text",
        "text_value": "text",
        "number_value": "double",
        "enum_value__gid": "text",
        "date_value__date": "date",
        "date_value__date_time": "timestamp",
    },
}

# Fields holding an object of values, not a reference: dlt flattens them into `<field>__<key>`
# columns, so no column of the object's own name is hinted.
OBJECT_FIELDS: FrozenSet[str] = frozenset({"effort", "metric", "actor", "resource", "context", "details"})


# --- The catalog: every plain list resource beyond the core eight, as data ----------------------
#
# One `Endpoint` per resource, built by the one factory in `asana_dlt/catalog.py`, the way dlt's
# `rest_api` configures endpoints. `parent` names the resource whose records feed the listing;
# the parent's gid goes into the path's `{..._gid}` placeholder or into the query parameter
# `parent_param`. Small tables are listed whole on every run and replaced, so what Asana deleted
# disappears at the next run; the rest merge on their primary key.

PLAN_PAID = "a paid plan (Starter or above)"
PLAN_ADVANCED = "the Advanced plan or above"
PLAN_ENTERPRISE = "Enterprise (with a service account token)"


@dataclass(frozen=True)
class Endpoint:
    """One plain list resource: where Asana lists it, what we ask for, how it lands.

    Attributes:
        name: The resource's name, and its table's unless `table` is set.
        path: The endpoint as the OpenAPI description names it.
        parent: The resource whose records feed this listing, one listing per parent record.
        fields: The `opt_fields` asked for (every one in the endpoint's enum; a test proves it).
        parent_param: The query parameter that carries the parent's gid, if not in the path.
        params: Fixed query parameters.
        link: A column set to the parent's gid, for listings whose records do not name their
            parent (a portfolio's items, a workspace's custom fields).
        write_disposition: `replace` for tables listed whole every run, else `merge`.
        primary_key: The table's key.
        selected: Loaded by default; per-task resources (one request per task) are opt-in.
        plan: The Asana plan the endpoint needs; on other plans Asana answers 402 (403 for
            Enterprise), and the run warns once and loads everything else.
        only_organizations: Asana answers plain workspaces with an error.
        per_task: One listing per new or changed task only (the `tasks` resource decides which).
        cursor: `(record field, query parameter)` of an append-only listing read incrementally,
            one cursor per parent.
        returned: Fields the endpoint returns without `opt_fields` (it has none), for column hints.
        table: The table's name when several resources fill one table.
        embedded_in: The parent listing's field that already holds these records (it asks for
            `fields` under that name): they are cut from the parent's records, no request made.
    """

    name: str
    path: str
    parent: str
    fields: Tuple[str, ...]
    parent_param: Optional[str] = None
    params: Dict[str, str] = field(default_factory=dict)
    link: Optional[str] = None
    write_disposition: str = "replace"
    primary_key: Tuple[str, ...] = ("gid",)
    selected: bool = True
    plan: Optional[str] = None
    only_organizations: bool = False
    per_task: bool = False
    cursor: Optional[Tuple[str, str]] = None
    returned: Tuple[str, ...] = ()
    table: Optional[str] = None
    embedded_in: Optional[str] = None


CUSTOM_FIELD_FIELDS: Tuple[str, ...] = (
    "name", "type", "resource_subtype", "description", "enabled", "precision", "format",
    "currency_code", "is_global_to_workspace", "is_formula_field", "privacy_setting", "created_by",
    "enum_options.name", "enum_options.color", "enum_options.enabled",
)
PROJECT_MEMBERSHIP_FIELDS: Tuple[str, ...] = ("parent", "member", "access_level")
TEAM_MEMBERSHIP_FIELDS: Tuple[str, ...] = ("team", "user", "is_admin", "is_guest", "is_limited_access")
WORKSPACE_MEMBERSHIP_FIELDS: Tuple[str, ...] = (
    "workspace", "user", "is_active", "is_admin", "is_guest", "is_view_only", "created_at",
)
ATTACHMENT_FIELDS: Tuple[str, ...] = (
    "name", "resource_subtype", "created_at", "host", "size", "parent", "connected_to_app",
    "permanent_url", "view_url",
)
PORTFOLIO_FIELDS: Tuple[str, ...] = (
    "name", "archived", "color", "created_at", "created_by", "owner", "workspace", "public",
    "privacy_setting", "due_on", "start_on", "permalink_url", "current_status_update", "members",
)
PORTFOLIO_ITEM_FIELDS: Tuple[str, ...] = (
    "name", "archived", "completed", "owner", "team", "workspace", "modified_at", "permalink_url",
)
PORTFOLIO_MEMBERSHIP_FIELDS: Tuple[str, ...] = ("portfolio", "user", "access_level")
GOAL_FIELDS: Tuple[str, ...] = (
    "name", "notes", "owner", "team", "workspace", "time_period", "due_on", "start_on", "status",
    "is_workspace_level", "current_status_update", "privacy_setting", "num_likes", "followers",
    "metric.current_number_value", "metric.target_number_value", "metric.initial_number_value",
    "metric.unit", "metric.progress_source",
)
GOAL_RELATIONSHIP_FIELDS: Tuple[str, ...] = (
    "resource_subtype", "supported_goal", "supporting_resource", "contribution_weight",
)
STATUS_UPDATE_FIELDS: Tuple[str, ...] = (
    "title", "text", "status_type", "resource_subtype", "author", "created_by", "created_at",
    "modified_at", "parent", "num_likes", "num_hearts",
)
TIME_PERIOD_FIELDS: Tuple[str, ...] = ("display_name", "period", "start_on", "end_on", "parent")
TIME_TRACKING_ENTRY_FIELDS: Tuple[str, ...] = ("duration_minutes", "entered_on", "created_by", "attributable_to")
PROJECT_TEMPLATE_FIELDS: Tuple[str, ...] = ("name", "description", "color", "owner", "team", "public")
TASK_TEMPLATE_FIELDS: Tuple[str, ...] = ("name", "project", "created_at", "created_by")
ALLOCATION_FIELDS: Tuple[str, ...] = (
    "assignee", "parent", "start_date", "end_date", "effort.type", "effort.value", "resource_subtype",
    "created_by",
)
AUDIT_LOG_EVENT_RETURNED: Tuple[str, ...] = (
    "created_at", "event_type", "event_category", "actor", "resource", "details", "context",
)

CATALOG: Tuple[Endpoint, ...] = (
    Endpoint("custom_fields", "/workspaces/{workspace_gid}/custom_fields", "workspaces",
             CUSTOM_FIELD_FIELDS, link="workspace__gid"),
    Endpoint("custom_field_settings", "/projects/{project_gid}/custom_field_settings", "projects",
             CUSTOM_FIELD_SETTING_FIELDS, embedded_in="custom_field_settings"),
    Endpoint("project_memberships", "/projects/{project_gid}/project_memberships", "projects",
             PROJECT_MEMBERSHIP_FIELDS),
    Endpoint("team_memberships", "/teams/{team_gid}/team_memberships", "teams", TEAM_MEMBERSHIP_FIELDS),
    Endpoint("workspace_memberships", "/workspaces/{workspace_gid}/workspace_memberships", "workspaces",
             WORKSPACE_MEMBERSHIP_FIELDS),
    Endpoint("portfolios", "/portfolios", "workspaces", PORTFOLIO_FIELDS, parent_param="workspace",
             plan=PLAN_PAID),
    Endpoint("portfolio_items", "/portfolios/{portfolio_gid}/items", "portfolios", PORTFOLIO_ITEM_FIELDS,
             link="portfolio__gid", primary_key=("portfolio__gid", "gid"), plan=PLAN_PAID),
    Endpoint("portfolio_memberships", "/portfolios/{portfolio_gid}/portfolio_memberships", "portfolios",
             PORTFOLIO_MEMBERSHIP_FIELDS, plan=PLAN_PAID),
    Endpoint("goals", "/goals", "workspaces", GOAL_FIELDS, parent_param="workspace", plan=PLAN_PAID),
    Endpoint("goal_relationships", "/goal_relationships", "goals", GOAL_RELATIONSHIP_FIELDS,
             parent_param="supported_goal", plan=PLAN_PAID),
    Endpoint("status_updates", "/status_updates", "projects", STATUS_UPDATE_FIELDS, parent_param="parent"),
    Endpoint("portfolio_status_updates", "/status_updates", "portfolios", STATUS_UPDATE_FIELDS,
             parent_param="parent", table="status_updates", plan=PLAN_PAID),
    Endpoint("goal_status_updates", "/status_updates", "goals", STATUS_UPDATE_FIELDS,
             parent_param="parent", table="status_updates", plan=PLAN_PAID),
    Endpoint("time_periods", "/time_periods", "workspaces", TIME_PERIOD_FIELDS, parent_param="workspace",
             link="workspace__gid"),
    Endpoint("project_templates", "/project_templates", "workspaces", PROJECT_TEMPLATE_FIELDS,
             parent_param="workspace", link="workspace__gid"),
    Endpoint("task_templates", "/task_templates", "projects", TASK_TEMPLATE_FIELDS, parent_param="project"),
    Endpoint("allocations", "/allocations", "workspaces", ALLOCATION_FIELDS, parent_param="workspace",
             plan=PLAN_ADVANCED),
    Endpoint("attachments", "/attachments", "tasks", ATTACHMENT_FIELDS, parent_param="parent",
             write_disposition="merge", selected=False, per_task=True),
    Endpoint("time_tracking_entries", "/tasks/{task_gid}/time_tracking_entries", "tasks",
             TIME_TRACKING_ENTRY_FIELDS, link="task__gid", write_disposition="merge", selected=False,
             per_task=True, plan=PLAN_ADVANCED),
    Endpoint("audit_log_events", "/workspaces/{workspace_gid}/audit_log_events", "workspaces", (),
             write_disposition="merge", selected=False, plan=PLAN_ENTERPRISE, only_organizations=True,
             cursor=("created_at", "start_at"), returned=AUDIT_LOG_EVENT_RETURNED),
)

for _endpoint in CATALOG:
    if _endpoint.fields:
        FIELDS_BY_ENDPOINT.setdefault(_endpoint.path, _endpoint.fields)
    _sent = tuple(p for p in (_endpoint.parent_param, *_endpoint.params, *(_endpoint.cursor or ())[1:]) if p)
    if _sent:
        PARAMS_BY_ENDPOINT[_endpoint.path] = tuple(sorted(set(PARAMS_BY_ENDPOINT.get(_endpoint.path, ())) | set(_sent)))

# --- Full loads by Asana's resource export (`export.py`) ---------------------------------------
# `auto`: a full load asks for an export and falls back to the paged API; `export`: export or
# stop; `api`: always the paged API.
FULL_LOAD_MODES: Tuple[str, ...] = ("auto", "export", "api")
DEFAULT_FULL_LOAD = "auto"
# Longest wait for an export job before `auto` falls back to the paged API.
DEFAULT_EXPORT_TIMEOUT_MINUTES = 120
# Job polling backs off from seconds to a minute: a long job costs ~1 request a minute.
EXPORT_POLL_FIRST_S = 2.0
EXPORT_POLL_MAX_S = 60.0
# Exported task rows per page handed to dlt (a page also carries its tasks' stories).
EXPORT_PAGE_SIZE = 500
# A reconciliation (expired events tokens, `reconcile_every_days`) goes through one export of the
# workspace only when listing its due projects would cost more requests than this: the job, its
# download and its polls (2, 4, 8 ... 60 s: ~15 for a 10-minute job) cost about as much, and below
# it the paged listing is also minutes faster than waiting for a job.
EXPORT_RECONCILE_MIN_REQUESTS = 20
# ... and only when those listings would take longer at the run's quota than a job of this many
# minutes (the figure; Asana states none): a 2,000-task account's 376 requests take 15 s
# at 1,500/min, where waiting for its export takes minutes.
EXPORT_EXPECTED_JOB_MINUTES = 5
EXPORT_JOB_FIELDS: Tuple[str, ...] = (
    "status",
    "resource_subtype",
    "new_resource_export",
    "new_resource_export.created_at",
    "new_resource_export.completed_at",
    "new_resource_export.download_url",
)
# Columns a full load by export leaves empty, per table: Asana documents that exported
# attachments carry no `download_url` or `view_url` (read `GET /attachments` for fresh links).
# docs/tables.md lists the same; everything else lands as the paged load has it.
EXPORT_MISSING_COLUMNS: Dict[str, Tuple[str, ...]] = {
    "attachments": ("view_url",),
}
