"""The source's state between runs: the one module that reads and writes it.

dlt keeps each resource's state and commits it with the load that used it, so a killed run
leaves the previous state as it was and the next run reads the same changes again. What the
source keeps, all in the `tasks` resource's state unless said otherwise:

    {"projects": {"<project gid>": {
        "modified_since": "2024-02-22T02:06:58.147Z",  # the listing's cursor
        "sync": "<events token>", "workspace": "<gid>", "reconciled_at": "<when>"}},
     "workspaces": {"<workspace gid>": {"sync": "<token>", "searched_until": "<when>"}}}

Each per-task table (stories, attachments, time tracking entries) keeps, in its own resource's
state, which projects it covers and as of which run (`{"covered": {"<project gid>": "<run>"}}`);
a project's entry says which run last loaded its tasks (`loaded_at`). A table covers a project
when both name the same run: otherwise the table was left out of a run, dropped, or never
selected, and the project's loaded tasks are listed for it once (`gaps`). In its own state, so
that dropping the table (dlt's `refresh="drop_resources"`) drops its coverage too.

One cursor per project, not one per resource: one cursor for all projects is exactly the bug of
the 2023 Asana source (a project first seen after earlier runs was asked only for tasks modified
since the newest task of *other* projects, and its older tasks never loaded). A project with no
entry is listed in full. Append-only catalog listings (the audit log) keep one cursor per parent
in their own resource's state (`{"since": {"<parent gid>": "<newest>"}}`). The export job being
waited for is kept in a file beside the pipeline (`JobFile`), because dlt commits state only with a
finished load.

The previous runs' values are snapshotted once, before this run writes anything, so every
decision of the run sees the same past however its threads interleave.
"""

import os
import threading
from typing import Any, Collection, Dict, Iterable, List, Optional, Set

import dlt
from dlt.common import json

from .timestamps import now

TASKS = "tasks"
JOBS_FILE = "asana_export_jobs.json"


