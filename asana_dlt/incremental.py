"""Per-project incremental loading of tasks, and what one run remembers about them.

dlt's `incremental` keeps one cursor per resource. One cursor for all projects is exactly the
bug of the 2023 Asana source: a project first seen after earlier runs would only be asked for
tasks modified since the newest task of *other* projects, and its older tasks would never load.
So the `modified_since` cursor is kept per project in the `tasks` resource state:

    {"projects": {"<project gid>": {"modified_since": "2024-02-22T02:06:58.147Z"}}}

A project with no entry is listed in full. Beside the cursor, `changes.py` keeps the project's
events `sync` token, its workspace and when it was last reconciled, all in the same entry, so all
of them commit with the load that used them.
"""

import threading
from typing import Any, Dict, Iterable, Optional

import dlt
import pendulum


def to_asana_time(value: Any) -> str:
    """Formats a date or timestamp as Asana does (`2024-02-22T02:06:58.147Z`), in UTC.

    Asana's timestamps all share this shape, so they compare correctly as strings.
    """
    moment = value if isinstance(value, pendulum.DateTime) else pendulum.parse(str(value))
    moment = moment.in_timezone("UTC")
    return moment.format("YYYY-MM-DDTHH:mm:ss.SSS") + "Z"


class ProjectCursors:
    """The `modified_since` cursor of each project, read once and advanced per project.

    The previous run's cursors are snapshotted on first use, before any project of this run
    finished, so deciding whether a task changed never sees a cursor this run has moved.
    """

    def __init__(self, resource_name: str = "tasks") -> None:
        self._resource_name = resource_name
        self._lock = threading.Lock()
        self._previous: Optional[Dict[str, str]] = None
        self._entries: Optional[Dict[str, Dict[str, Any]]] = None

    def _projects_state(self) -> Dict[str, Dict[str, Any]]:
        return dlt.current.resource_state(self._resource_name).setdefault("projects", {})  # type: ignore[no-any-return]

    def previous_entries(self) -> Dict[str, Dict[str, Any]]:
        """Each project's whole entry (cursor, sync token, ...) as the previous runs left it."""
        with self._lock:
            if self._entries is None:
                self._entries = {gid: dict(entry) for gid, entry in self._projects_state().items()}
            return self._entries

    def previous(self) -> Dict[str, str]:
        """Cursor per project gid as the previous runs left them."""
        entries = self.previous_entries()
        with self._lock:
            if self._previous is None:
                self._previous = {
                    gid: entry["modified_since"] for gid, entry in entries.items() if entry.get("modified_since")
                }
            return self._previous

    def update(self, project_gid: str, **values: Any) -> None:
        """Sets keys of a project's entry for the next run; state commits with the load."""
        with self._lock:
            self._projects_state().setdefault(project_gid, {}).update(values)

    def forget(self, project_gid: str) -> None:
        """Drops the entry of a project that no longer exists."""
        with self._lock:
            self._projects_state().pop(project_gid, None)

    def since(self, project_gid: str) -> Optional[str]:
        """The `modified_since` to send for a project, or None to list it in full."""
        return self.previous().get(project_gid)

    def loaded_until(self, project_gids: Iterable[str]) -> Optional[str]:
        """Up to when a task in these projects is already loaded, with its stories and subtasks.

        A task sitting in a project listed by an earlier run was loaded whole if it has not been
        modified since that project's cursor; the latest such cursor is the one that counts.
        """
        previous = self.previous()
        cursors = [previous[gid] for gid in project_gids if gid in previous]
        return max(cursors) if cursors else None

    def advance(self, project_gid: str, newest_modified_at: Optional[str]) -> None:
        """Moves a project's cursor once its listing finished; state commits with the load."""
        if not newest_modified_at:
            return
        with self._lock:
            entry = self._projects_state().setdefault(project_gid, {})
            if newest_modified_at > (entry.get("modified_since") or ""):
                entry["modified_since"] = newest_modified_at


class RunMemory:
    """What one run has already taken, so nothing is loaded or fetched twice.

    A task that sits in two projects is listed twice; it becomes one row, and its stories and
    subtasks are fetched once. Shared by the run's threads, hence the lock.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tasks: Dict[str, str] = {}
        self._story_claims: set = set()
        self._trees: set = set()
        self._users: set = set()

    def first_sighting(self, task: Dict[str, Any]) -> bool:
        """True if this run has not yielded this task yet (or only an older version of it)."""
        gid, modified_at = task["gid"], task.get("modified_at") or ""
        with self._lock:
            known = self._tasks.get(gid)
            if known is not None and known >= modified_at:
                return False
            self._tasks[gid] = modified_at
            return True

    def claim_stories(self, task_gid: str) -> None:
        """Marks a task whose stories this run must fetch."""
        with self._lock:
            self._story_claims.add(task_gid)

    def take_story_claim(self, task_gid: str) -> bool:
        """True exactly once per claimed task, whoever asks first."""
        with self._lock:
            if task_gid in self._story_claims:
                self._story_claims.discard(task_gid)
                return True
            return False

    def first_walk(self, task_gid: str) -> bool:
        """True once per task: a subtask tree is walked once per run, whatever the projects."""
        with self._lock:
            if task_gid in self._trees:
                return False
            self._trees.add(task_gid)
            return True

    def taken(self, task_gid: str) -> bool:
        """True if this run already yielded this task (in any version)."""
        with self._lock:
            return task_gid in self._tasks

    def first_user(self, user_gid: str) -> bool:
        """Users are listed per workspace; a user of two workspaces is one row."""
        with self._lock:
            if user_gid in self._users:
                return False
            self._users.add(user_gid)
            return True
