"""Read endpoints: each returns the records Asana would list or show, before paging/projection."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from .clock import parse_iso
from .config import SimConfig
from .errors import ApiError, bad_request, not_found
from .store import Record, Store

TASKS_FILTER_MSG = ("Must specify exactly one of project, tag, section, user task list, "
                    "or assignee + workspace")
MULTI_WS_MSG = ("This request accesses data in multiple workspaces. "
                "Please specify a workspace or team.")
# Asana has no teams outside organizations; we answer its "not an organization" 400
# rather than an empty list so a pipeline's handling of that case is exercised.
NOT_ORG_MSG = "workspace: Not an organization."


@dataclass
class Req:
    """What a handler may look at: the data, the query, the path gids and the body."""

    store: Store
    cfg: SimConfig
    params: dict[str, str]
    groups: tuple[str, ...]
    body: dict[str, Any] = field(default_factory=dict)
    sim: Any = None


@dataclass
class Listing:
    """A list answer; the server pages and projects it."""

    items: list[Record]
    paginate: bool = True
    max_items: int | None = None
    stream: bool = False  # keeps answering next_page past the end, as the audit log does


@dataclass
class Single:
    """A one-record answer; the server projects it."""

    record: Record
    status: int = 200


@dataclass
class Raw:
    """A body the handler shaped itself (events, search, deletes)."""

    body: dict[str, Any]
    status: int = 200


def lookup(req: Req, kind: str, gid: str) -> Record:
    """Fetch a record or raise Asana's 404."""
    rec = req.store.get(kind, gid)
    if rec is None:
        raise not_found(kind, gid)
    return rec


def check_project_access(req: Req, project: Record) -> None:
    """Projects the token may not read answer 403 on every endpoint that exposes them."""
    if project["gid"] in req.cfg.forbidden_projects:
        raise ApiError(403, f"project: Forbidden. You do not have access to {project['gid']}.")


def _user(req: Req, value: str) -> Record:
    if value == "me":
        assert req.store.me is not None
        return req.store.me
    return lookup(req, "user", value)


def _bool(req: Req, name: str) -> bool | None:
    raw = req.params.get(name)
    if raw is None:
        return None
    if raw.lower() not in ("true", "false"):
        raise bad_request(f"{name}: Not a boolean: {raw}")
    return raw.lower() == "true"


def _time_param(req: Req, name: str) -> str | None:
    raw = req.params.get(name)
    if raw is None:
        return None
    if name == "completed_since" and raw == "now":
        return "now"
    value = parse_iso(raw)
    if value is None:
        raise bad_request(f"{name}: Not a valid date-time: {raw}")
    return value


def filter_tasks(req: Req, tasks: list[Record]) -> list[Record]:
    """Apply ``completed_since`` and ``modified_since``.

    ``modified_since`` keeps tasks modified at or after the instant (inclusive), so an
    incremental load that reuses the last seen ``modified_at`` never misses a task
    modified in that same millisecond; the duplicate it re-reads is harmless.
    """
    completed_since = _time_param(req, "completed_since")
    modified_since = _time_param(req, "modified_since")
    if completed_since is not None:
        if completed_since == "now":
            tasks = [t for t in tasks if not t["completed"]]
        else:
            tasks = [t for t in tasks if not t["completed"] or
                     (t["completed_at"] or "") >= completed_since]
    if modified_since is not None:
        tasks = [t for t in tasks if t["modified_at"] >= modified_since]
    return tasks


def _tasks_of(req: Req, gids: list[str]) -> list[Record]:
    recs = req.store.records["task"]
    with req.store.lock:
        return [recs[g] for g in gids if g in recs]


def get_workspaces(req: Req) -> Listing:
    return Listing(req.store.all("workspace"))


def get_workspace(req: Req) -> Single:
    return Single(lookup(req, "workspace", req.groups[0]))


def _projects(req: Req, ws: Record | None, team: Record | None) -> Listing:
    archived = _bool(req, "archived")
    out = [p for p in req.store.all("project")
           if (ws is None or p["workspace"] is ws) and (team is None or p["team"] is team)
           and (archived is None or p["archived"] == archived)]
    return Listing(out)


