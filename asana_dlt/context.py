"""One run of the source: its checked options and the collaborators its resources share.

Every resource of a run reads through one client (one rate limiter, one quota), remembers in one
`RunMemory`, and reads and writes state through one `SourceState`; they are built here, once,
in the order they depend on each other, so `asana_source` only names its resources.
"""

from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, List, Optional, Set
from urllib.parse import urlsplit

from .batch import MAX_BATCH_SIZE, Listing, PlannedListings
from .catalog import Catalog
from .changes import ChangeCapture, check_delete_mode
from .errors import TOKEN_HELP, AsanaSourceError, named
from .events import ProjectEventsCache
from .export.scheduler import FullLoads
from .helpers import AsanaClient, create_client
from .memory import RunMemory
from .project_tasks import ProjectTasks
from .rate_limit import RateLimiter
from .session import Session
from .settings import CATALOG, DEFAULT_BASE_URL, SECTION_FIELDS
from .state import SourceState
from .subtasks import TaskSorter
from .timestamps import to_asana_time
from .unchanged import MANY_CALL_PARENTS, Feed, Rows, UnchangedTables, done_rows, feeds_of, part_rows, whole_pages
from .warehouse import Warehouse
from .workspace_changes import WorkspaceChanges


# The resources that list something per task, each with its coverage of the loaded tasks (`coverage.py`).
PER_TASK_TABLES = ("stories", *(endpoint.name for endpoint in CATALOG if endpoint.per_task))
# Tables listed whole in many calls, one per parent record: (writer resource, table, parent resource).
MANY_CALL_TABLES: Dict[str, List[Feed]] = feeds_of(
    [("sections", "sections", "projects")]
    + [
        (endpoint.name, endpoint.table or endpoint.name, endpoint.parent)
        for endpoint in CATALOG
        if endpoint.parent in MANY_CALL_PARENTS and endpoint.write_disposition == "replace"
    ]
)


@dataclass(frozen=True)
class Options:
    """The source's settings, as `asana_source` received them (its docstring says what each does)."""

    access_token: Optional[str]
    base_url: str
    workspaces: Optional[List[str]]
    start_date: Optional[str]
    stories_since: Optional[str]
    requests_per_minute: int
    max_concurrency: int
    client_id: Optional[str]
    client_secret: Optional[str]
    refresh_token: Optional[str]
    deletes: str
    reconcile_every_days: int
    full_load: str
    export_timeout_minutes: float
    batch_size: int

    def oauth(self) -> Optional[Dict[str, Any]]:
        """An OAuth app's credentials, when all three are set."""
        found = {"client_id": self.client_id, "client_secret": self.client_secret, "refresh_token": self.refresh_token}
        return found if all(found.values()) else None

    def checked(self) -> "Options":
        """Fails before any request, with one line naming the fix, on a setting that cannot work."""
        if not isinstance(self.batch_size, int) or not 1 <= self.batch_size <= MAX_BATCH_SIZE:
            raise AsanaSourceError(
                f"batch_size = {self.batch_size!r} is not a whole number from 1 to {MAX_BATCH_SIZE} (Asana's batch API"
                " takes at most 10 actions); fix batch_size under [sources.asana_dlt] in .dlt/config.toml."
            )
        if not is_http_url(self.base_url):
            raise AsanaSourceError(
                f"base_url = {self.base_url!r} is not an http(s) URL (Asana's is {DEFAULT_BASE_URL}, the"
                " simulator's http://127.0.0.1:8765); fix base_url under [sources.asana_dlt] in .dlt/config.toml"
                " or SOURCES__ASANA_DLT__BASE_URL."
            )
        if not self.access_token and self.oauth() is None:
            raise AsanaSourceError(
                f"No Asana access token was found: {TOKEN_HELP}; or set client_id, client_secret and"
                " refresh_token of an OAuth app there (see .dlt/secrets.toml.example)."
            )
        check_delete_mode(self.deletes)
        return self


def is_http_url(value: Any) -> bool:
    """Whether `value` is an http(s) URL with a host, the only kind requests sends to. Checked
    up front: a stray value (a shell's error message put in SOURCES__ASANA_DLT__BASE_URL) failed
    every request with requests' "No connection adapters were found for ..."."""
    if not isinstance(value, str):
        return False
    parts = urlsplit(value.strip())
    return parts.scheme in ("http", "https") and bool(parts.hostname)


