"""Which change capture each workspace runs in, and the workspace-level one.

Per-project events (`changes.py`) cost a request per project every run, and polling adds a task
and a sections listing per project: 2,000 to 6,000 requests for a big organization to learn that
almost nothing changed. Asana has two workspace-wide alternatives, both on paid plans only:
`GET /workspaces/{gid}/events` (every event of the workspace, 1,000 a call) and task search
(`GET /workspaces/{gid}/tasks/search`, 100 tasks a call, its own 60/min limit, no offsets). What
Asana answers decides each workspace's mode, said in one log line per workspace:

- `workspace`: workspace events and search answer. An idle run costs one events and one search
  request per workspace. Search returns the changed tasks (subtasks too) whole, 100 a request,
  paged by moving `modified_at.after`; the events name what search cannot show (deletes of
  tasks, subtasks and stories, moves that leave `modified_at` alone, changed sections), handled
  by the same code as per-project events. Sections are listed again only for projects whose
  sections or project changed.
- `project-events`: search answers (a paid workspace) but workspace events do not (402/403).
  One events request per project and no listing: the workspace's one search per run returns the
  changed tasks whole (and catches a change whose event Asana lost: it delivers events at most
  once, the job polling did), the events name the rest (deletes, moves, deleted stories).
  Sections are listed only where the events show a section or project change.
- `polling`: search answers 402/403 (a free workspace): every project is listed every run, beside
  its events, as before.

Every mode keeps the guarantees of `changes.py`: a project seen for the first time, one whose
token expired, or whose weekly check is due is reconciled by the per-project path; deleted
projects are swept from the project listing. A workspace whose own token is new or expired runs
this one time on the per-project path, whose tokens and cursors are still valid or reconcile.
"""

import threading
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Set, Tuple

import pendulum
from dlt.common import logger
from dlt.sources.helpers.rest_client.paginators import BasePaginator
from requests import Request, Response

from .changes import ChangeCapture
from .errors import SkipObject
from .events import ProjectEvents, read_stream
from .helpers import AsanaClient
from .references import flat_by_gid
from .plan import POLLING, PROJECT_EVENTS, WORKSPACE, Facts, covered
from .settings import SEARCH_PARAMS, TASK_FIELDS
from .state import SourceState
from .timestamps import to_asana_time

SEARCH_CAP = 100  # results per search call; Asana declares no `limit` or offset for it
_WHY = {402: "not on this workspace's plan", 403: "not allowed for this token", 404: "not served here"}
_REFUSED = (402, 403, 404)  # 404: an Asana (or proxy) without the endpoint


class ModifiedAtPaginator(BasePaginator):
    """Pages task search, which has no offsets: the next page asks for tasks modified after the
    last one of this page, minus a millisecond so that tasks sharing it are not skipped (the
    caller drops the repeats). It stops at a short page, or at a full page with nothing new."""

    def __init__(self, after: str) -> None:
        super().__init__()
        self.after = after
        self.seen: Set[str] = set()
        self.exhausted = True  # False when it stopped on a full page of repeats: more may follow

    def init_request(self, request: Request) -> None:
        request.params[SEARCH_PARAMS[0]] = self.after

    def update_state(self, response: Response, data: Optional[List[Any]] = None) -> None:
        page = data or []
        new = [task["gid"] for task in page if task["gid"] not in self.seen]
        self.seen.update(new)
        if len(page) < SEARCH_CAP or not new:
            self.exhausted = len(page) < SEARCH_CAP
            self._has_next_page = False
            return
        last = pendulum.parse(page[-1]["modified_at"]).subtract(microseconds=1000)
        self.after = to_asana_time(last)

    def update_request(self, request: Request) -> None:
        request.params[SEARCH_PARAMS[0]] = self.after


@dataclass
class WorkspaceCapture:
    """How one workspace's changes are captured in this run, decided once from Asana's answers."""

    gid: str
    mode: str
    events: Optional[ProjectEvents] = None  # the workspace's events; None: per-project path this run
    hits: List[Dict[str, Any]] = field(default_factory=list)  # tasks search found changed
    searched: Optional[str] = None  # the search's `modified_at.after` of this run
    yielded: bool = False