def get_workspace_projects(req: Req) -> Listing:
    return _projects(req, lookup(req, "workspace", req.groups[0]), None)


def get_projects(req: Req) -> Listing:
    ws = lookup(req, "workspace", req.params["workspace"]) if "workspace" in req.params else None
    team = lookup(req, "team", req.params["team"]) if "team" in req.params else None
    if ws is None and team is None:
        raise bad_request(MULTI_WS_MSG)
    return _projects(req, ws, team)


def get_project(req: Req) -> Single:
    p = lookup(req, "project", req.groups[0])
    check_project_access(req, p)
    return Single(p)


def _project_for_path(req: Req) -> Record:
    p = lookup(req, "project", req.groups[0])
    check_project_access(req, p)
    return p


def get_project_sections(req: Req) -> Listing:
    p = _project_for_path(req)
    s = req.store
    with s.lock:
        return Listing([s.by_gid[g] for g in s.project_sections.get(p["gid"], ())])


def _tags(req: Req, ws: Record) -> Listing:
    return Listing([t for t in req.store.all("tag") if t["workspace"] is ws])


def get_workspace_tags(req: Req) -> Listing:
    return _tags(req, lookup(req, "workspace", req.groups[0]))


def get_tags(req: Req) -> Listing:
    if "workspace" not in req.params:
        raise bad_request(MULTI_WS_MSG)
    return _tags(req, lookup(req, "workspace", req.params["workspace"]))


def get_tasks(req: Req) -> Listing:
    """``GET /tasks``: exactly one container filter, as Asana insists."""
    p, s = req.params, req.store
    chosen = [k for k in ("project", "tag", "section") if k in p]
    by_assignee = "assignee" in p
    if len(chosen) + (1 if by_assignee else 0) != 1 or (by_assignee and "workspace" not in p) \
            or ("workspace" in p and not by_assignee):
        raise bad_request(TASKS_FILTER_MSG)
    if "project" in p:
        proj = lookup(req, "project", p["project"])
        check_project_access(req, proj)
        gids = s.project_tasks.get(proj["gid"], [])
    elif "section" in p:
        sec = lookup(req, "section", p["section"])
        check_project_access(req, sec["project"])
        gids = s.section_tasks.get(sec["gid"], [])
    elif "tag" in p:
        gids = s.tag_tasks.get(lookup(req, "tag", p["tag"])["gid"], [])
    else:
        user = _user(req, p["assignee"])
        ws = lookup(req, "workspace", p["workspace"])
        with s.lock:
            tasks = [t for t in s.records["task"].values()
                     if t["assignee"] is user and t["workspace"] is ws and t["parent"] is None]
        return Listing(filter_tasks(req, tasks))
    return Listing(filter_tasks(req, _tasks_of(req, list(gids))))


def get_project_tasks(req: Req) -> Listing:
    p = _project_for_path(req)
    return Listing(filter_tasks(req, _tasks_of(req, list(req.store.project_tasks.get(p["gid"], [])))))


def get_section_tasks(req: Req) -> Listing:
    sec = lookup(req, "section", req.groups[0])
    check_project_access(req, sec["project"])
    return Listing(filter_tasks(req, _tasks_of(req, list(req.store.section_tasks.get(sec["gid"], [])))))


def get_task(req: Req) -> Single:
    return Single(lookup(req, "task", req.groups[0]))


def get_subtasks(req: Req) -> Listing:
    t = lookup(req, "task", req.groups[0])
    return Listing(_tasks_of(req, list(req.store.subtasks.get(t["gid"], []))))


def get_stories(req: Req) -> Listing:
    return Listing(req.store.stories(lookup(req, "task", req.groups[0])))


def get_workspace_teams(req: Req) -> Listing:
    ws = lookup(req, "workspace", req.groups[0])
    if not ws["is_organization"]:
        raise bad_request(NOT_ORG_MSG)
    return Listing([t for t in req.store.all("team") if t["organization"] is ws])


def get_users(req: Req) -> Listing:
    """``GET /users``: sorted by gid, optionally restricted to a workspace or team."""
    users = req.store.all("user")
    if "workspace" in req.params:
        ws = lookup(req, "workspace", req.params["workspace"])
        users = [u for u in users if ws in u["workspaces"]]
    if "team" in req.params:
        team = lookup(req, "team", req.params["team"])
        members = {m["user"]["gid"] for m in req.store.all("team_membership") if m["team"] is team}
        users = [u for u in users if u["gid"] in members]
    return Listing(sorted(users, key=lambda u: int(u["gid"])))


