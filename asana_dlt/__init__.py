"""A dlt source for Asana: workspaces, projects, sections, tags, tasks, stories, teams and users.

The map of the source. `workspaces` feeds every other resource. Small tables (workspaces,
projects, sections, tags, teams, users) are listed whole on every run and replaced, so what
Asana deleted disappears. `tasks` (subtasks included) load incrementally with a `modified_since`
cursor per project and merge on `gid`; how each project is read this run is decided in `plan.py`
and run by `project_tasks.py`. `stories` are fetched once per new or changed task and merge on
`gid`. Asana's events, deletes and reconciliation keep both equal to Asana (`changes.py`,
`events.py`, `workspace_changes.py`); state between runs has one owner (`state.py`). The
catalog's resources (custom fields, memberships, portfolios, goals, status updates, ...) are
data in `settings.CATALOG`, built by the one factory in `catalog.py`.
"""

from typing import Any, Dict, Iterator, List, Optional, Sequence

import dlt
from dlt.common.typing import TDataItems, TSecretStrValue
from dlt.extract.resource import DltResource

from .batch import Listing, each_listing, in_batches
from .changes import ChangeCapture, mark_live
from .context import Options, SourceRun, sections_of
from .coverage import carried
from .errors import AsanaSourceError, named
from .export.rows import exported_children
from .helpers import AsanaClient
from .hints import columns, deletion_columns, nested
from .references import by_gid
from .session import Session
from .unchanged import dynamic_hints, records_of
from .settings import (
    CATALOG,
    DEFAULT_BASE_URL,
    DEFAULT_BATCH_SIZE,
    DEFAULT_EXPORT_TIMEOUT_MINUTES,
    DEFAULT_FULL_LOAD,
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_RECONCILE_EVERY_DAYS,
    DEFAULT_REQUESTS_PER_MINUTE,
    PROJECT_FIELDS,
    SECTION_FIELDS,
    STORY_FIELDS,
    TAG_FIELDS,
    TASK_FIELDS,
    TEAM_FIELDS,
    USER_FIELDS,
    WORKSPACE_FIELDS,
)

__all__ = ["asana_source", "AsanaSourceError"]


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
    session: Optional[Session] = None,
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
        full_load: How a first load gets tasks and stories: "auto" (Asana's resource export,
            else the paged API), "export" (or stop), "api".
        export_timeout_minutes: Longest wait for an export job before "auto" lists instead.
        batch_size: Story listings per request through Asana's batch API (1 to 10; 1 does not
            use it). Each listing still costs one request of the quota; fewer HTTP round trips
            cut the loader's CPU.
        session: What a long-running caller keeps between runs (`session.Session`, follow
            mode): one client and rate limiter for every run, tables listed whole written only
            when they changed, and the projects this run reads.
    """
    run = SourceRun.create(
        Options(
            access_token, base_url, workspaces, start_date, stories_since, requests_per_minute, max_concurrency,
            client_id, client_secret, refresh_token, deletes, reconcile_every_days, full_load,
            export_timeout_minutes, batch_size,
        ),
        session,
    )
    listed_workspaces = workspaces_resource(run)
    listed_projects = listed_workspaces | projects(run=run)
    listed_tasks = listed_projects | tasks(run=run)
    listed_tasks.apply_hints(columns=deletion_columns(run.deletes))
    listed_stories = listed_tasks | stories(run=run)
    listed_stories.apply_hints(columns=deletion_columns(run.deletes))
    core = {
        "workspaces": listed_workspaces,
        "projects": listed_projects,
        "sections": listed_projects | sections(run=run),
        "tags": listed_workspaces | tags(run=run),
        "tasks": listed_tasks,
        "stories": listed_stories,
        "teams": listed_workspaces | teams(run=run),
        "users": listed_workspaces | users(run=run),
    }
    for kept in (listed_tasks, listed_stories):  # read once, kept until they change: as Asana has them now
        kept.add_map(mark_live).add_map(by_gid)
    core["sections"].add_map(by_gid)
    catalog = run.catalog.build(CATALOG, dict(core))  # the catalog: data in settings.CATALOG
    if run.unchanged is not None:  # an unchanged table yields nothing, which must not truncate it
        for resource in (*core.values(), *catalog):
            if resource.write_disposition == "replace":
                resource.apply_hints(**dynamic_hints(resource.table_name))
    return (*core.values(), *catalog)


def _listed_whole(name: str, fields: Sequence[str]) -> Any:
    """A transformer for a small table: listed whole on every run and replaced, so what Asana
    deleted disappears at the next run; its listings run in parallel with the others'."""
    return dlt.transformer(name=name, write_disposition="replace", primary_key="gid", parallelized=True, columns=columns(fields))


