"""Which workspaces load (or reconcile) through an export, decided once per workspace and run.

Why the fallbacks: the export needs Enterprise+ (else 402), allows one running export per
workspace (403), and jobs can fail or take too long; with `full_load="auto"` each of those makes
the workspace load through the paged API instead, with one line saying why.
"""

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional, Set, Tuple

from dlt.common import logger

from ..changes import ChangeCapture
from ..errors import AsanaSourceError
from ..events import ProjectEvents
from ..helpers import AsanaClient
from ..plan import FIRST_SEEN, export_pays
from ..state import JobFile
from ..workspace_changes import WorkspaceChanges
from .job import ExportJob, ExportUnavailable, Finished, check_full_load
from .reconcile import Reconciliation
from .rows import rows_of

# Threads reading the sync tokens of a workspace's projects before its export job is created.
EARLY_TOKEN_READERS = 8


def _pages(items: int) -> int:
    return max(1, -(-items // 100))


@dataclass
class Outcome:
    """How one project's tasks arrive in a full load (or a reconciliation) by export.

    `pages` holds the workspace's rows for the first project of the workspace that asked, and
    nothing for the others; `created_at` becomes every project's `modified_since` cursor, so the
    next incremental run starts where the export's snapshot began. A reconciliation's pages also
    carry the plain row lists of `confirm_vanished` (tasks read again, tombstones).
    """

    pages: Iterator[Any]
    created_at: str


class FullLoads:
    """Decides, once per workspace and run, whether its full load goes through an export.

    Why it also reads the projects' events: a delete made after the job started may still be in
    its file, and only the events from before the job's start reveal it to the next run. So every
    project of a workspace has its sync token before the workspace's job is created: a project
    whose `tasks` call has not started yet gets it read early (`ProjectEventsCache.take`), and its
    call then finds it taken. In workspace mode (`workspace_changes.py`) the workspace's one
    token, read before any job, stands for them all: no project reads its own.

    Args:
        client: The run's client.
        mode: `auto` (export, else the paged API), `export` (export or stop) or `api`.
        timeout_s: Longest wait for a job before `auto` falls back.
        modified_after: `start_date`, as the export's `modified_at.after` filter.
        stories_from: `stories_since`: older tasks' stories are left out, as the paged load does.
        capture: The run's change capture (`changes.py`): events, warehouse, tombstones.
        modes: The workspaces' change-capture modes (`workspace_changes.py`).
        requests_per_minute: The run's quota (0: none), which weighs a reconciliation's listing
            against the wait for an export.
    """

    def __init__(
        self,
        client: AsanaClient,
        mode: str,
        timeout_s: float,
        modified_after: Optional[str] = None,
        stories_from: Optional[str] = None,
        capture: Optional[ChangeCapture] = None,
        modes: Optional[WorkspaceChanges] = None,
        requests_per_minute: float = 0,
    ) -> None:
        self.client = client
        self.mode = check_full_load(mode)
        self.timeout_s = timeout_s
        self.filters = {"modified_at.after": modified_after} if modified_after else {}
        self.stories_from = stories_from
        self.capture = capture
        self.modes = modes
        self.requests_per_minute = requests_per_minute or 0
        self._lock = threading.Lock()
        self._workspaces: Dict[str, threading.Lock] = {}
        self._decided: Dict[str, Optional[Tuple[ExportJob, Finished]]] = {}
        self._checks: Dict[str, Optional[Tuple[ExportJob, Finished, Reconciliation]]] = {}
        self._handed_out: Set[str] = set()
        self._jobs: Optional[JobFile] = None
        self._projects: Dict[str, List[Dict[str, Any]]] = {}  # workspace gid -> its listed projects

    def projects_listed(self, projects: List[Dict[str, Any]]) -> None:
        """The run's project listing: the projects whose tokens must precede their workspace's job."""
        with self._lock:
            for project in projects:
                gid = str((project.get("workspace") or {}).get("gid") or "")
                self._projects.setdefault(gid, []).append(project)

    def _workspace_lock(self, gid: str) -> threading.Lock:
        with self._lock:
            if self._jobs is None:
                self._jobs = JobFile.of_current_pipeline()
            return self._workspaces.setdefault(gid, threading.Lock())

    def _covered(self, project: Dict[str, Any]) -> bool:
        """True when the workspace's own events token (workspace mode) stands for the project's."""
        return self.modes is not None and self.modes.workspace_sync(project) is not None

    def begin(self, project: Dict[str, Any], full_load: bool) -> ProjectEvents:
        """The project's events (change capture's `begin`), taken before its workspace's export job."""
        assert self.capture is not None
        events = self.capture.events
        gid = str((project.get("workspace") or {}).get("gid") or "")
        if self.mode == "api" or not gid:
            return events.take(project, lambda: self._read("", project, False))
        lock = self._workspace_lock(gid)
        if full_load and self._covered(project):  # the workspace's token stands for the project's
            return events.take(project, lambda: ProjectEvents(reconcile=FIRST_SEEN))
        with self._lock:
            decided = gid in self._decided or gid in self._checks
        if events.taken(project["gid"]) is not None or decided or not full_load:  # no job waits for this token
            return events.take(project, lambda: self._read(gid, project, full_load))
        with lock:  # the job is created under this lock, never while a token is being read
            return events.take(project, lambda: self._read(gid, project, full_load))

    def _read(self, workspace_gid: str, project: Dict[str, Any], full_load: bool) -> ProjectEvents:
        """One project's events; in a full load resuming a killed run's job, the token kept beside
        it instead (the first token this run would get, a 412's, is newer than the job)."""
        assert self.capture is not None
        stored = self._jobs.tokens(workspace_gid).get(project["gid"]) if full_load and self._jobs else None
        if stored:
            return ProjectEvents(sync=stored, reconcile=FIRST_SEEN)
        return self.capture.begin(project)

    def _tokens(self, workspace_gid: str, projects: List[Dict[str, Any]], per_project: bool) -> Dict[str, str]:
        """The tokens to keep beside the workspace's job: its own in workspace mode, and (unless
        that one stands for them) each project's."""
        tokens: Dict[str, str] = {}
        if projects and self._covered(projects[0]):
            assert self.modes is not None
            tokens["workspace"] = str(self.modes.workspace_sync(projects[0]))
            if not per_project:
                return tokens
        if self.capture is not None:
            taken = {p["gid"]: self.capture.events.taken(p["gid"]) for p in projects}
            tokens.update((gid, str(e.sync)) for gid, e in taken.items() if e is not None and e.sync)
        return tokens

    def _read_early(self, workspace_gid: str, full_load: bool) -> None:
        """Sync tokens of the workspace's projects that have not taken theirs, before its job starts.

        Read a few at a time (the run's rate limiter paces them): a 2,000-project organization
        would otherwise wait for 2,000 round trips one after the other before its job. Projects
        whose workspace events stand in for them this run (workspace mode) read none.
        """
        if self.capture is None:
            return
        events = self.capture.events
        with self._lock:
            todo = [p for p in self._projects.get(workspace_gid, ()) if events.taken(p["gid"]) is None]
        if self.modes is not None:
            todo = [p for p in todo if not self.modes.covers(p) and not (full_load and self._covered(p))]
        if not todo:
            return
        with ThreadPoolExecutor(max_workers=min(EARLY_TOKEN_READERS, len(todo))) as pool:
            if full_load:
                list(pool.map(lambda p: events.take(p, lambda: self._read(workspace_gid, p, True)), todo))
                return
            # A reconciliation reads the warehouse too, which needs dlt's context: this thread.
            list(pool.map(events.read, todo))  # the requests, each read once
        for project in todo:
            events.take(project, lambda: self._read(workspace_gid, project, False))

    def for_project(self, project: Dict[str, Any], full_load: bool) -> Optional[Outcome]:
        """The export outcome for this project's tasks, or None to list them through the API."""
        if self.mode == "api" or not full_load:
            return None
        workspace = project.get("workspace") or {}
        gid = str(workspace.get("gid") or "")
        if not gid:
            return None
        with self._workspace_lock(gid):  # the other projects of the workspace wait for its one job
            if gid not in self._decided:
                self._read_early(gid, full_load=True)
                tokens = self._tokens(gid, self._projects.get(gid, [project]), per_project=False)
                self._decided[gid] = self._run(workspace, tokens)
            decided = self._decided[gid]
            if decided is None:
                return None
            job, finished = decided
            first = gid not in self._handed_out
            self._handed_out.add(gid)
        if first:
            self._exported(gid, finished, self._jobs.tokens(gid) if job.resumed and self._jobs is not None else {})
        pages = rows_of(job.lines(finished), self.stories_from) if first else iter(())
        return Outcome(pages, finished.created_at)

    def _exported(self, gid: str, finished: Finished, stored: Dict[str, str]) -> None:
        """Workspace change capture starts from the export's start (and a resumed job's token)."""
        if self.modes is not None:
            self.modes.exported(gid, finished.created_at, stored.get("workspace"))

    def reconciliation(self, project: Dict[str, Any], events: ProjectEvents) -> Optional[Outcome]:
        """An export standing in for this project's paged reconciliation, or None to list it.

        Decided once per workspace, when its first project due for reconciliation asks: the
        other projects' events are taken first (as for a full load), and the export is used only
        when `plan.export_pays` for the due projects' paged reconciliation (⌈tasks/100⌉ per project
        plus a listing per loaded task with subtasks).
        """
        if self.mode == "api" or self.capture is None or events.known is None:
            return None
        workspace = project.get("workspace") or {}
        gid = str(workspace.get("gid") or "")
        if not gid:
            return None
        with self._workspace_lock(gid):
            if gid not in self._checks:
                self._checks[gid] = self._plan_check(workspace, gid)
            check = self._checks[gid]
            if check is None or project["gid"] not in check[2].due:
                return None
            job, finished, plan = check
            first = gid not in self._handed_out
            self._handed_out.add(gid)
        pages = plan.rows(job.lines(finished), self.stories_from) if first else iter(())
        return Outcome(pages, finished.created_at)

    def _plan_check(self, workspace: Dict[str, Any], gid: str) -> Optional[Tuple[ExportJob, Finished, Reconciliation]]:
        assert self.capture is not None and self._jobs is not None
        self._read_early(gid, full_load=False)
        with self._lock:
            projects = list(self._projects.get(gid, ()))
        taken = {p["gid"]: self.capture.events.taken(p["gid"]) for p in projects}
        due = {gid_: events for gid_, events in taken.items() if events is not None and events.known is not None}
        known: Dict[str, str] = {}
        for events in due.values():
            known.update(events.known or {})
        parents: Dict[str, str] = {}
        known.update(self.capture.warehouse.descendants(list(known), parents))
        paged = sum(_pages(len(events.known or {})) for events in due.values()) + len(set(parents.values()))
        size = self.capture.warehouse.workspace_tasks(gid) if due else 0
        if not export_pays(paged, size, self.requests_per_minute):
            return None
        logger.info(
            f"Reconciling {len(due)} project(s) of workspace {workspace.get('name')!r} ({gid}) by one export"
            f" instead of at least {paged} listing requests."
        )
        stored = self._jobs.tokens(gid)
        decided = self._run(dict(workspace, gid=gid), self._tokens(gid, projects, per_project=True), reconciling=True)
        if decided is None:
            return None
        job, finished = decided
        if job.resumed:  # a killed run's job: replay the events from before it began
            for project_gid, events in due.items():
                if stored.get(project_gid):
                    events.sync = stored[project_gid]
        self._exported(gid, finished, stored if job.resumed else {})
        return job, finished, Reconciliation(set(due), known, parents, self.capture, self.stories_from)

    def _run(
        self, workspace: Dict[str, Any], tokens: Dict[str, str], reconciling: bool = False
    ) -> Optional[Tuple[ExportJob, Finished]]:
        """Waits for the workspace's job; None falls back to the paged API, with one line saying why.

        A reconciliation's fallback is the run's ordinary path (listing), so its line is
        informational. Both filter by `start_date` only, as the paged listings do.
        """
        assert self._jobs is not None
        job = ExportJob(self.client, workspace, self._jobs, self.timeout_s, self.filters, tokens)
        try:
            return job, job.wait()
        except ExportUnavailable as exc:
            what = "Reconciliation" if reconciling else "Full load"
            if self.mode == "export":
                raise AsanaSourceError(
                    f"Could not load workspace {job.name} by export: {exc}; set full_load = \"auto\" (or"
                    " --full-load auto) to fall back to the paged API."
                ) from None
            say = logger.info if reconciling else logger.warning
            say(f"{what} of workspace {job.name} through the paged API: {exc}.")
            return None
