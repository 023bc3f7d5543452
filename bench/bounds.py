"""Lower bounds on the requests a load must make, computed from the simulator's data.

The bound is what any correct client of Asana's API would need: every listing the source has to
make, at 100 records a page and at least one page per listing (an empty listing still costs a
request to find out it is empty). It is computed from `sim.store`, never from the run, so a source
that makes needless requests cannot raise its own bar.

The same classification (`kind_of`) sorts the simulator's request log, so a scenario can show
which kind of request exceeds its bound.

Events: a client that keeps the warehouse equal to Asana (deletes, subtask changes) must read each
project's events (`GET /events`): on a first load one request per project, answered 412 with the
first sync token; on a later run ⌈events in the project's stream since then / 100⌉ pages, at least
one (an empty stream still costs the request that finds it empty).

Change-capture mode: a client that uses the cheapest change capture a workspace allows must ask
each workspace once per run which it has; one task search per workspace does (402 on a free
workspace, where polling follows; in the paid modes the same request returns the changed tasks,
see `asana_dlt/workspace_changes.py`). Counted with the `tasks` listings.
"""

import math
from collections import Counter
from typing import Any, Dict, Iterable, Optional, Set

PAGE_SIZE = 100

# Kinds of listing, in the order they are printed. `subtasks` and `stories` are per task.
KINDS = ("workspaces", "projects", "sections", "tags", "teams", "users", "events", "tasks", "subtasks", "stories", "catalog")

# Which listings a table needs: a table's parents must be listed even when not loaded.
_NEEDS: Dict[str, Set[str]] = {
    "workspaces": {"workspaces"},
    "projects": {"workspaces", "projects"},
    "sections": {"workspaces", "projects", "sections"},
    "tags": {"workspaces", "tags"},
    "teams": {"workspaces", "teams"},
    "users": {"workspaces", "users"},
    "tasks": {"workspaces", "projects", "events", "tasks", "subtasks"},
    "stories": {"workspaces", "projects", "events", "tasks", "subtasks", "stories"},
}


def pages(items: int) -> int:
    """Pages of one listing: ⌈items/100⌉, but one even when the listing is empty."""
    return max(1, math.ceil(items / PAGE_SIZE))


def listings_for(resources: Optional[Iterable[str]]) -> Set[str]:
    """The kinds of listing a run of these resources must make (None: every resource)."""
    wanted = set(resources) if resources else set(_NEEDS)
    unknown = wanted - set(_NEEDS)
    if unknown:
        raise ValueError(f"unknown resource(s): {', '.join(sorted(unknown))}")
    needed: Set[str] = set()
    for name in wanted:
        needed |= _NEEDS[name]
    return needed


def _story_count(store: Any, gid: str) -> int:
    """Stories of a task without generating them: generated count plus written ones."""
    return int(store.story_counts.get(gid, 0)) + len(store.extra_stories.get(gid, ()))


def _common_listings(store: Any, needed: Set[str]) -> Counter:
    """Pages of the small listings every run repeats (workspaces down to sections)."""
    records = store.records
    bound: Counter = Counter()
    workspaces = list(records["workspace"].values())
    if "workspaces" in needed:
        bound["workspaces"] += pages(len(workspaces))
    for ws in workspaces:
        if "projects" in needed:
            bound["projects"] += pages(sum(1 for p in records["project"].values() if p["workspace"] is ws))
        if "tags" in needed:
            bound["tags"] += pages(sum(1 for t in records["tag"].values() if t["workspace"] is ws))
        if "teams" in needed and ws.get("is_organization"):
            bound["teams"] += pages(sum(1 for t in records["team"].values() if t["organization"] is ws))
        if "users" in needed:
            bound["users"] += pages(sum(1 for u in records["user"].values() if ws in u["workspaces"]))
    if "sections" in needed:
        for gid in records["project"]:
            bound["sections"] += pages(len(store.project_sections.get(gid, ())))
    return bound


def _project_tasks(store: Any, project_gid: str) -> list:
    """Gids of the existing tasks listed in a project."""
    tasks = store.records["task"]
    return [gid for gid in store.project_tasks.get(project_gid, ()) if gid in tasks]


def full_load_bound(store: Any, resources: Optional[Iterable[str]] = None) -> Counter:
    """Pages a first (full) load must request, per kind of listing.

    Args:
        store: The simulator's `Store` (or anything with the same records and indexes).
        resources: The resources the run loads; None for all of them.

    Returns:
        Pages per kind (see `KINDS`); `sum(bound.values())` is the lower bound.
    """
    needed = listings_for(resources)
    with store.lock:
        bound = _common_listings(store, needed)
        bound["catalog"] += _catalog_listings(store) if resources is None else 0
        tasks = store.records["task"]
        if "events" in needed:
            bound["events"] += len(store.records["project"])  # the 412 that hands out the first token
        if "tasks" in needed:
            bound["tasks"] += len(store.records["workspace"])  # the search that tells the plan
            for gid in store.records["project"]:
                bound["tasks"] += pages(len(_project_tasks(store, gid)))
        if "subtasks" in needed:
            # Only a task that has subtasks is asked for them (num_subtasks tells which).
            for gid in tasks:
                subs = [s for s in store.subtasks.get(gid, ()) if s in tasks]
                if subs:
                    bound["subtasks"] += pages(len(subs))
        if "stories" in needed:
            for gid in tasks:
                bound["stories"] += pages(_story_count(store, gid))
    return bound


