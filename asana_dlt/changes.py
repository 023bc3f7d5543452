"""Change capture: Asana's events, deletes, and the reconciliation that replaces lost events.

A project's `modified_since` listing shows its top-level tasks only, and never what was deleted.
Asana's events (`GET /events?resource=<project>&sync=<token>`) show the rest: they bubble up from
tasks, subtasks and stories to the projects of the top-level task, so one request per project
reveals changed and new subtasks at any depth, stories added or deleted, tasks deleted, moved
between sections or added to and removed from projects. Each object an event names is read again
with the same fields as the listings; each deleted one becomes a tombstone row (`is_deleted`),
which dlt's `hard_delete` hint turns into a delete of the row and its child-table rows, or which
`deletes="soft"` keeps as the row's last known values, marked.

The sync token sits in the project's entry of the `tasks` resource state and advances only with
the load, so a killed run reads the same events again. Without a usable token (a project seen
for the first time, an expired token after about a day without runs, state from before events,
or the periodic check) the project is reconciled: listed in full with its subtask trees and
compared with what the warehouse holds, never reloading stories of unchanged tasks.
"""

import threading
from dataclasses import replace
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Set, Tuple

import pendulum
from dlt.common import logger

from .errors import AsanaSourceError, SkipObject, named
from .events import ProjectEvents, ProjectEventsCache
from .helpers import AsanaClient
from .memory import RunMemory
from .plan import FIRST_SEEN, reconcile_reason
from .settings import SINGLE_OBJECT_FIELDS, TASK_FIELDS
from .state import SourceState
from .subtasks import TaskSorter
from .timestamps import to_asana_time
from .warehouse import Warehouse

DELETE_MODES = ("hard", "soft")


def check_delete_mode(mode: str) -> str:
    """Fails at source creation, before any request, on a mode that does not exist."""
    if mode not in DELETE_MODES:
        raise AsanaSourceError(
            f"deletes = {mode!r} is not a delete mode; set deletes to \"hard\" (remove deleted tasks and stories)"
            " or \"soft\" (keep them, marked is_deleted) under [sources.asana_dlt] in .dlt/config.toml."
        )
    return mode


def mark_live(item: Any) -> Any:
    """Every row read from Asana exists: `is_deleted` false, so `WHERE NOT is_deleted` keeps it."""
    for row in item if isinstance(item, list) else [item]:
        if isinstance(row, dict):
            row.setdefault("is_deleted", False)
    return item


def read_task(client: AsanaClient, gid: str) -> Optional[Dict[str, Any]]:
    """One task with the listings' fields; None if Asana no longer has it (404), `{}` when the
    token may not see it (403, 402): then it is left as loaded, with a warning."""
    try:
        response = client.call(f"/tasks/{gid}", params={"opt_fields": ",".join(TASK_FIELDS)})
    except SkipObject as exc:
        if exc.status == 404:
            return None
        logger.warning(f"Skipping task {gid}, named by Asana's events: Asana said {exc.status}: {exc.message}.")
        return {}
    return client.extract_response(response, "data")[0]


def project_deleted(client: AsanaClient, gid: str) -> bool:
    """True only on Asana's 404: a project merely out of reach (403) keeps its tasks."""
    try:
        client.call(f"/projects/{gid}", params={"opt_fields": ",".join(SINGLE_OBJECT_FIELDS["/projects/{project_gid}"])})
    except SkipObject as exc:
        return exc.status == 404
    return False


