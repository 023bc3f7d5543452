"""The in-memory Asana account: records by gid plus the indexes the endpoints need.

Records are plain dicts whose references are the referenced record itself, so a
rename shows through every response and ``assignee.name`` is one dict lookup. Keys
starting with ``_`` are private bookkeeping and never leave the server. Renames go through
``Store.rename``, which remembers a record's generated name: the generated history (stories,
rebuilt on demand) must keep the text it was "written" with, as Asana's stories do.
"""
from __future__ import annotations

import threading
from collections import defaultdict
from typing import Any, Callable

Record = dict[str, Any]

KINDS = ("workspace", "project", "section", "tag", "task", "user", "team", "custom_field",
         "custom_field_setting", "project_membership", "team_membership", "attachment",
         "portfolio", "enum_option", "workspace_membership", "portfolio_membership", "goal",
         "goal_relationship", "status_update", "time_period", "time_tracking_entry",
         "project_template", "task_template", "allocation", "audit_log_event")


class Store:
    """All records and indexes, guarded by one re-entrant lock.

    Reads take the lock only while slicing lists, writes hold it for their whole change,
    which keeps responses consistent without serialising the (slow) network part.
    """

    def __init__(
        self, seed: int, story_factory: Callable[["Store", Record], list[Record]], keep_stories: bool = False
    ) -> None:
        self.seed = seed
        self.lock = threading.RLock()
        self.records: dict[str, dict[str, Record]] = {k: {} for k in KINDS}
        self.by_gid: dict[str, Record] = {}
        self.project_tasks: dict[str, list[str]] = defaultdict(list)
        self.section_tasks: dict[str, list[str]] = defaultdict(list)
        self.tag_tasks: dict[str, list[str]] = defaultdict(list)
        self.subtasks: dict[str, list[str]] = defaultdict(list)
        self.project_sections: dict[str, list[str]] = defaultdict(list)
        self.story_counts: dict[str, int] = {}
        self.extra_stories: dict[str, list[Record]] = defaultdict(list)
        self.deleted_stories: set[str] = set()
        self.me: Record | None = None
        self._generated_names: dict[str, Any] = {}  # gid -> name before its first rename
        self._next_gid = 1200000000000001
        self._story_factory = story_factory
        # Generated stories kept once made (SimConfig.keep_generated_stories), keyed by what
        # they show of their task; None: rebuilt on every request, as tests and the demo do.
        self._kept: dict[str, tuple[Any, list[Record]]] | None = {} if keep_stories else None

    def new_gid(self) -> str:
        """Numeric-string gids in creation order, like Asana's."""
        with self.lock:
            gid = str(self._next_gid)
            self._next_gid += 1
            return gid

    def add(self, rec: Record) -> Record:
        """Register a record under its kind and gid."""
        self.records[rec["resource_type"]][rec["gid"]] = rec
        self.by_gid[rec["gid"]] = rec
        return rec

    def rename(self, rec: Record, name: str) -> None:
        """Give a record a new name; every compact reference to it shows the new one at once.

        The first rename keeps the generated name, which the generated stories' text goes on
        using (a story's text is written once, when the story is made)."""
        with self.lock:
            self._generated_names.setdefault(rec["gid"], rec.get("name"))
            rec["name"] = name

    def generated_name(self, rec: Record) -> Any:
        """The name a record had when the account was generated (before any rename)."""
        return self._generated_names.get(rec["gid"], rec.get("name"))

    def get(self, kind: str, gid: str) -> Record | None:
        """A record of that kind, or None (callers answer 404)."""
        return self.records[kind].get(gid)

    def all(self, kind: str) -> list[Record]:
        """Records of a kind in creation order."""
        with self.lock:
            return list(self.records[kind].values())

    def stories(self, task: Record) -> list[Record]:
        """Generated stories (rebuilt deterministically on demand) plus written ones."""
        with self.lock:
            extra = list(self.extra_stories.get(task["gid"], ()))
        generated = self._generated(task)
        if self.deleted_stories:
            generated = [st for st in generated if st["gid"] not in self.deleted_stories]
        return generated + extra

    def _generated(self, task: Record) -> list[Record]:
        if self._kept is None:
            return self._story_factory(self, task)
        version = (task.get("modified_at"), task.get("name"), task.get("resource_subtype"))
        kept = self._kept.get(task["gid"])
        if kept is None or kept[0] != version:
            kept = self._kept[task["gid"]] = (version, self._story_factory(self, task))
        return list(kept[1])

    def keep_all_stories(self) -> None:
        """Makes and keeps every task's generated stories now, as Asana has them stored, so
        serving them costs no generation (`keep_generated_stories`)."""
        with self.lock:
            tasks = list(self.records["task"].values())
        for task in tasks:
            self._generated(task)

    def story_total(self) -> int:
        """Stories across existing tasks, without materialising generated ones."""
        with self.lock:
            tasks = self.records["task"]
            gen = sum(n for gid, n in self.story_counts.items() if gid in tasks)
            extra = sum(len(v) for gid, v in self.extra_stories.items() if gid in tasks)
            gone = sum(1 for st in self.deleted_stories if st[:-4] in tasks)
            return gen + extra - gone

    def expected_counts(self) -> dict[str, int]:
        """What a complete extraction must find: the numbers tests compare against."""
        with self.lock:
            return {
                "workspaces": len(self.records["workspace"]),
                "projects": len(self.records["project"]),
                "sections": len(self.records["section"]),
                "tags": len(self.records["tag"]),
                "tasks": len(self.records["task"]),
                "stories": self.story_total(),
                "teams": len(self.records["team"]),
                "users": len(self.records["user"]),
            }

    def root_task(self, task: Record) -> Record:
        """The top-level ancestor, whose projects a subtask's changes bubble up to."""
        while task.get("parent") is not None:
            task = task["parent"]
        return task