def incremental_bound(
    store: Any,
    changed: Set[str],
    resources: Optional[Iterable[str]] = None,
    events: Optional[Dict[str, int]] = None,
) -> Counter:
    """Pages a second load must request after the tasks in `changed` were modified.

    The small listings are repeated in full; each project's events need ⌈its events/100⌉
    pages but at least one; each project's tasks listing (with `modified_since`) needs
    ⌈changed tasks in it/100⌉ pages but at least one; each changed task needs its stories
    again. Subtask listings are not part of the bound: a change to a task does not change
    its subtasks, and the events say when a subtask changed.

    Args:
        store: The simulator's `Store`, after the changes.
        changed: Gids of the top-level tasks modified since the first load.
        resources: The resources the run loads; None for all of them.
        events: Events per project gid since the first load (`sim.events.count`); None: none.
    """
    needed = listings_for(resources)
    with store.lock:
        bound = _common_listings(store, needed)
        if "events" in needed:
            for gid in store.records["project"]:
                bound["events"] += pages((events or {}).get(gid, 0))
        bound["catalog"] += _catalog_listings(store) if resources is None else 0
        if "tasks" in needed:
            bound["tasks"] += len(store.records["workspace"])  # the search that tells the plan
            for gid in store.records["project"]:
                bound["tasks"] += pages(sum(1 for t in _project_tasks(store, gid) if t in changed))
        if "stories" in needed:
            for gid in changed:
                if gid in store.records["task"]:
                    bound["stories"] += pages(_story_count(store, gid))
    return bound


# The catalog's default-selected listings (asana_dlt/settings.py CATALOG), by path shape.
_CATALOG_ROOTS = {"portfolios", "goals", "goal_relationships", "status_updates", "time_periods", "project_templates",
                  "task_templates", "allocations"}
_CATALOG_CHILDREN = {("workspaces", "custom_fields"), ("workspaces", "workspace_memberships"),
                     ("projects", "project_memberships"), ("teams", "team_memberships"),
                     ("portfolios", "items"), ("portfolios", "portfolio_memberships")}


def _catalog_listings(store: Any) -> int:
    """Pages of the catalog's default tables, all listed whole on every run: one listing per
    workspace, project, team, own portfolio or goal, as `asana_dlt/settings.py` configures them."""
    records = store.records
    mine = [p for p in records["portfolio"].values() if p["owner"] is store.me]
    total = 0
    for ws in records["workspace"].values():
        for kind in ("custom_field", "workspace_membership", "goal", "time_period", "project_template", "allocation"):
            total += pages(sum(1 for r in records[kind].values() if r["workspace"] is ws))
        total += pages(sum(1 for p in mine if p["workspace"] is ws))
    updates: Counter = Counter(u["parent"]["gid"] for u in records["status_update"].values())
    for gid in records["project"]:
        total += pages(sum(1 for m in records["project_membership"].values() if m["parent"]["gid"] == gid))
        total += pages(sum(1 for t in records["task_template"].values() if t["project"]["gid"] == gid))
        total += pages(updates[gid])
    for team in records["team"].values():
        total += pages(sum(1 for m in records["team_membership"].values() if m["team"] is team))
    for portfolio in mine:
        total += pages(len(portfolio.get("_items", ()))) + pages(len(portfolio.get("_members", ())))
        total += pages(updates[portfolio["gid"]])
    for goal in records["goal"].values():
        total += pages(sum(1 for r in records["goal_relationship"].values() if r["supported_goal"] is goal))
        total += pages(updates[goal["gid"]])
    return total


def kind_of(path: str) -> str:
    """The kind of listing an API path belongs to (`other` for anything else)."""
    parts = path.strip("/").split("/")
    if parts[0] in _CATALOG_ROOTS and len(parts) == 1 or (len(parts) == 3 and (parts[0], parts[2]) in _CATALOG_CHILDREN):
        return "catalog"
    if parts == ["workspaces"]:
        return "workspaces"
    if len(parts) == 3 and parts[0] == "workspaces" and parts[2] in ("projects", "tags", "teams"):
        return parts[2]
    if len(parts) == 3 and parts[0] == "projects" and parts[2] == "sections":
        return "sections"
    if parts == ["users"]:
        return "users"
    if parts == ["tasks"]:
        return "tasks"
    if parts == ["events"] or (len(parts) == 3 and parts[0] == "workspaces" and parts[2] == "events"):
        return "events"
    if len(parts) == 4 and parts[0] == "workspaces" and parts[2:] == ["tasks", "search"]:
        return "tasks"
    if len(parts) == 3 and parts[0] == "tasks" and parts[2] in ("subtasks", "stories"):
        return parts[2]
    return "other"


def requests_by_kind(paths: Iterable[str]) -> Counter:
    """Counts requests per kind of listing, for comparison with a bound."""
    return Counter(kind_of(p) for p in paths)