class ChangeCapture:
    """Events, deletes and reconciliation for one run of the source, shared by its threads.

    Args:
        client: The run's Asana client.
        memory: What this run already took.
        state: The source's state (cursors, sync tokens, last reconciliations).
        events: Each project's events, read once per run.
        sorter: Decides which tasks are changed and walks subtask trees.
        warehouse: What earlier runs loaded.
        reconcile_every_days: Reconcile a project at least this often, in case Asana lost an
            event (it delivers them at most once); 0 never does.
    """

    def __init__(
        self,
        client: AsanaClient,
        memory: RunMemory,
        state: SourceState,
        events: ProjectEventsCache,
        sorter: TaskSorter,
        warehouse: Warehouse,
        reconcile_every_days: int,
    ) -> None:
        self.client, self.memory, self.state, self.events, self.sorter = client, memory, state, events, sorter
        self.warehouse = warehouse
        self.mode = warehouse.mode
        self.reconcile_every_days = reconcile_every_days
        self._lock = threading.Lock()
        self._listed: Optional[Dict[str, Set[str]]] = None  # workspace gid -> project gids listed
        self._expected = 0
        self._done = 0
        self._swept = False
        self._reasons: Dict[str, List[str]] = {}
        self._story_tombstones: Dict[str, Set[str]] = {}
        self._story_checks: Set[str] = set()
        self._now = to_asana_time(pendulum.now("UTC"))

    # ---- bookkeeping -----------------------------------------------------------------------

    def projects_listed(self, workspaces: Iterable[Dict[str, Any]], projects: List[Dict[str, Any]]) -> None:
        """The complete project listing of this run's workspaces, before any project's tasks run."""
        listed: Dict[str, Set[str]] = {w["gid"]: set() for w in workspaces}
        for project in projects:
            listed.setdefault((project.get("workspace") or {}).get("gid", ""), set()).add(project["gid"])
        with self._lock:
            self._listed = listed
            self._expected = len(projects)

    def workspace_of(self, project_gid: str) -> str:
        """The workspace whose listing had this project (for a project record without `workspace`)."""
        with self._lock:
            return next((ws for ws, gids in (self._listed or {}).items() if project_gid in gids), "")

    def _finished(self, project: Dict[str, Any], reason: Optional[str]) -> None:
        """Counts finished projects; the last one logs the run's one reconciliation line."""
        with self._lock:
            if reason:
                self._reasons.setdefault(reason, []).append(named(project))
            self._done += 1
            if self._done != self._expected or not self._reasons:
                return
            parts = [f"{len(names)} because {why}: {', '.join(names[:10])}{' ...' if len(names) > 10 else ''}"
                     for why, names in sorted(self._reasons.items())]
        log = logger.info if set(self._reasons) == {FIRST_SEEN} else logger.warning
        log(f"Reconciled {sum(len(n) for n in self._reasons.values())} project(s) with Asana: " + "; ".join(parts))

    def tombstones(self, table: str, gids: Iterable[str]) -> List[Dict[str, Any]]:
        """Rows that delete (hard) or mark (soft) these gids at the load."""
        gids = sorted(set(gids))
        if self.mode == "hard":
            return [{"gid": gid, "is_deleted": True} for gid in gids]
        rows = self.warehouse.last_known(table, gids)
        for row in rows:
            row["is_deleted"] = True
            row.setdefault("deleted_at", self._now)
        return rows

    def _deleted_tasks(self, gids: Set[str]) -> List[Dict[str, Any]]:
        """Tombstones for deleted tasks and every subtask the warehouse holds below them."""
        gids = set(gids) | set(self.warehouse.descendants(gids))
        for gid in gids:
            self.memory.deleted(gid)  # never read again this run
        return self.tombstones("tasks", gids)

    def check_stories(self, task_gids: Iterable[str]) -> None:
        """These tasks' stories are listed again and compared with the warehouse's: events that
        would have named deleted stories were out of reach (expired token, deleted project)."""
        with self._lock:
            for gid in task_gids:
                self._story_checks.add(gid)
                self.memory.claim_stories(gid)

    def _verify(self, gids: Iterable[str], inherited: Optional[str], whole: bool = False) -> Iterator[List[Any]]:
        """Reads tasks again that Asana may have deleted; the ones it still has are updated.

        With `whole`, a survivor's stories and subtask tree are checked too: its events may have
        been only in the stream of a project that is gone.
        """
        gone: Set[str] = set()
        for gid in sorted(gids):
            if self.memory.taken(gid):
                continue
            task = read_task(self.client, gid)
            if task is None:
                gone.add(gid)
                continue
            if not task:
                continue
            if whole:
                self.check_stories([gid])
            fresh, _ = self.sorter.sort([task], inherited)
            if fresh:
                yield fresh
            if whole and task.get("num_subtasks"):
                yield self.subtrees([(task, inherited)], whole=True)
        if gone:
            yield self._deleted_tasks(gone)

    def confirm_vanished(self, gids: Iterable[str]) -> Iterator[List[Any]]:
        """Reads once each task a reconciliation by export did not find (`export.py`): Asana's 404
        deletes it with its subtrees, anything else updates it (moved out, or newer than the file)."""
        yield from self._verify(gids, None)

    # ---- per run and per project -------------------------------------------------------------

    def sweep_gone_projects(self) -> Iterator[List[Dict[str, Any]]]:
        """Once per run: the tasks of projects deleted since the last run (whose events are gone too)."""
        with self._lock:
            if self._swept or self._listed is None:
                return
            self._swept = True
            listed = self._listed
        for gid, entry in sorted(self.state.previous_projects().items()):
            workspace = entry.get("workspace")
            if workspace not in listed or gid in listed[workspace] or not project_deleted(self.client, gid):
                continue
            known = set(self.warehouse.project_tasks(gid))
            logger.info(f"Project {gid} was deleted in Asana: checking the {len(known)} task(s) loaded from it.")
            yield from self._verify(known, entry.get("modified_since"), whole=True)
            self.state.forget(gid)

    def begin(self, project: Dict[str, Any]) -> ProjectEvents:
        """The project's events as this run takes them: read once, with why it must be
        reconciled instead (`plan.reconcile_reason`) and, then, what the warehouse holds of it."""
        previous = self.state.previous_project(project["gid"])
        read = self.events.read(project)
        if read is None:  # out of reach: its listing is skipped too, its token kept
            return ProjectEvents(sync=previous.get("sync"))
        events = replace(read)
        events.reconcile = reconcile_reason(previous, read.reconcile, None, self.reconcile_every_days)
        if events.reconcile == FIRST_SEEN:
            return events
        if events.reconcile:
            events.known = self.warehouse.project_tasks(project["gid"])
        for gid in events.story_tasks:  # before the listing, whose pages then carry the claim
            self.memory.claim_stories(gid)
        return events

    def apply(
        self, project: Optional[Dict[str, Any]], events: ProjectEvents, listed: Set[str], cursor: Optional[str] = None
    ) -> Iterator[List[Any]]:
        """After the project's listing: what only the events (or the reconciliation) reveal.

        Args:
            project: The project; None for a whole workspace's events (`workspace_changes.py`).
            events: What `begin` (or the workspace's events) found.
            listed: Gids of the tasks the listing (or the search) returned.
            cursor: Up to when the tasks were loaded, when `project` is None.
        """
        if project is not None:
            cursor = self.state.since(project["gid"])
        if events.known is not None:
            yield from self._verify(set(events.known) - listed, None)
        if events.deleted:
            yield self._deleted_tasks(events.deleted)
        for task_gid, story_gids in events.deleted_stories.items():
            with self._lock:
                self._story_tombstones.setdefault(task_gid, set()).update(story_gids)
        # A task whose stories were deleted goes through the `stories` transformer again, which
        # is where the story tombstones are emitted; so does one whose stories changed but that
        # another project's listing may have passed on before this project's events were read.
        again = {gid for gid in events.deleted_stories if gid not in events.deleted}
        again |= {gid for gid in events.story_tasks - events.deleted if gid not in listed and self.memory.taken(gid)}
        for gid in sorted((events.tasks - events.deleted) | again):
            if self.memory.taken(gid) and gid not in again:
                continue
            task = read_task(self.client, gid)
            if task is None:
                yield self._deleted_tasks({gid})
                continue
            if not task:
                continue
            fresh, _ = self.sorter.sort([task], cursor)
            yield fresh or [task]

    def finish(self, project: Dict[str, Any], events: ProjectEvents) -> None:
        """Stores the token and workspace for the next run; commits with this run's load."""
        values: Dict[str, Any] = {"workspace": (project.get("workspace") or {}).get("gid")}
        if events.sync:
            values["sync"] = events.sync
        if events.reconcile or not self.state.previous_project(project["gid"]).get("reconciled_at"):
            values["reconciled_at"] = self._now
        self.state.update_project(project["gid"], **values)
        self._finished(project, events.reconcile)

    def finished(self, project: Dict[str, Any]) -> None:
        """A project left as loaded this run (`plan.IDLE`) counts as finished, with nothing stored."""
        self._finished(project, None)

    def subtrees(self, roots: Sequence[Tuple[Dict[str, Any], Optional[str]]], whole: bool) -> List[Dict[str, Any]]:
        """The subtasks of these tasks not taken yet; when reconciling, also the removal of vanished ones.

        Args:
            roots: Tasks with subtasks, each with the cursor up to which it was loaded.
            whole: A reconciliation: every subtree is walked and compared with the warehouse.
        """
        if not whole:
            return self.sorter.trees(roots)
        listed: Set[str] = set()
        known_each = [self.warehouse.descendants([task["gid"]]) for task, _ in roots]
        known = {gid: modified for each in known_each for gid, modified in each.items()}
        collected = self.sorter.trees(roots, whole=True, listed=listed, known=known)
        for (_, loaded_until), each in zip(roots, known_each):  # listed anywhere in the group: it exists
            for page in self._verify(set(each) - listed, loaded_until):
                collected.extend(page)
        return collected

    # ---- stories ----------------------------------------------------------------------------

    def vanished_stories(self, task_gid: str, listed: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
        """Tombstones for the loaded stories of a checked task that Asana no longer lists."""
        with self._lock:
            if task_gid not in self._story_checks:
                return []
            self._story_checks.discard(task_gid)
        gone = self.warehouse.stories_of([task_gid]) - {story["gid"] for story in listed}
        return self.tombstones("stories", gone) if gone else []

    def stories_gone(self, task_gids: Sequence[str], listed: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
        """Tombstones for the loaded stories of these tasks that Asana no longer lists (a
        backfill of a table that was left out while stories were deleted)."""
        gone = self.warehouse.stories_of(task_gids) - {story["gid"] for story in listed}
        return self.tombstones("stories", gone) if gone else []

    def story_removals(self, task_page: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
        """Story tombstones for a page of tasks: all stories of deleted tasks, deleted stories of others."""
        deleted = [t["gid"] for t in task_page if t.get("is_deleted")]
        gids = self.warehouse.stories_of(deleted) if deleted else set()
        with self._lock:
            for task in task_page:
                gids.update(self._story_tombstones.pop(task["gid"], ()))
        return self.tombstones("stories", gids) if gids else []