def get_user(req: Req) -> Single:
    """``/users/{gid}``; ``me`` is the token's user, as on Asana."""
    return Single(_user(req, req.groups[0]))


def get_workspace_users(req: Req) -> Listing:
    """Alphabetical and capped at 2000 without pagination, as the spec describes."""
    ws = lookup(req, "workspace", req.groups[0])
    users = sorted((u for u in req.store.all("user") if ws in u["workspaces"]),
                   key=lambda u: u["name"])
    return Listing(users[:2000], paginate=False)


def get_custom_fields(req: Req) -> Listing:
    ws = lookup(req, "workspace", req.groups[0])
    return Listing([c for c in req.store.all("custom_field") if c["workspace"] is ws])


def get_custom_field_settings(req: Req) -> Listing:
    return Listing(list(_project_for_path(req)["custom_field_settings"]))


def get_project_memberships(req: Req) -> Listing:
    p = _project_for_path(req)
    out = [m for m in req.store.all("project_membership") if m["parent"] is p]
    if "user" in req.params:
        user = _user(req, req.params["user"])
        out = [m for m in out if m["member"] is user]
    return Listing(out)


def get_team_memberships(req: Req) -> Listing:
    team = lookup(req, "team", req.groups[0])
    return Listing([m for m in req.store.all("team_membership") if m["team"] is team])


def get_attachments(req: Req) -> Listing:
    gid = req.params["parent"]
    parent = req.store.by_gid.get(gid)
    if parent is None or parent["resource_type"] not in ("task", "project"):
        raise not_found("parent", gid)
    if parent["resource_type"] == "project":
        check_project_access(req, parent)
    return Listing([a for a in req.store.all("attachment") if a["parent"] is parent])


def get_portfolios(req: Req) -> Listing:
    """A personal token sees the portfolios of ``owner`` (default: itself), as the spec says."""
    if not req.cfg.premium:
        raise ApiError(402, "Portfolios is only available to premium users. This feature is only "
                            "available to premium workspaces.")
    ws = lookup(req, "workspace", req.params["workspace"])
    owner = _user(req, req.params.get("owner", "me"))
    return Listing([p for p in req.store.all("portfolio")
                    if p["workspace"] is ws and p["owner"] is owner])


Handler = Callable[[Req], Any]

READ_ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", "/workspaces", get_workspaces),
    ("GET", "/workspaces/{workspace_gid}", get_workspace),
    ("GET", "/workspaces/{workspace_gid}/projects", get_workspace_projects),
    ("GET", "/projects", get_projects),
    ("GET", "/projects/{project_gid}", get_project),
    ("GET", "/projects/{project_gid}/sections", get_project_sections),
    ("GET", "/workspaces/{workspace_gid}/tags", get_workspace_tags),
    ("GET", "/tags", get_tags),
    ("GET", "/tasks", get_tasks),
    ("GET", "/projects/{project_gid}/tasks", get_project_tasks),
    ("GET", "/sections/{section_gid}/tasks", get_section_tasks),
    ("GET", "/tasks/{task_gid}", get_task),
    ("GET", "/tasks/{task_gid}/subtasks", get_subtasks),
    ("GET", "/tasks/{task_gid}/stories", get_stories),
    ("GET", "/workspaces/{workspace_gid}/teams", get_workspace_teams),
    ("GET", "/users", get_users),
    ("GET", "/users/{user_gid}", get_user),
    ("GET", "/workspaces/{workspace_gid}/users", get_workspace_users),
    ("GET", "/workspaces/{workspace_gid}/custom_fields", get_custom_fields),
    ("GET", "/projects/{project_gid}/custom_field_settings", get_custom_field_settings),
    ("GET", "/projects/{project_gid}/project_memberships", get_project_memberships),
    ("GET", "/teams/{team_gid}/team_memberships", get_team_memberships),
    ("GET", "/attachments", get_attachments),
    ("GET", "/portfolios", get_portfolios),
]
