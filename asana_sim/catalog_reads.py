"""Read endpoints of the catalog: memberships, portfolios' items, goals, status updates, time
periods and tracking, templates, allocations and the audit log.

Plan-gated as Asana gates them: premium-only endpoints answer 402 on a non-premium workspace
(``SimConfig.premium``), the audit log answers 403 unless ``SimConfig.enterprise`` (it needs an
Enterprise service account), and 402 on a non-premium one.
"""
from __future__ import annotations

from typing import Callable

from .clock import parse_iso
from .errors import ApiError, bad_request, not_found
from .reads import Listing, Req, check_project_access, lookup
from .store import Record

PREMIUM_MSG = ("{what} is only available to premium users. This feature is only available to "
               "premium workspaces.")
ENTERPRISE_MSG = ("The audit log API is only available to service accounts of Enterprise+ "
                  "organizations.")
GOAL_FILTERS_MSG = "Must specify one of workspace, team, portfolio or project"


def require_premium(req: Req, what: str) -> None:
    """Asana's 402 for a feature the workspace's plan lacks."""
    if not req.cfg.premium:
        raise ApiError(402, PREMIUM_MSG.format(what=what))


def get_workspace_memberships(req: Req) -> Listing:
    ws = lookup(req, "workspace", req.groups[0])
    out = [m for m in req.store.all("workspace_membership") if m["workspace"] is ws]
    if "user" in req.params:
        out = [m for m in out if m["user"]["gid"] == req.params["user"]]
    return Listing(out)


def get_portfolio_items(req: Req) -> Listing:
    require_premium(req, "Portfolios")
    portfolio = lookup(req, "portfolio", req.groups[0])
    existing = req.store.records["project"]
    return Listing([p for p in portfolio.get("_items", ()) if p["gid"] in existing])


def get_portfolio_memberships(req: Req) -> Listing:
    require_premium(req, "Portfolios")
    portfolio = lookup(req, "portfolio", req.groups[0])
    out = list(portfolio.get("_members", ()))
    if "user" in req.params:
        out = [m for m in out if m["user"]["gid"] == req.params["user"]]
    return Listing(out)


def get_goals(req: Req) -> Listing:
    require_premium(req, "Goals")
    p = req.params
    if "workspace" in p:
        ws = lookup(req, "workspace", p["workspace"])
        out = [g for g in req.store.all("goal") if g["workspace"] is ws]
    elif "team" in p:
        team = lookup(req, "team", p["team"])
        out = [g for g in req.store.all("goal") if g["team"] is team]
    else:
        raise bad_request(GOAL_FILTERS_MSG)
    if "is_workspace_level" in p:
        out = [g for g in out if g["is_workspace_level"] == (p["is_workspace_level"].lower() == "true")]
    return Listing(out)


def get_goal_relationships(req: Req) -> Listing:
    require_premium(req, "Goals")
    goal = lookup(req, "goal", req.params["supported_goal"])
    out = [r for r in req.store.all("goal_relationship") if r["supported_goal"] is goal]
    if "resource_subtype" in req.params:
        out = [r for r in out if r["resource_subtype"] == req.params["resource_subtype"]]
    return Listing(out)


def get_status_updates(req: Req) -> Listing:
    gid = req.params["parent"]
    parent = req.store.by_gid.get(gid)
    if parent is None or parent["resource_type"] not in ("project", "portfolio", "goal"):
        raise not_found("parent", gid)
    if parent["resource_type"] == "project":
        check_project_access(req, parent)
    else:
        require_premium(req, parent["resource_type"].title() + "s")
    out = [u for u in req.store.all("status_update") if u["parent"] is parent]
    if "created_since" in req.params:
        since = parse_iso(req.params["created_since"])
        if since is None:
            raise bad_request(f"created_since: Not a valid date-time: {req.params['created_since']}")
        out = [u for u in out if u["created_at"] >= since]
    return Listing(out)


