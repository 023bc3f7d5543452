"""``GET /workspaces/{gid}/tasks/search``: premium-only, unpaginated, at most 100 results a call.

Off unless the plan has it (``premium`` and ``search``: 402 otherwise), with its own 60/min
limit per token (429 with ``Retry-After``). No offsets: a client pages by moving
``modified_at.after`` with ``sort_by=modified_at&sort_ascending=true``.

Only the filters below are modelled; any other search filter answers 400 rather than
being ignored, because silently ignoring a filter would make a test pass for the wrong
reason.
"""
from __future__ import annotations

from typing import Any, Callable

from .clock import parse_iso
from .errors import ApiError, bad_request
from .reads import Listing, Req, lookup

PREMIUM_MSG = ("Search is only available to premium users. This feature is only available "
               "to premium workspaces.")
DEFAULT_LIMIT = 100  # results per call without `limit` (not declared in the spec), and the cap
_SORT_KEYS = {"modified_at": "modified_at", "created_at": "created_at", "due_date": "due_on",
              "completed_at": "completed_at"}
_TIME_FILTERS = {"modified_at.after": ("modified_at", ">"), "modified_at.before": ("modified_at", "<"),
                 "created_at.after": ("created_at", ">"), "created_at.before": ("created_at", "<"),
                 "completed_at.after": ("completed_at", ">"), "completed_at.before": ("completed_at", "<")}
_SUPPORTED = {"text", "projects.any", "sections.any", "tags.any", "assignee.any", "completed",
              "is_subtask", "sort_by", "sort_ascending", "limit", "opt_fields", "opt_pretty",
              "resource_subtype", *_TIME_FILTERS}


def search_tasks(req: Req) -> Listing:
    if not (req.cfg.premium and req.cfg.search):
        raise ApiError(402, PREMIUM_MSG)
    if req.sim is not None:
        req.sim._app.faults.search_quota(req.sim.token)
    ws = lookup(req, "workspace", req.groups[0])
    p = req.params
    for name in p:
        if name not in _SUPPORTED:
            raise bad_request(f"{name}: This search filter is not supported by the simulator.")
    limit = DEFAULT_LIMIT
    if "limit" in p:
        try:
            limit = int(p["limit"])
        except ValueError:
            limit = 0
        if not 1 <= limit <= 100:
            raise bad_request("limit: The value must be between 1 and 100.")
    sort_by = p.get("sort_by", "modified_at")
    if sort_by not in _SORT_KEYS and sort_by != "relevance" and sort_by != "likes":
        raise bad_request(f"sort_by: Not a valid sort: {sort_by}")
    ascending = p.get("sort_ascending", "false").lower() == "true"
    preds: list[Callable[[dict[str, Any]], bool]] = []
    for name, (field, op) in _TIME_FILTERS.items():
        if name in p:
            value = parse_iso(p[name])
            if value is None:
                raise bad_request(f"{name}: Not a valid date-time: {p[name]}")
            if op == ">":
                preds.append(lambda t, f=field, v=value: t[f] is not None and t[f] > v)
            else:
                preds.append(lambda t, f=field, v=value: t[f] is not None and t[f] < v)
    for name, attr in (("projects.any", "projects"), ("tags.any", "tags")):
        if name in p:
            wanted = set(p[name].split(","))
            preds.append(lambda t, a=attr, w=wanted: any(x["gid"] in w for x in t[a]))
    if "sections.any" in p:
        wanted_s = set(p["sections.any"].split(","))
        preds.append(lambda t: any(m["section"] and m["section"]["gid"] in wanted_s
                                   for m in t["memberships"]))
    if "assignee.any" in p:
        wanted_a = {req.store.me["gid"] if g == "me" else g for g in p["assignee.any"].split(",")}
        preds.append(lambda t: t["assignee"] is not None and t["assignee"]["gid"] in wanted_a)
    for name in ("completed", "is_subtask"):
        if name in p:
            want = p[name].lower() == "true"
            if name == "completed":
                preds.append(lambda t, w=want: t["completed"] == w)
            else:
                preds.append(lambda t, w=want: (t["parent"] is not None) == w)
    if "resource_subtype" in p:
        preds.append(lambda t: t["resource_subtype"] == p["resource_subtype"])
    if "text" in p:
        needle = p["text"].lower()
        preds.append(lambda t: needle in t["name"].lower() or needle in t["notes"].lower())
    with req.store.lock:
        hits = [t for t in req.store.records["task"].values()
                if t["workspace"] is ws and all(f(t) for f in preds)]
    key = _SORT_KEYS.get(sort_by, "modified_at")
    hits.sort(key=lambda t: (t[key] is None, t[key] or "", int(t["gid"])), reverse=not ascending)
    return Listing(hits[:limit], paginate=False)


SEARCH_ROUTES = [("GET", "/workspaces/{workspace_gid}/tasks/search", search_tasks)]