class SourceState:
    """The state of one source run: the previous runs' snapshot, and this run's writes.

    Shared by the run's threads. Writes go to dlt's resource state and commit with the load.
    When the run loads no `tasks` (a selection of only some of its child tables), the `tasks`
    state is left as it was: its cursors and tokens must not move past rows never loaded.

    Args:
        per_task_tables: The resources that list something per task (`stories`, ...).
    """

    def __init__(self, per_task_tables: Collection[str] = ()) -> None:
        self.run = now()  # names this run in `loaded_at` and the coverage of per-task tables
        self.per_task_tables = tuple(per_task_tables)
        self._lock = threading.RLock()
        self._projects: Optional[Dict[str, Dict[str, Any]]] = None
        self._workspaces: Optional[Dict[str, Dict[str, Any]]] = None
        self._cursors: Optional[Dict[str, str]] = None
        self._selected: Optional[Set[str]] = None
        self._coverage: Dict[str, Dict[str, str]] = {}

    def _tasks_state(self, key: str) -> Dict[str, Dict[str, Any]]:
        return dlt.current.resource_state(TASKS).setdefault(key, {})  # type: ignore[no-any-return]

    def _snapshot(self) -> None:
        with self._lock:
            if self._projects is None:
                self._projects = {gid: dict(entry) for gid, entry in self._tasks_state("projects").items()}
                self._workspaces = {gid: dict(entry) for gid, entry in self._tasks_state("workspaces").items()}
                self._cursors = {
                    gid: entry["modified_since"] for gid, entry in self._projects.items() if entry.get("modified_since")
                }

    def selected(self) -> Optional[Set[str]]:
        """The resources this run loads (dlt's selection); None when run outside a pipeline."""
        with self._lock:
            if self._selected is None:
                try:
                    self._selected = set(dlt.current.source().selected_resources)
                except Exception:  # a resource iterated on its own: no selection to honour
                    return None
            return self._selected

    def _writes_tasks(self) -> bool:
        selected = self.selected()
        return selected is None or TASKS in selected

    # ---- the previous runs, as they left the state ---------------------------------------------

    def previous_projects(self) -> Dict[str, Dict[str, Any]]:
        """Each project's entry (cursor, sync token, workspace, last reconciliation)."""
        self._snapshot()
        assert self._projects is not None
        return self._projects

    def previous_project(self, gid: str) -> Dict[str, Any]:
        """One project's entry; empty for a project never loaded."""
        return self.previous_projects().get(gid, {})

    def previous_workspace(self, gid: str) -> Dict[str, Any]:
        """One workspace's entry (its events token, how far search has read)."""
        self._snapshot()
        assert self._workspaces is not None
        return self._workspaces.get(gid, {})

    def previous_cursors(self) -> Dict[str, str]:
        """The `modified_since` cursor per project gid; empty before the first load."""
        self._snapshot()
        assert self._cursors is not None
        return self._cursors

    def first_load(self) -> bool:
        """True when no project was ever listed: the whole account is loaded in full."""
        return not self.previous_cursors()

    def since(self, project_gid: str) -> Optional[str]:
        """The `modified_since` to send for a project, or None to list it in full."""
        return self.previous_cursors().get(project_gid)

    def loaded_until(self, project_gids: Iterable[str]) -> Optional[str]:
        """Up to when a task in these projects is already loaded, with its stories and subtasks.

        A task sitting in a project listed by an earlier run was loaded whole if it has not been
        modified since that project's cursor; the latest such cursor is the one that counts.
        """
        previous = self.previous_cursors()
        cursors = [previous[gid] for gid in project_gids if gid in previous]
        return max(cursors) if cursors else None

    # ---- this run's writes, committed with its load ---------------------------------------------

    def update_project(self, gid: str, **values: Any) -> None:
        """Sets keys of a project's entry for the next run."""
        self._snapshot()
        if not self._writes_tasks():
            return
        with self._lock:
            self._tasks_state("projects").setdefault(gid, {}).update(values)

    def advance(self, gid: str, newest_modified_at: Optional[str]) -> None:
        """Moves a project's cursor once its tasks are in, never backwards."""
        if not newest_modified_at or not self._writes_tasks():
            return
        self._snapshot()
        with self._lock:
            entry = self._tasks_state("projects").setdefault(gid, {})
            if newest_modified_at > (entry.get("modified_since") or ""):
                entry["modified_since"] = newest_modified_at

    def forget(self, gid: str) -> None:
        """Drops the entry of a project that no longer exists."""
        self._snapshot()
        if not self._writes_tasks():
            return
        with self._lock:
            self._tasks_state("projects").pop(gid, None)

    def store_workspace(self, gid: str, **values: Any) -> None:
        """Sets keys of a workspace's entry (empty values are not stored)."""
        self._snapshot()
        if not self._writes_tasks():
            return
        with self._lock:
            self._tasks_state("workspaces").setdefault(gid, {}).update({k: v for k, v in values.items() if v})

    def workspace_sync(self, gid: str) -> Optional[str]:
        """The workspace events token as this run stored it (None before it took one)."""
        self._snapshot()
        with self._lock:
            return self._tasks_state("workspaces").get(gid, {}).get("sync")  # type: ignore[no-any-return]

    def exported(self, gid: str, created_at: str, sync: Optional[str] = None) -> None:
        """A workspace's tasks came from an export that began at `created_at`: the next search
        starts no later than that, and `sync` (the token kept beside a job resumed from a killed
        run) replaces the one this run took after the job had begun."""
        self._snapshot()
        if not self._writes_tasks():
            return
        with self._lock:
            entry = self._tasks_state("workspaces").setdefault(gid, {})
            if sync:
                entry["sync"] = sync
            if entry.get("searched_until", created_at) >= created_at:
                entry["searched_until"] = created_at

    # ---- per-task tables: which projects' loaded tasks each one covers --------------------------

    def gaps(self, project_gid: str) -> List[str]:
        """The per-task tables of this run that lack some of the project's loaded tasks.

        A project never loaded has no gap: its tasks all arrive new. State from before coverage
        was kept (no `loaded_at`) counts a table as complete when the destination has it.
        """
        previous = self.previous_project(project_gid)
        if not previous:
            return []
        loaded_at = previous.get("loaded_at")
        found = []
        for table in self._selected_per_task():
            if loaded_at is None:
                complete = table in _tables_with_data()
            else:
                complete = self._previous_coverage(table).get(project_gid) == loaded_at
            if not complete:
                found.append(table)
        return found

    def covered(self, project_gid: str) -> None:
        """Every per-task table of this run now covers the project's loaded tasks (with the
        backfill of `gaps`, if any): the project and the tables name the same run."""
        if self._writes_tasks():
            marker = self.run
            self.update_project(project_gid, loaded_at=marker)
        else:
            marker = self.previous_project(project_gid).get("loaded_at")
        if not marker:
            return
        for table in self._selected_per_task():
            self._previous_coverage(table)
            with self._lock:
                dlt.current.resource_state(table).setdefault("covered", {})[project_gid] = marker

    def _selected_per_task(self) -> List[str]:
        selected = self.selected()
        return [t for t in self.per_task_tables if selected is not None and t in selected]

    def _previous_coverage(self, table: str) -> Dict[str, str]:
        with self._lock:
            if table not in self._coverage:
                covered = dlt.current.resource_state(table).get("covered") or {}
                self._coverage[table] = dict(covered)
            return self._coverage[table]

    # ---- append-only catalog listings: a cursor per parent, in their own resource's state -------

    def listing_since(self, resource: str, parent_gid: str) -> Optional[str]:
        """Where an append-only listing of one parent resumes; None: from its beginning."""
        with self._lock:
            since = dlt.current.resource_state(resource).setdefault("since", {})
            return since.get(parent_gid)  # type: ignore[no-any-return]

    def listing_read(self, resource: str, parent_gid: str, newest: str) -> None:
        """The newest record read of one parent's append-only listing."""
        if not newest:
            return
        with self._lock:
            dlt.current.resource_state(resource).setdefault("since", {})[parent_gid] = newest


