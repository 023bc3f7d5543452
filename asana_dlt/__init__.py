"""A dlt source for Asana: workspaces, projects, sections, tags, tasks, stories, teams and users.

`workspaces` feeds every other resource. Small tables (workspaces, projects, sections, tags,
teams, users) are listed whole on every run and replaced, so what Asana deleted disappears.
`tasks` (subtasks included) load incrementally with a `modified_since` cursor per project and
merge on `gid`; `stories` are fetched once per new or changed task and merge on `gid`. Asana's
events, deletes and reconciliation keep both equal to Asana (`changes.py`); subtask trees are
walked in `subtasks.py`. The catalog's resources (custom fields, memberships, portfolios, goals, status updates, ...) are
data in `settings.CATALOG`, built by the one factory in `catalog.py`.
"""

from typing import Any, Dict, Iterator, List, Optional, Sequence, Set, Tuple

import dlt
from dlt.common.typing import TDataItems, TSecretStrValue
from dlt.extract.resource import DltResource

from .batch import MAX_BATCH_SIZE, Listing, PlannedListings, each_listing, in_batches
from .catalog import Catalog, TaskChanges
from .changes import ChangeCapture, ProjectEvents, check_delete_mode, deletion_columns, mark_live
from .export import ExportedTask, ExportPage, FullLoads, exported_children
from .helpers import TOKEN_HELP, AsanaClient, AsanaSourceError, create_client
from .incremental import ProjectCursors, RunMemory, to_asana_time
from .rate_limit import RateLimiter
from .subtasks import TaskSorter
from .workspace_changes import WorkspaceChanges
from .settings import (
    CATALOG,
    COLUMN_TYPES,
    DEFAULT_BASE_URL,
    DEFAULT_EXPORT_TIMEOUT_MINUTES,
    DEFAULT_BATCH_SIZE,
    DEFAULT_FULL_LOAD,
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_RECONCILE_EVERY_DAYS,
    DEFAULT_REQUESTS_PER_MINUTE,
    LIST_FIELDS,
    NESTED_COLUMN_TYPES,
    OBJECT_FIELDS,
    PROJECT_FIELDS,
    REFERENCE_FIELDS,
    SECTION_FIELDS,
    STORY_FIELDS,
    TAG_FIELDS,
    TASK_FIELDS,
    TEAM_FIELDS,
    USER_FIELDS,
    WORKSPACE_FIELDS,
)

__all__ = ["asana_source", "AsanaSourceError"]

def _columns(fields: Sequence[str]) -> Dict[str, Any]:
    """Typed, nullable columns for every scalar and reference field a resource asks for."""
    columns: Dict[str, Any] = {}
    for field in fields:
        name, _, sub = field.partition(".")
        if name in LIST_FIELDS or name in OBJECT_FIELDS:
            continue
        if name in REFERENCE_FIELDS:
            columns[f"{name}__gid"] = {"data_type": "text", "nullable": True}
        if sub:
            columns[f"{name}__{sub}"] = {"data_type": COLUMN_TYPES.get(sub, "text"), "nullable": True}
        elif name not in REFERENCE_FIELDS:
            columns[name] = {"data_type": COLUMN_TYPES.get(name, "text"), "nullable": True}
    return columns


def _nested(fields: Sequence[str]) -> Dict[str, Any]:
    """Typed columns for the child tables a resource's list fields become."""
    lists = {field.split(".")[0] for field in fields} & set(NESTED_COLUMN_TYPES)
    return {
        name: dlt.mark.make_nested_hints(
            columns={col: {"data_type": kind, "nullable": True} for col, kind in NESTED_COLUMN_TYPES[name].items()}
        )
        for name in sorted(lists)
    }


def _ref(record: Dict[str, Any]) -> Dict[str, Any]:
    """The gid and name of a record: enough to list its children and to name it in warnings."""
    return {"gid": record["gid"], "name": record.get("name")}


def _named(record: Dict[str, Any]) -> str:
    return f"{record.get('name')!r} ({record['gid']})"


def _listed_whole(name: str, data_from: Any, fields: Sequence[str]) -> Any:
    """A transformer for a small table: listed whole on every run and replaced, so what Asana
    deleted disappears at the next run; its listings run in parallel with the others'."""
    return dlt.transformer(
        data_from=data_from,
        name=name,
        write_disposition="replace",
        primary_key="gid",
        parallelized=True,
        columns=_columns(fields),
    )