class WorkspaceChanges:
    """Decides each workspace's mode, reads its workspace-level changes once.

    Args:
        client: The run's Asana client.
        state: The source's state (the workspace's events token, how far search has read).
        capture: The per-project change capture, whose deletes and reads are reused.
    """

    def __init__(self, client: AsanaClient, state: SourceState, capture: ChangeCapture) -> None:
        self.client, self.state, self.capture = client, state, capture
        self._lock = threading.Lock()
        self._captures: Dict[str, WorkspaceCapture] = {}
        self._locks: Dict[str, threading.Lock] = {}
        self._names: Dict[str, str] = {}
        self._sections: Optional[Dict[str, List[Dict[str, Any]]]] = None

    # ---- the mode of each workspace ------------------------------------------------------

    def know(self, workspaces: List[Dict[str, Any]]) -> None:
        """Names for the log line, from the `workspaces` resource."""
        with self._lock:
            self._names.update({w["gid"]: f"{w.get('name')!r} ({w['gid']})" for w in workspaces})

    def of(self, project: Dict[str, Any]) -> WorkspaceCapture:
        """The capture of the project's workspace, decided by whoever asks first."""
        gid = (project.get("workspace") or {}).get("gid") or self.capture.workspace_of(project["gid"])
        with self._lock:
            lock = self._locks.setdefault(gid, threading.Lock())
        with lock:
            if gid not in self._captures:
                self._captures[gid] = self._decide(gid)
            return self._captures[gid]

    def _decide(self, gid: str) -> WorkspaceCapture:
        if not gid:  # a project record without its workspace: nothing workspace-wide to ask
            return WorkspaceCapture(gid, POLLING)
        previous = self.state.previous_workspace(gid)
        name = self._names.get(gid, gid)
        search_status, hits, searched = self._search(gid, previous.get("searched_until"))
        if search_status in _REFUSED:
            why = f"search answered {search_status} ({_WHY.get(search_status)})"
            logger.warning(f"Workspace {name}: change capture by polling every project (events plus a task and a sections listing per project): {why}.")
            return WorkspaceCapture(gid, POLLING)
        events_status, events = self._workspace_events(gid, previous.get("sync"))
        if events_status in _REFUSED:
            why = f"workspace events answered {events_status} ({_WHY.get(events_status)})"
            logger.warning(
                f"Workspace {name}: change capture by per-project events (one request per project; tasks and"
                f" sections listed only where events show a change, one search per run for lost events): {why}."
            )
            return WorkspaceCapture(gid, PROJECT_EVENTS, hits=hits, searched=searched)
        if events is None:
            logger.warning(
                f"Workspace {name}: change capture by workspace events and search; this run takes the first"
                " workspace sync token (none stored, or it expired), so its projects are checked one by one once"
                " (or, in a full load, loaded by export)."
            )
            return WorkspaceCapture(gid, WORKSPACE, hits=hits, searched=searched)
        logger.warning(
            f"Workspace {name}: change capture by workspace events and search ({events.seen} event(s),"
            f" {len(hits)} changed task(s) found): no request per project."
        )
        return WorkspaceCapture(gid, WORKSPACE, events=events, hits=hits, searched=searched)

    def _workspace_events(self, gid: str, sync: Optional[str]) -> Tuple[Optional[int], Optional[ProjectEvents]]:
        """(status, events): 402/403 when the plan or token lacks them; None events after a 412."""
        status, events = read_stream(self.client, f"/workspaces/{gid}/events", {}, sync, f"GET /workspaces/{gid}/events")
        if events is None:
            return status, None
        self.state.store_workspace(gid, sync=events.sync)
        return status, events if status == 200 else None

    def _search(self, gid: str, after: Optional[str]) -> Tuple[Optional[int], List[Dict[str, Any]], Optional[str]]:
        """(status, tasks modified after `after`, the `after` used). Without a stored point, the
        newest task's `modified_at` (Asana's clock, not ours) becomes it, for the next run."""
        path = f"/workspaces/{gid}/tasks/search"
        sort_by, ascending = SEARCH_PARAMS[1], SEARCH_PARAMS[2]
        if after is None:
            try:
                response = self.client.call(path, params={sort_by: "modified_at", ascending: "false", "opt_fields": "modified_at"})
            except SkipObject as exc:
                return exc.status, [], None
            newest = max((t.get("modified_at") or "" for t in self.client.extract_response(response, "data")), default="")
            self.state.store_workspace(gid, searched_until=newest or None)
            return 200, [], None
        paginator = ModifiedAtPaginator(after)
        params = {sort_by: "modified_at", ascending: "true", "opt_fields": ",".join(TASK_FIELDS)}
        hits: Dict[str, Dict[str, Any]] = {}
        try:
            for page in self.client.paginate(path, params=params, paginator=paginator):
                hits.update((task["gid"], task) for task in page)
        except SkipObject as exc:
            return exc.status, [], None
        newest = max([after, *(t.get("modified_at") or "" for t in hits.values())])
        self.state.store_workspace(gid, searched_until=newest)
        return 200, list(hits.values()), after

    # ---- per project ---------------------------------------------------------------------------

    def facts(self, project: Dict[str, Any], exports: bool = False) -> Facts:
        """What the plan of a project depends on (`plan.Facts`), its workspace's mode included."""
        ws = self.of(project)
        return Facts(
            previous=self.state.previous_project(project["gid"]),
            mode=ws.mode,
            workspace=ws.gid,
            workspace_events=ws.events is not None,
            searched=ws.searched is not None,
            first_load=self.state.first_load(),
            exports=exports,
            reconcile_every_days=self.capture.reconcile_every_days,
        )

    def covers(self, project: Dict[str, Any]) -> bool:
        """True when the workspace's events stand in for the project's (`plan.covered`)."""
        return covered(self.facts(project))

    def found(self, project: Dict[str, Any]) -> Set[str]:
        """Gids of the tasks this run's search returned in the project's workspace."""
        return {task["gid"] for task in self.of(project).hits}

    def changes(self, project: Dict[str, Any]) -> Iterator[List[Any]]:
        """Once per workspace and run: what search found and what the workspace's events name."""
        ws = self.of(project)
        with self._lock:
            if ws.yielded:
                return
            ws.yielded = True
            # Sorted (taken) before any other project's events are applied, so none reads them again.
            fresh, _ = self.capture.sorter.sort(ws.hits, ws.searched) if ws.hits else ([], [])
        if fresh:
            yield fresh
        if ws.events is not None:
            events = ws.events
            for gid in events.story_tasks:
                self.capture.memory.claim_stories(gid)
            yield from self.capture.apply(None, events, {t["gid"] for t in ws.hits}, ws.searched)

    # ---- full loads by export (`export/`) -------------------------------------------------------

    def workspace_sync(self, project: Dict[str, Any]) -> Optional[str]:
        """The workspace events token this run took, when the project's workspace runs in workspace
        mode: read before any export job, it stands for every project's token there."""
        ws = self.of(project)
        return self.state.workspace_sync(ws.gid) if ws.mode == WORKSPACE else None

    def exported(self, gid: str, created_at: str, sync: Optional[str] = None) -> None:
        """A workspace's tasks came from an export that began at `created_at` (`SourceState.exported`)."""
        self.state.exported(gid, created_at, sync)

    # ---- sections ------------------------------------------------------------------------------

    def kept_sections(self, project: Dict[str, Any], idle: bool = False) -> Optional[List[Dict[str, Any]]]:
        """The project's sections as loaded, when no event says they changed; None: list them.

        `idle`: the run leaves the project as loaded (`plan.idle`): its sections are kept without
        reading its events, which a later run that reads the project takes."""
        ws = self.of(project)
        entry = self.state.previous_project(project["gid"])
        if not entry.get("modified_since") or (ws.mode == POLLING and not idle):
            return None
        rows = self._loaded_sections().get(project["gid"])
        if idle:
            return rows or None
        if ws.mode == WORKSPACE:
            if ws.events is None or project["gid"] in ws.events.sections:
                return None
            if {row["gid"] for row in rows or ()} & ws.events.changed_sections:  # one of its sections renamed
                return None
        else:
            events = self.capture.events.take(project, lambda: self.capture.begin(project))
            if events.reconcile or project["gid"] in events.sections:
                return None
        return rows or None  # none loaded (sections were not selected before): list them

    def _loaded_sections(self) -> Dict[str, List[Dict[str, Any]]]:
        with self._lock:
            if self._sections is None:
                self._sections = {}
                for row in self.capture.warehouse.table_rows("sections"):
                    self._sections.setdefault(str(row.get("project__gid")), []).append(flat_by_gid(row, ["project"]))
            return self._sections