def get_time_periods(req: Req) -> Listing:
    ws = lookup(req, "workspace", req.params["workspace"])
    out = [t for t in req.store.all("time_period") if t["workspace"] is ws]
    if "start_on" in req.params:
        out = [t for t in out if t["start_on"] >= req.params["start_on"]]
    if "end_on" in req.params:
        out = [t for t in out if t["end_on"] <= req.params["end_on"]]
    return Listing(out)


def get_task_time_tracking_entries(req: Req) -> Listing:
    require_premium(req, "Time tracking")
    task = lookup(req, "task", req.groups[0])
    return Listing([e for e in req.store.all("time_tracking_entry") if e["task"] is task])


def get_project_templates(req: Req) -> Listing:
    if "workspace" in req.params:
        ws = lookup(req, "workspace", req.params["workspace"])
        return Listing([t for t in req.store.all("project_template") if t["workspace"] is ws])
    if "team" in req.params:
        team = lookup(req, "team", req.params["team"])
        return Listing([t for t in req.store.all("project_template") if t["team"] is team])
    raise bad_request("Must specify one of workspace or team")


def get_task_templates(req: Req) -> Listing:
    if "project" not in req.params:
        raise bad_request("project: Missing input")
    project = lookup(req, "project", req.params["project"])
    check_project_access(req, project)
    return Listing([t for t in req.store.all("task_template") if t["project"] is project])


def get_allocations(req: Req) -> Listing:
    require_premium(req, "Resource management")
    p = req.params
    if not ({"workspace", "parent", "assignee"} & set(p)):
        raise bad_request("Must specify one of workspace, parent or assignee")
    out: list[Record] = req.store.all("allocation")
    if "workspace" in p:
        out = [a for a in out if a["workspace"]["gid"] == p["workspace"]]
    if "parent" in p:
        out = [a for a in out if a["parent"]["gid"] == p["parent"]]
    if "assignee" in p:
        out = [a for a in out if a["assignee"]["gid"] == p["assignee"]]
    return Listing(out)


def get_audit_log_events(req: Req) -> Listing:
    require_premium(req, "The audit log")
    if not req.cfg.enterprise:
        raise ApiError(403, ENTERPRISE_MSG)
    ws = lookup(req, "workspace", req.groups[0])
    out = [e for e in req.store.all("audit_log_event") if e["workspace"] is ws]
    for name, keep in (("start_at", lambda e, v: e["created_at"] >= v),
                       ("end_at", lambda e, v: e["created_at"] < v)):
        if name in req.params:
            value = parse_iso(req.params[name])
            if value is None:
                raise bad_request(f"{name}: Not a valid date-time: {req.params[name]}")
            out = [e for e in out if keep(e, value)]
    for name, key in (("event_type", "event_type"), ("resource_gid", "resource")):
        if name in req.params:
            out = [e for e in out if (e[key]["gid"] if key == "resource" else e[key]) == req.params[name]]
    return Listing(out, stream=True)


CATALOG_ROUTES: list[tuple[str, str, Callable[[Req], Listing]]] = [
    ("GET", "/workspaces/{workspace_gid}/workspace_memberships", get_workspace_memberships),
    ("GET", "/portfolios/{portfolio_gid}/items", get_portfolio_items),
    ("GET", "/portfolios/{portfolio_gid}/portfolio_memberships", get_portfolio_memberships),
    ("GET", "/goals", get_goals),
    ("GET", "/goal_relationships", get_goal_relationships),
    ("GET", "/status_updates", get_status_updates),
    ("GET", "/time_periods", get_time_periods),
    ("GET", "/tasks/{task_gid}/time_tracking_entries", get_task_time_tracking_entries),
    ("GET", "/project_templates", get_project_templates),
    ("GET", "/task_templates", get_task_templates),
    ("GET", "/allocations", get_allocations),
    ("GET", "/workspaces/{workspace_gid}/audit_log_events", get_audit_log_events),
]