@dlt.source(name="asana", max_table_nesting=2)
def asana_source(
    access_token: Optional[TSecretStrValue] = None,
    base_url: str = DEFAULT_BASE_URL,
    workspaces: Optional[List[str]] = None,
    start_date: Optional[str] = None,
    stories_since: Optional[str] = None,
    requests_per_minute: int = DEFAULT_REQUESTS_PER_MINUTE,
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    client_id: Optional[TSecretStrValue] = None,
    client_secret: Optional[TSecretStrValue] = None,
    refresh_token: Optional[TSecretStrValue] = None,
    deletes: str = "hard",
    reconcile_every_days: int = DEFAULT_RECONCILE_EVERY_DAYS,
    full_load: str = DEFAULT_FULL_LOAD,
    export_timeout_minutes: float = DEFAULT_EXPORT_TIMEOUT_MINUTES,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> Sequence[DltResource]:
    """Builds the Asana resources; nothing is requested until the pipeline runs.

    Args:
        access_token: Asana personal access token, from `[sources.asana_dlt]` in secrets.toml
            or `SOURCES__ASANA_DLT__ACCESS_TOKEN`; or none, with an OAuth app's three below.
        base_url: Asana's API root; point it at `asana_sim` to run without an account.
        workspaces: Gids or names of the workspaces to load; None loads every workspace the
            token can see. A name or gid that matches none stops the run before anything loads.
        start_date: Tasks modified before this date are not loaded when a project is listed for
            the first time; None lists each new project in full.
        stories_since: Stories are fetched only for tasks modified at or after this date; None
            fetches them for every new or changed task. Eases huge backfills.
        requests_per_minute: The token's quota: 1,500 on paid workspaces, 150 on free ones.
        max_concurrency: Requests in flight at once; Asana allows 50 GETs per token.
        client_id: An OAuth app's client id, instead of `access_token` (with the next two).
        client_secret: The OAuth app's client secret, from `[sources.asana_dlt]` in secrets.toml.
        refresh_token: The refresh token a user granted the app; exchanged at Asana's token
            endpoint for access tokens, renewed before each expires.
        deletes: "hard" removes tasks and stories deleted in Asana (with their child-table rows);
            "soft" keeps them with `is_deleted` true and `deleted_at`, for audits.
        reconcile_every_days: Each project is compared in full with Asana at least this often,
            because Asana delivers events at most once; 0 relies on events alone.
        batch_size: Story listings per request through Asana's batch API (1 to 10; 1 does not
            use it). Each listing still costs one request of the quota; fewer HTTP round trips
            cut the loader's CPU.
    """
    if not isinstance(batch_size, int) or not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise AsanaSourceError(
            f"batch_size = {batch_size!r} is not a whole number from 1 to {MAX_BATCH_SIZE} (Asana's batch API"
            " takes at most 10 actions); fix batch_size under [sources.asana_dlt] in .dlt/config.toml."
        )
    batch_size = min(batch_size, max_concurrency or batch_size)  # a batch's actions are in flight at once
    limiter = RateLimiter(requests_per_minute=requests_per_minute, max_concurrency=max_concurrency, max_cost=batch_size)
    oauth = {"client_id": client_id, "client_secret": client_secret, "refresh_token": refresh_token}
    if not access_token and not all(oauth.values()):
        raise AsanaSourceError(
            f"No Asana access token was found: {TOKEN_HELP}; or set client_id, client_secret and"
            " refresh_token of an OAuth app there (see .dlt/secrets.toml.example)."
        )
    client = create_client(
        access_token, base_url.rstrip("/"), limiter, oauth if all(oauth.values()) else None, batch_size
    )
    cursors = ProjectCursors("tasks")
    section_listings = PlannedListings(client, SECTION_FIELDS)  # ten projects' sections per batch
    memory = RunMemory()
    task_changes = TaskChanges()
    catalog = Catalog(client, task_changes, _columns, _nested)
    stories_from = to_asana_time(stories_since) if stories_since else None
    sorter = TaskSorter(client, memory, cursors, stories_from, on_changed=task_changes.mark)
    capture = ChangeCapture(client, memory, cursors, sorter, check_delete_mode(deletes), reconcile_every_days)
    modes = WorkspaceChanges(client, capture)  # workspace events, search, or per project
    first_listing_since = to_asana_time(start_date) if start_date else None
    wanted = {str(w) for w in workspaces} if workspaces else None
    full_loads = FullLoads(
        client, full_load, export_timeout_minutes * 60, first_listing_since, stories_from, capture=capture, modes=modes,
        requests_per_minute=requests_per_minute,
    )

    @dlt.resource(
        name="workspaces", write_disposition="replace", primary_key="gid", columns=_columns(WORKSPACE_FIELDS)
    )
    def workspaces_resource() -> Iterator[TDataItems]:
        client.watch_progress()  # runs first, in the extract's main thread
        found: List[Dict[str, Any]] = []
        for page in client.pages("/workspaces", WORKSPACE_FIELDS, "workspaces"):
            found.extend(page)
        selected = [w for w in found if wanted is None or w["gid"] in wanted or w.get("name") in wanted]
        if wanted is not None:
            missing = wanted - {w["gid"] for w in selected} - {w.get("name") for w in selected}
            if missing:
                visible = ", ".join(_named(w) for w in found) or "none"
                raise AsanaSourceError(
                    f"Workspace {', '.join(sorted(missing))} is not visible to this token (it sees: {visible});"
                    " fix `workspaces` under [sources.asana_dlt] in .dlt/config.toml."
                )
        yield selected

    @_listed_whole("projects", workspaces_resource, PROJECT_FIELDS)
    def projects(workspace_page: List[Dict[str, Any]]) -> Iterator[TDataItems]:
        # Projects go down one by one so that each project's sections and tasks are
        # fetched in parallel with the others'; the whole listing is known first, which is
        # how deleted projects are told apart.
        listed: List[Dict[str, Any]] = []
        for workspace in workspace_page:
            path = f"/workspaces/{workspace['gid']}/projects"
            for page in client.pages(path, PROJECT_FIELDS, f"projects of workspace {_named(workspace)}"):
                listed.extend(catalog.detach("projects", page, CATALOG))
        capture.projects_listed(workspace_page, listed)
        # A project listed for the first time always lists its sections (see `modes.kept_sections`).
        section_listings.plan([_sections_of(p) for p in listed if p["gid"] not in cursors.previous()])
        modes.know(workspace_page)
        full_loads.projects_listed(listed)
        yield from listed

    @_listed_whole("sections", projects, SECTION_FIELDS)
    def sections(project: Dict[str, Any]) -> Iterator[TDataItems]:
        kept = modes.kept_sections(project)  # no event says they changed: the loaded rows stay
        if kept is not None:
            yield kept
            return
        yield section_listings.records(_sections_of(project))

    @_listed_whole("tags", workspaces_resource, TAG_FIELDS)
    def tags(workspace_page: List[Dict[str, Any]]) -> Iterator[TDataItems]:
        for workspace in workspace_page:
            path = f"/workspaces/{workspace['gid']}/tags"
            yield from client.pages(path, TAG_FIELDS, f"tags of workspace {_named(workspace)}")

    @_listed_whole("teams", workspaces_resource, TEAM_FIELDS)
    def teams(workspace_page: List[Dict[str, Any]]) -> Iterator[TDataItems]:
        # Only organizations have teams; Asana answers a plain workspace with an error.
        for workspace in workspace_page:
            if workspace.get("is_organization"):
                path = f"/workspaces/{workspace['gid']}/teams"
                yield from client.pages(path, TEAM_FIELDS, f"teams of organization {_named(workspace)}")

    @_listed_whole("users", workspaces_resource, USER_FIELDS)
    def users(workspace_page: List[Dict[str, Any]]) -> Iterator[TDataItems]:
        # /users?workspace= pages through everyone; /workspaces/{gid}/users stops at 2,000.
        for workspace in workspace_page:
            params = {"workspace": workspace["gid"]}
            for page in client.pages("/users", USER_FIELDS, f"users of workspace {_named(workspace)}", params):
                fresh = [user for user in page if memory.first_user(user["gid"])]
                if fresh:
                    yield fresh

    @dlt.transformer(
        data_from=projects,
        name="tasks",
        write_disposition="merge",
        primary_key="gid",
        parallelized=True,
        columns={**_columns(TASK_FIELDS), **deletion_columns(deletes)},
        nested_hints=_nested(TASK_FIELDS),
    )
    def tasks(project: Dict[str, Any]) -> Iterator[TDataItems]:
        yield from capture.sweep_gone_projects()
        if modes.skips_project(project):  # the workspace's events and search stand in for it
            yield from modes.changes(project)
            capture.finish(project, ProjectEvents())
            return
        # Events before the listing (and before any export job): what changes meanwhile is in the next events.
        events = full_loads.begin(project, full_load=not cursors.previous())
        yield from modes.changes(project)
        if modes.quiet(project, events):  # per-project events: search has the changed tasks, no listing
            yield from capture.apply(project, events, modes.found(project))
            capture.finish(project, events)
            return
        exported = full_loads.for_project(project, full_load=not cursors.previous())
        if exported is not None:  # the workspace's tasks come in its export (export.py)
            for page in exported.pages:
                yield _exported(page)
            cursors.advance(project["gid"], exported.created_at)
            capture.finish(project, events)
            return
        checked = full_loads.reconciliation(project, events)
        if checked is not None:  # one export of the workspace instead of listing it (export.py)
            for page in checked.pages:
                yield _exported(page) if page and isinstance(page[0], ExportedTask) else page
            yield from capture.apply(project, events, set(events.known or ()))  # vanished: confirmed above
            cursors.advance(project["gid"], checked.created_at)
            capture.finish(project, events)
            return
        since = first_listing_since if events.reconcile else (cursors.since(project["gid"]) or first_listing_since)
        params = {"project": project["gid"], **({"modified_since": since} if since else {})}
        newest: Optional[str] = None
        listed: Set[str] = set()
        trees: List[Tuple[Dict[str, Any], Optional[str]]] = []
        for page in client.pages("/tasks", TASK_FIELDS, f"tasks of project {_named(project)}", params):
            newest = max([newest or "", *(t.get("modified_at") or "" for t in page)]) or None
            listed.update(t["gid"] for t in page)
            fresh, changed = sorter.sort(page, None, events.known)
            if fresh:
                yield fresh
            # Trees keep only what the subtask listing needs (gid and name): holding whole tasks
            # until the project's last page would keep every parent of a large project in memory.
            if events.known is not None:  # reconciling a loaded project: every tree, every changed task's stories
                capture.check_stories(t["gid"] for t, _ in changed)
                trees.extend(
                    (_ref(t), cursors.loaded_until(m["gid"] for m in t.get("projects") or [] if m))
                    for t in page
                    if t.get("num_subtasks")
                )
            else:  # events report the changes below tasks already loaded
                trees.extend((_ref(t), until) for t, until in changed if until is None and t.get("num_subtasks"))
        yield from capture.apply(project, events, listed)
        cursors.advance(project["gid"], newest)
        capture.finish(project, events)
        # Subtask listings go to the pool once the project's own pages are in: the listing's
        # next page, which unlocks a hundred story requests, never waits behind them.
        walks = [(task, loaded_until) for task, loaded_until in trees if memory.first_walk(task["gid"])]
        for group in in_batches(client, walks):
            yield _subtasks(group, events.known is not None)

    def _exported(page: ExportPage) -> ExportPage:
        """Keeps the exported tasks this run has not taken yet; their stories ride on the page."""
        fresh = [task for task in page if memory.first_sighting(task)]
        for task in fresh:
            if task.changed:  # a reconciliation's unchanged task: its row only
                task_changes.mark(task["gid"])
        return fresh

    @dlt.defer
    def _subtasks(roots: Sequence[Tuple[Dict[str, Any], Optional[str]]], whole: bool) -> List[Dict[str, Any]]:
        """All new subtasks below a few tasks (a batch request a level), fetched in dlt's pool beside other work."""
        return capture.subtrees(roots, whole)

    @dlt.transformer(
        data_from=tasks,
        name="stories",
        write_disposition="merge",
        primary_key="gid",
        columns={**_columns(STORY_FIELDS), **deletion_columns(deletes)},
    )
    def stories(task_page: List[Dict[str, Any]]) -> Iterator[TDataItems]:
        removed = capture.story_removals(task_page)
        if removed:
            yield removed
        exported = exported_children(task_page, "stories")
        if exported is not None:  # a full load by export: the stories came with their tasks
            if exported:
                yield exported
            return
        # dlt keeps up to `max_parallel_items` of these generators waiting for pool slots: each
        # holds a few names, not a page of whole tasks (that was most of the extract's memory).
        claimed = [
            _ref(task) for task in task_page if not task.get("is_deleted") and memory.take_story_claim(task["gid"])
        ]
        del task_page
        for group in in_batches(client, claimed):  # one batch request per group
            yield _task_stories(client, capture, group)

    # The catalog: plain list resources configured as data in settings.CATALOG.
    parents = {"workspaces": workspaces_resource, "projects": projects, "teams": teams, "tasks": tasks}
    listed = catalog.build(CATALOG, parents)

    resources = (workspaces_resource, projects, sections, tags, tasks, stories, teams, users, *listed)
    tasks.add_map(mark_live)
    stories.add_map(mark_live)
    return resources


def _sections_of(project: Dict[str, Any]) -> Listing:
    return Listing(f"/projects/{project['gid']}/sections", f"sections of project {_named(project)}")


@dlt.defer
def _task_stories(client: AsanaClient, capture: ChangeCapture, tasks: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """All stories of a few tasks (one batch request), fetched in dlt's worker pool alongside
    others; tombstones for the loaded ones Asana no longer lists when a task's events were out of reach."""
    listings = [Listing(f"/tasks/{task['gid']}/stories", f"stories of task {_named(task)}") for task in tasks]
    collected: List[Dict[str, Any]] = []
    for task, (_, stories) in zip(tasks, each_listing(client, listings, STORY_FIELDS)):
        collected.extend(stories)
        collected.extend(capture.vanished_stories(task["gid"], stories))
    return collected
