"""Which listed tasks are new or changed, and the subtask trees below them.

Asana's project listings never show subtasks, and `GET /tasks/{gid}/subtasks` lists one level at
a time, so a tree costs one listing per task that has subtasks (ten to a batch request). Trees
are walked for tasks the warehouse has never seen and, when a project is reconciled, for every
task of the project: events (see `changes.py`) report the changes to subtasks of tasks already
loaded.
"""

from typing import Any, Dict, List, Optional, Sequence, Set, Tuple

from .batch import Listing, each_listing
from .errors import named
from .helpers import AsanaClient
from .memory import RunMemory
from .settings import TASK_FIELDS
from .state import SourceState


class TaskSorter:
    """Splits task pages into the tasks this run has not taken yet and, of those, the changed ones.

    A task is changed when modified after the cursor of every project it sat in when last loaded;
    `inherited` carries that cursor down to subtasks, which belong to no project. Changed tasks get
    their stories claimed for the `stories` transformer, unless older than `stories_from`, and are
    marked changed for the per-task tables (`RunMemory.mark_changed`).
    """

    def __init__(self, client: AsanaClient, memory: RunMemory, state: SourceState, stories_from: Optional[str]) -> None:
        self.client = client
        self.memory = memory
        self.state = state
        self.stories_from = stories_from

    def sort(
        self, page: List[Dict[str, Any]], inherited: Optional[str], known: Optional[Dict[str, str]] = None
    ) -> Tuple[List[Any], List[Tuple[Any, Any]]]:
        """Returns (fresh tasks, [(changed task, the cursor it was loaded up to)]).

        `known` (a reconciliation's `modified_at` per gid, read from the warehouse) decides for
        the tasks it holds: changed means modified since loaded, whatever the cursors say.
        """
        fresh = [task for task in page if self.memory.first_sighting(task)]
        changed = []
        for task in fresh:
            loaded_until = inherited or self.state.loaded_until(m["gid"] for m in task.get("projects") or [] if m)
            modified_at = task.get("modified_at") or ""
            if known is not None and task["gid"] in known:
                is_changed = modified_at != known[task["gid"]]
            else:
                is_changed = loaded_until is None or modified_at > loaded_until
            if is_changed:
                changed.append((task, loaded_until))
                self.memory.mark_changed(task["gid"])
                if self.stories_from is None or modified_at >= self.stories_from:
                    self.memory.claim_stories(task["gid"])
        return fresh, changed

    def trees(
        self,
        roots: Sequence[Tuple[Dict[str, Any], Optional[str]]],
        whole: bool = False,
        listed: Optional[Set[str]] = None,
        known: Optional[Dict[str, str]] = None,
    ) -> List[Dict[str, Any]]:
        """The subtasks below these tasks that this run has not taken yet, a level at a time.

        A level's listings go out together (`batch.each_listing`, ten to a batch request): one
        listing per task cost one HTTP request each, a tenth of a full load's requests.

        Args:
            roots: Tasks with `num_subtasks` (gid and name suffice), each with the cursor up to
                which it was loaded (None for a task never loaded).
            whole: Walk every subtask that has subtasks, not only the changed ones: a
                reconciliation cannot trust events it may have missed.
            listed: Collects the gid of every subtask Asana listed, taken before or not, so a
                reconciliation can tell which subtasks the warehouse holds that Asana no longer has.
            known: `modified_at` per loaded subtask, from the warehouse (see `sort`).
        """
        collected: List[Dict[str, Any]] = []
        level = list(roots)
        while level:
            listings = [Listing(f"/tasks/{task['gid']}/subtasks", f"subtasks of task {named(task)}") for task, _ in level]
            below: List[Tuple[Dict[str, Any], Optional[str]]] = []
            for (_, loaded_until), (_, subs) in zip(level, each_listing(self.client, listings, TASK_FIELDS)):
                if listed is not None:
                    listed.update(sub["gid"] for sub in subs)
                fresh, changed = self.sort(subs, loaded_until, known)
                collected.extend(fresh)
                walk = [(sub, loaded_until) for sub in subs] if whole else changed
                # Only gid and name wait for the next level, not whole tasks.
                below.extend(({"gid": sub["gid"], "name": sub.get("name")}, until) for sub, until in walk if sub.get("num_subtasks"))
            level = below
        return collected