@dlt.resource(name="workspaces", write_disposition="replace", primary_key="gid", columns=columns(WORKSPACE_FIELDS))
def workspaces_resource(run: SourceRun) -> Iterator[TDataItems]:
    """The workspaces the token sees (or the configured ones); a configured one it cannot see stops
    the run, and so does a 404 here, which says base_url is wrong (`errors.wrong_base_url`)."""
    run.client.watch_progress()  # runs first, in the extract's main thread
    found = _all(run.client.pages("/workspaces", WORKSPACE_FIELDS, "workspaces", root=True))
    wanted = run.wanted
    selected = [w for w in found if wanted is None or w["gid"] in wanted or w.get("name") in wanted]
    missing = (wanted or set()) - {w["gid"] for w in selected} - {w.get("name") for w in selected}
    if missing:
        raise AsanaSourceError(
            f"Workspace {', '.join(sorted(missing))} is not visible to this token (it sees:"
            f" {', '.join(named(w) for w in found) or 'none'}); fix `workspaces` under [sources.asana_dlt] in .dlt/config.toml."
        )
    yield from run.whole("workspaces", {"": selected}, parent=True)


@_listed_whole("projects", PROJECT_FIELDS)
def projects(workspace_page: List[Dict[str, Any]], run: SourceRun) -> Iterator[TDataItems]:
    """Projects go down one by one so that each project's sections and tasks are fetched in
    parallel with the others'; the whole listing is known first, which is how deleted projects
    are told apart."""
    listed: Dict[str, List[Dict[str, Any]]] = {}
    for workspace in records_of(workspace_page):
        path = f"/workspaces/{workspace['gid']}/projects"
        for page in run.client.pages(path, PROJECT_FIELDS, f"projects of workspace {named(workspace)}"):
            listed.setdefault(workspace["gid"], []).extend(run.catalog.detach("projects", page, CATALOG))
    run.projects_listed(records_of(workspace_page), [p for part in listed.values() for p in part])
    yield from run.whole("projects", listed, parent=True, one_by_one=True, together=run.costs_nothing)


@_listed_whole("sections", SECTION_FIELDS)
def sections(project_page: Any, run: SourceRun) -> Iterator[TDataItems]:
    """A project's sections, ten projects to a batch request; kept as loaded when no event says they changed."""
    for project in records_of(project_page):
        kept = run.modes.kept_sections(project, idle=run.project_tasks.leaves_idle(project))
        rows = kept if kept is not None else run.sections.records(sections_of(project))
        yield run.part("sections", ("sections", "projects"), project["gid"], rows, kept=kept is not None)
    rest = run.done("sections", ("sections", "projects"), project_page)
    if rest:
        yield rest


@_listed_whole("tags", TAG_FIELDS)
def tags(workspace_page: List[Dict[str, Any]], run: SourceRun) -> Iterator[TDataItems]:
    """Every tag of the workspaces."""
    if not run.lists_whole():
        return
    parts = {
        w["gid"]: _all(run.client.pages(f"/workspaces/{w['gid']}/tags", TAG_FIELDS, f"tags of workspace {named(w)}"))
        for w in records_of(workspace_page)
    }
    yield from run.whole("tags", parts)