def stored_entries(pipeline_state: Dict[str, Any], source: str = "asana") -> Dict[str, Dict[str, Dict[str, Any]]]:
    """The project and workspace entries the last committed load stored, read from a pipeline's
    state (`pipeline.state`) by a caller between runs: `{"projects": ..., "workspaces": ...}`."""
    tasks = ((pipeline_state.get("sources") or {}).get(source) or {}).get("resources", {}).get(TASKS) or {}
    return {"projects": dict(tasks.get("projects") or {}), "workspaces": dict(tasks.get("workspaces") or {})}


def _tables_with_data() -> Set[str]:
    """The tables the destination holds rows of, as the pipeline's schema knows them."""
    try:
        return set(dlt.current.pipeline().default_schema.data_table_names(seen_data_only=True))
    except Exception:  # no pipeline, or nothing loaded yet
        return set()


class JobFile:
    """The export job being waited for, per workspace, in a file that survives a killed run.

    dlt commits resource state only with a finished load, so after a kill -9 it would not know
    the job it was waiting for, and Asana answers a new request with 403 while that job runs.
    Beside each job gid sit the events sync tokens read before the job was created: the run that
    resumes the job stores those, not the ones it reads itself after the job began, so its next
    run replays every event from before the job's start (a delete the file may still hold).
    Tokens are cursors, not credentials; only the ones the export needs are written: the
    workspace's one in workspace mode, else one per project. Never a token of Asana's API or a link.
    """

    def __init__(self, path: Optional[str]) -> None:
        self.path = path
        self._lock = threading.Lock()

    @classmethod
    def of_current_pipeline(cls) -> "JobFile":
        """The file in the running pipeline's working folder, which dlt keeps across runs."""
        try:
            return cls(os.path.join(dlt.current.pipeline().working_dir, JOBS_FILE))
        except Exception:  # the source runs outside a pipeline: nothing to resume from
            return cls(None)

    def _read(self) -> Dict[str, Dict[str, Any]]:
        if not self.path or not os.path.exists(self.path):
            return {}
        try:
            with open(self.path, "rb") as f:
                data = json.loadb(f.read())
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict):
            return {}
        # A bare job gid is the file of an earlier version: a job without tokens.
        return {str(k): (v if isinstance(v, dict) else {"job": str(v)}) for k, v in data.items()}

    def get(self, workspace_gid: str) -> Optional[str]:
        """The gid of the job an earlier run of this pipeline waited for, if it did not finish."""
        with self._lock:
            job = self._read().get(workspace_gid, {}).get("job")
            return str(job) if job else None

    def tokens(self, workspace_gid: str) -> Dict[str, str]:
        """Sync tokens read before that job: project gid -> token, and `workspace` in workspace mode."""
        with self._lock:
            found = self._read().get(workspace_gid, {}).get("sync")
            return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}

    def put(self, workspace_gid: str, job_gid: Optional[str], tokens: Optional[Dict[str, str]] = None) -> None:
        """Remembers a job as soon as Asana created it (None: forgets it, done or failed)."""
        if not self.path:
            return
        with self._lock:
            jobs = self._read()
            if job_gid:
                jobs[workspace_gid] = {"job": job_gid, **({"sync": tokens} if tokens else {})}
            else:
                jobs.pop(workspace_gid, None)
            with open(self.path, "wb") as f:
                f.write(json.dumpb(jobs))
