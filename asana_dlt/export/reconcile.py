"""One export standing in for the paged reconciliation of a workspace's due projects."""

from typing import Any, Dict, Iterator, Optional, Set

from ..changes import ChangeCapture
from .rows import ExportPage, rows_of


class Reconciliation:
    """One export standing in for the paged reconciliation of a workspace's due projects.

    In scope are the top-level tasks of the due projects, every task the warehouse holds below
    or among them, and new subtasks below those. Each task in scope is loaded again (a move
    between sections leaves `modified_at` alone, as a paged reconciliation's listing would
    show), with the stories the warehouse lacks (all of them where `modified_at` differs) and
    tombstones for loaded stories the file lacks; attachments only where `modified_at` differs.
    A loaded task the file lacks (an export holds undeleted objects only) is read once, as
    `changes.py` confirms a vanished task: 404 deletes it. What is held is the due projects'
    loaded gids and, for subtask lines that come before their parent's, a gid pair each; never
    the file.
    """

    def __init__(
        self,
        due: Set[str],
        known: Dict[str, str],
        parents: Dict[str, str],
        capture: ChangeCapture,
        stories_from: Optional[str],
    ) -> None:
        self.due, self.known, self.parents, self.capture, self.stories_from = due, known, parents, capture, stories_from
        self.seen: Set[str] = set()
        self.orphans: Dict[str, str] = {}  # a new subtask met before its parent: gid -> parent gid

    def keep(self, task: Dict[str, Any], parent: Optional[str]) -> Optional[bool]:
        gid = task["gid"]
        top = parent is None and any((p or {}).get("gid") in self.due for p in task.get("projects") or ())
        if not (top or gid in self.known or parent in self.seen):
            if parent is not None:
                self.orphans[gid] = parent
            return None
        self.seen.add(gid)
        return task.get("modified_at") != self.known.get(gid)

    def stories(self, page: ExportPage) -> ExportPage:
        """The stories the warehouse lacks (a changed task's all), tombstones for loaded ones the file lacks.

        Every task's, changed or not: a move adds a story without touching `modified_at`, and a
        deleted story touches nothing (which a paged reconciliation cannot see). One warehouse
        query per page of tasks.
        """
        loaded_tasks = [task["gid"] for task in page if task["gid"] in self.known and self._stories_kept(task)]
        loaded = self.capture.warehouse.stories_of(loaded_tasks) if loaded_tasks else set()
        exported: Set[str] = set()
        for task in page:
            stories = task.children["stories"]
            exported.update(story["gid"] for story in stories)
            if loaded and not task.changed:  # a changed task's stories all load again, as when listed
                task.children["stories"] = [story for story in stories if story["gid"] not in loaded]
        gone = loaded - exported
        if gone:
            page[0].children["stories"].extend(self.capture.tombstones("stories", gone))
        return page

    def _stories_kept(self, task: Dict[str, Any]) -> bool:
        return self.stories_from is None or (task.get("modified_at") or "") >= self.stories_from

    def rows(self, lines: Iterator[Dict[str, Any]], stories_from: Optional[str]) -> Iterator[Any]:
        """The file's pages in scope, then what only a read can settle: vanished tasks, and new
        subtasks met before their parent (read once, as `changes.py` reads what events name)."""
        for page in rows_of(lines, stories_from, self.keep):
            yield self.stories(page)
        late: Set[str] = set()
        found = True
        while found:
            found = False
            for gid, parent in list(self.orphans.items()):
                if parent in self.seen:
                    self.seen.add(gid)
                    late.add(gid)
                    del self.orphans[gid]
                    found = True
        self.orphans.clear()
        vanished = set(self.known) - self.seen
        roots = {gid for gid in vanished if self.parents.get(gid) not in vanished}
        # A root's 404 deletes its loaded subtree too; what is left (below a root that still
        # exists) is read after it.
        yield from self.capture.confirm_vanished(roots | late)
        yield from self.capture.confirm_vanished(vanished - roots)
