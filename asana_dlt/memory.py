"""What one run has already taken, so nothing is loaded or fetched twice in that run."""

import threading
from typing import Any, Dict, Set, Tuple


class RunMemory:
    """What one run has already taken, so nothing is loaded or fetched twice.

    A task that sits in two projects is listed twice; it becomes one row, and its stories and
    subtasks are fetched once. Shared by the run's threads, hence the lock. Nothing here
    outlives the run: what the next run needs is in `state.py`.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tasks: Dict[str, str] = {}
        self._story_claims: Set[str] = set()
        self._trees: Set[str] = set()
        self._users: Set[str] = set()
        self._changed: Set[str] = set()
        self._listed_for: Set[Tuple[str, str]] = set()  # (per-task table, task gid) listed this run
        self._gone: Set[str] = set()

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
        """True exactly once per claimed task, whoever asks first (a backfill included)."""
        with self._lock:
            if task_gid not in self._story_claims:
                return False
            self._story_claims.discard(task_gid)
            self._listed_for.add(("stories", task_gid))
            return True

    def first_walk(self, task_gid: str) -> bool:
        """True once per task: a subtask tree is walked once per run, whatever the projects."""
        with self._lock:
            if task_gid in self._trees:
                return False
            self._trees.add(task_gid)
            return True

    def deleted(self, task_gid: str) -> None:
        """A task this run found deleted: never read again, nor listed for a per-task table."""
        with self._lock:
            self._tasks[task_gid] = "\uffff"
            self._gone.add(task_gid)

    def gone(self, task_gid: str) -> bool:
        """True if this run found the task deleted."""
        with self._lock:
            return task_gid in self._gone

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

    def mark_changed(self, task_gid: str) -> None:
        """Records that a task is new or changed in this run: the per-task tables list it."""
        with self._lock:
            self._changed.add(task_gid)

    def take_changed(self, table: str, task_gid: str) -> bool:
        """True once per per-task table for each new or changed task (listed in two projects
        or not)."""
        with self._lock:
            return task_gid in self._changed and self._first_listing(table, task_gid)

    def take_backfill(self, table: str, task_gid: str) -> bool:
        """True once per per-task table for a loaded task its table lacks, unless this run
        listed it for that table already (it changed)."""
        with self._lock:
            return self._first_listing(table, task_gid)

    def _first_listing(self, table: str, task_gid: str) -> bool:
        if (table, task_gid) in self._listed_for:
            return False
        self._listed_for.add((table, task_gid))
        return True