@_listed_whole("teams", TEAM_FIELDS)
def teams(workspace_page: List[Dict[str, Any]], run: SourceRun) -> Iterator[TDataItems]:
    """Teams of organizations: Asana answers a plain workspace with an error."""
    if not run.lists_whole():
        return
    parts = {
        w["gid"]: _all(run.client.pages(f"/workspaces/{w['gid']}/teams", TEAM_FIELDS, f"teams of organization {named(w)}"))
        for w in records_of(workspace_page)
        if w.get("is_organization")
    }
    yield from run.whole("teams", parts, parent=True)


@_listed_whole("users", USER_FIELDS)
def users(workspace_page: List[Dict[str, Any]], run: SourceRun) -> Iterator[TDataItems]:
    """Users of the workspaces; `/users?workspace=` pages through everyone, where
    `/workspaces/{gid}/users` stops at 2,000. A user of two workspaces is one row."""
    if not run.lists_whole():
        return
    parts: Dict[str, List[Dict[str, Any]]] = {}
    for workspace in records_of(workspace_page):
        params = {"workspace": workspace["gid"]}
        for page in run.client.pages("/users", USER_FIELDS, f"users of workspace {named(workspace)}", params):
            parts.setdefault(workspace["gid"], []).extend(user for user in page if run.memory.first_user(user["gid"]))
    yield from run.whole("users", parts)


def _all(pages: Iterator[List[Dict[str, Any]]]) -> List[Dict[str, Any]]:
    """Every record of a listing's pages."""
    return [record for page in pages for record in page]


@dlt.transformer(
    name="tasks", write_disposition="merge", primary_key="gid", parallelized=True,
    columns=columns(TASK_FIELDS), nested_hints=nested(TASK_FIELDS),
)
def tasks(project_page: Any, run: SourceRun) -> Iterator[TDataItems]:
    """A project's new and changed tasks and subtasks, and what Asana deleted, as its plan says."""
    yield from run.capture.sweep_gone_projects()  # once per run: projects deleted since the last
    for project in records_of(project_page):  # one project, carried or not (`unchanged.py`)
        plan = run.project_tasks.plan(project)
        yield from run.project_tasks.read(project, plan)
        run.project_tasks.finish(project, plan)


@dlt.transformer(name="stories", write_disposition="merge", primary_key="gid", columns=columns(STORY_FIELDS))
def stories(task_page: List[Dict[str, Any]], run: SourceRun) -> Iterator[TDataItems]:
    """Stories of the page's new and changed tasks (ten tasks to a batch request), and tombstones;
    or of loaded tasks the table lacks (`coverage.py`)."""
    backfill = carried(task_page, "stories")
    if backfill is not None:
        due = [t for t in backfill if run.wants_stories(t) and run.memory.take_backfill("stories", t["gid"])]
        for group in in_batches(run.client, due):
            yield _task_stories(run.client, run.capture, group, compare=True)
        return
    removed = run.capture.story_removals(task_page)
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
        {"gid": task["gid"], "name": task.get("name")}
        for task in task_page
        if not task.get("is_deleted") and run.memory.take_story_claim(task["gid"])
    ]
    del task_page
    for group in in_batches(run.client, claimed):  # one batch request per group
        yield _task_stories(run.client, run.capture, group)


@dlt.defer
def _task_stories(
    client: AsanaClient, capture: ChangeCapture, tasks: List[Dict[str, Any]], compare: bool = False
) -> List[Dict[str, Any]]:
    """All stories of a few tasks (one batch request), fetched in dlt's worker pool alongside
    others; tombstones for the loaded ones Asana no longer lists when a task's events were out of
    reach, or (`compare`) when the table was left out while they were deleted."""
    listings = [Listing(f"/tasks/{task['gid']}/stories", f"stories of task {named(task)}") for task in tasks]
    collected: List[Dict[str, Any]] = []
    for task, (_, found) in zip(tasks, each_listing(client, listings, STORY_FIELDS)):
        collected.extend(found)
        collected.extend(capture.vanished_stories(task["gid"], found))
    if compare:
        collected.extend(capture.stories_gone([task["gid"] for task in tasks], collected))
    return collected