@dataclass
class SourceRun:
    """What the resources of one run share: the client, the state, and who decides what."""

    client: AsanaClient
    state: SourceState
    memory: RunMemory
    capture: ChangeCapture
    modes: WorkspaceChanges
    full_loads: FullLoads
    project_tasks: ProjectTasks
    sections: PlannedListings
    catalog: Catalog
    wanted: Optional[Set[str]]
    deletes: str
    stories_from: Optional[str]
    unchanged: Optional[UnchangedTables] = None

    @classmethod
    def create(cls, options: Options, session: Optional[Session] = None) -> "SourceRun":
        """Builds a run's collaborators; nothing is requested until the pipeline runs.

        With a `session` (a long-running caller), its client and rate limiter serve every run,
        so the quota holds across them, and tables listed whole are written only when changed.
        """
        options = options.checked()
        batch_size = min(options.batch_size, options.max_concurrency or options.batch_size)  # a batch's actions are in flight at once

        def new_client() -> AsanaClient:
            limiter = RateLimiter(
                requests_per_minute=options.requests_per_minute, max_concurrency=options.max_concurrency, max_cost=batch_size
            )
            return create_client(options.access_token, options.base_url.rstrip("/"), limiter, options.oauth(), batch_size)

        key = (options.access_token, options.base_url, options.requests_per_minute, options.max_concurrency, batch_size)
        client = session.client(key, new_client) if session is not None else new_client()
        if session is not None:
            session.requests_per_minute = options.requests_per_minute
        state, memory = SourceState(PER_TASK_TABLES), RunMemory()
        unchanged = UnchangedTables(session, MANY_CALL_TABLES, state.selected) if session is not None else None
        stories_from = to_asana_time(options.stories_since) if options.stories_since else None
        first_listing_since = to_asana_time(options.start_date) if options.start_date else None
        sorter = TaskSorter(client, memory, state, stories_from)
        capture = ChangeCapture(
            client, memory, state, ProjectEventsCache(client, state), sorter, Warehouse(options.deletes),
            options.reconcile_every_days,
        )
        modes = WorkspaceChanges(client, state, capture)  # workspace events, search, or per project
        full_loads = FullLoads(
            client, options.full_load, options.export_timeout_minutes * 60, first_listing_since, stories_from,
            capture=capture, modes=modes, requests_per_minute=options.requests_per_minute,
        )
        return cls(
            client=client,
            state=state,
            memory=memory,
            capture=capture,
            modes=modes,
            full_loads=full_loads,
            project_tasks=ProjectTasks(
                client, state, memory, sorter, capture, modes, full_loads, first_listing_since,
                session.targets if session is not None else None,
            ),
            sections=PlannedListings(client, SECTION_FIELDS),  # ten projects' sections per batch
            catalog=Catalog(client, memory, state, unchanged),
            wanted={str(w) for w in options.workspaces} if options.workspaces else None,
            deletes=options.deletes,
            stories_from=stories_from,
            unchanged=unchanged,
        )

    def whole(self, table: str, parts: Dict[str, Rows], parent: bool = False, one_by_one: bool = False,
              together: Optional[Callable[[Dict[str, Any]], bool]] = None) -> Iterator[Any]:
        """A table listed whole in one call, by parent key (`unchanged.whole_pages`)."""
        return whole_pages(self.unchanged, table, parts, parent, one_by_one, together)

    def costs_nothing(self, project: Dict[str, Any]) -> bool:
        """True for a project that a session's run for changed tasks reads nothing of: quiet
        (`plan.idle`) or covered by its workspace's events, with its other tables kept."""
        return not self.lists_whole() and self.project_tasks.costs_nothing(project)

    def part(self, table: str, feed: Feed, key: str, rows: Rows, kept: bool = False) -> Rows:
        """One parent's part of a table listed whole in many calls: the rows to write now."""
        return part_rows(self.unchanged, table, feed, key, rows, kept)

    def done(self, table: str, feed: Feed, page: Any) -> Rows:
        """After a parent's last part (its `Done` page): the rows of the table still to write."""
        return done_rows(self.unchanged, table, feed, page)

    def lists_whole(self) -> bool:
        """False in a session's run made for changed tasks: tables without change events (users,
        teams, tags, the catalog's) stay as last written, until the session's next full run."""
        return self.unchanged is None or self.unchanged.session.full

    def wants_stories(self, task: Dict[str, Any]) -> bool:
        """False for a task modified before `stories_since`, whose stories are not loaded."""
        return self.stories_from is None or (task.get("modified_at") or "") >= self.stories_from

    def projects_listed(self, workspaces: List[Dict[str, Any]], projects: List[Dict[str, Any]]) -> None:
        """The run's complete project listing, before any project's sections or tasks are read."""
        self.capture.projects_listed(workspaces, projects)
        # A project listed for the first time always lists its sections (see `modes.kept_sections`).
        cursors = self.state.previous_cursors()
        self.sections.plan([sections_of(p) for p in projects if p["gid"] not in cursors])
        self.modes.know(workspaces)
        self.full_loads.projects_listed(projects)
        if self.unchanged is not None:
            self.unchanged.session.projects = {p["gid"]: p for p in projects}


def sections_of(project: Dict[str, Any]) -> Listing:
    """The listing of a project's sections."""
    return Listing(f"/projects/{project['gid']}/sections", f"sections of project {named(project)}")
