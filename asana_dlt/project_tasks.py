"""One project's tasks in one run: its plan decided (`plan.py`), run, and finished once.

Every way of reading a project ends the same way: its cursor moves to what the run loaded, and
its events token, workspace and last full check are stored for the next run (`finish`). Events
are taken before the listing (and before any export job), so what changes meanwhile is in the
next run's events.
"""

from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional, Sequence, Set, Tuple

import dlt

from .batch import in_batches
from .changes import ChangeCapture
from .coverage import backfills
from .errors import named
from .events import ProjectEvents
from .export.rows import ExportedTask, ExportPage
from .export.scheduler import FullLoads, Outcome
from .helpers import AsanaClient
from .memory import RunMemory
from .plan import COVERED, EXPORT, IDLE, LISTED, QUIET, RECONCILE_BY_EXPORT, Facts, covered, decide, idle
from .settings import TASK_FIELDS
from .state import SourceState
from .subtasks import TaskSorter
from .workspace_changes import WorkspaceChanges

Tree = Tuple[Dict[str, Any], Optional[str]]  # a task with subtasks (gid, name), and how far it was loaded


@dataclass
class ProjectPlan:
    """One project's plan in this run, and the cursor reading it reached."""

    kind: str
    facts: Facts
    events: ProjectEvents
    newest: Optional[str] = None


class ProjectTasks:
    """Decides, runs and finishes each project's plan; one per source run, shared by its threads.

    Args:
        client: The run's client.
        state: The source's state.
        memory: What this run already took.
        sorter: Which listed tasks are new or changed; subtask trees.
        capture: Events, deletes and reconciliation.
        modes: Each workspace's change-capture mode.
        full_loads: Exports for full loads and reconciliations.
        first_listing_since: `start_date`: older tasks are not listed when a project is first listed.
        targets: The projects this run reads, when its caller knows the others are quiet
            (`session.Session.targets`); None reads every project.
    """

    def __init__(
        self,
        client: AsanaClient,
        state: SourceState,
        memory: RunMemory,
        sorter: TaskSorter,
        capture: ChangeCapture,
        modes: WorkspaceChanges,
        full_loads: FullLoads,
        first_listing_since: Optional[str],
        targets: Optional[Set[str]] = None,
    ) -> None:
        self.client, self.state, self.memory, self.sorter = client, state, memory, sorter
        self.capture, self.modes, self.full_loads = capture, modes, full_loads
        self.first_listing_since = first_listing_since
        self.targets = targets

    def costs_nothing(self, project: Dict[str, Any]) -> bool:
        """True when the project's plan needs no request of its own: idle, or covered by its
        workspace's events (asked before the plan, which then decides the same)."""
        return self.leaves_idle(project) or covered(self.modes.facts(project))

    def plan(self, project: Dict[str, Any]) -> ProjectPlan:
        """Decides how the project is read; reads its events unless the workspace's cover it."""
        if self.leaves_idle(project):
            return ProjectPlan(IDLE, Facts(previous={}, mode=""), ProjectEvents())
        exports = self.full_loads.mode != "api" and bool((project.get("workspace") or {}).get("gid"))
        facts = self.modes.facts(project, exports=exports)
        if covered(facts):
            return ProjectPlan(COVERED, facts, ProjectEvents())
        events = self.full_loads.begin(project, full_load=facts.first_load)
        return ProjectPlan(decide(facts, events.seen, events.reconcile, events.known is not None), facts, events)

    def leaves_idle(self, project: Dict[str, Any]) -> bool:
        """True when this run leaves the project as loaded (`plan.idle`)."""
        targeted = self.targets is None or project["gid"] in self.targets
        if targeted:
            return False
        return idle(self.state.previous_project(project["gid"]), targeted, covered(self.modes.facts(project)))

    def read(self, project: Dict[str, Any], plan: ProjectPlan) -> Iterator[Any]:
        """The project's pages as its plan says; an export that falls back makes it list."""
        if plan.kind == IDLE:
            return
        yield from self.modes.changes(project)  # once per workspace: search's finds, its events
        while plan.kind in (EXPORT, RECONCILE_BY_EXPORT):
            outcome = self._export(project, plan)
            if outcome is not None:
                yield from self._exported(project, outcome, plan)
                break
            plan.facts = plan.facts.fell_back(plan.kind)
            plan.kind = decide(plan.facts, plan.events.seen, plan.events.reconcile, plan.events.known is not None)
        if plan.kind == QUIET:  # search has the changed tasks, the events name the rest
            yield from self.capture.apply(project, plan.events, self.modes.found(project))
        elif plan.kind == LISTED:
            yield from self._listed(project, plan)
        gaps = self.state.gaps(project["gid"])  # per-task tables selected after its tasks loaded
        if gaps:
            yield from backfills(self.capture.warehouse, project, gaps, self.memory.gone)

    def finish(self, project: Dict[str, Any], plan: ProjectPlan) -> None:
        """Moves the cursor and stores what the next run needs; commits with this run's load."""
        if plan.kind == IDLE:  # as loaded: its cursor, token and coverage stay
            self.capture.finished(project)
            return
        self.state.advance(project["gid"], plan.newest)
        self.capture.finish(project, plan.events)
        self.state.covered(project["gid"])

    def _export(self, project: Dict[str, Any], plan: ProjectPlan) -> Optional[Outcome]:
        if plan.kind == EXPORT:
            return self.full_loads.for_project(project, full_load=True)
        return self.full_loads.reconciliation(project, plan.events)

    def _exported(self, project: Dict[str, Any], outcome: Outcome, plan: ProjectPlan) -> Iterator[Any]:
        """The workspace's tasks from its export (to the first project that asked), then, when
        reconciling, what only the events reveal."""
        for page in outcome.pages:
            yield self._fresh(page) if page and isinstance(page[0], ExportedTask) else page
        if plan.kind == RECONCILE_BY_EXPORT:  # vanished tasks were confirmed in the pages
            yield from self.capture.apply(project, plan.events, set(plan.events.known or ()))
        plan.newest = outcome.created_at

    def _fresh(self, page: ExportPage) -> ExportPage:
        """Keeps the exported tasks this run has not taken yet; their stories ride on the page."""
        fresh = [task for task in page if self.memory.first_sighting(task)]
        for task in fresh:
            if task.changed:  # a reconciliation's unchanged task: its row only
                self.memory.mark_changed(task["gid"])
        return fresh

    def _listed(self, project: Dict[str, Any], plan: ProjectPlan) -> Iterator[Any]:
        """The project's listing (since its cursor, or whole when reconciling), then its subtask trees."""
        events = plan.events
        since = self.first_listing_since if events.reconcile else (self.state.since(project["gid"]) or self.first_listing_since)
        params = {"project": project["gid"], **({"modified_since": since} if since else {})}
        listed: Set[str] = set()
        trees: List[Tree] = []
        for page in self.client.pages("/tasks", TASK_FIELDS, f"tasks of project {named(project)}", params):
            plan.newest = max([plan.newest or "", *(t.get("modified_at") or "" for t in page)]) or None
            listed.update(t["gid"] for t in page)
            fresh, changed = self.sorter.sort(page, None, events.known)
            if fresh:
                yield fresh
            trees.extend(self._trees(page, changed, events))
        yield from self.capture.apply(project, events, listed)
        # Subtask listings go to the pool once the project's own pages are in: the listing's
        # next page, which unlocks a hundred story requests, never waits behind them.
        walks = [(task, loaded_until) for task, loaded_until in trees if self.memory.first_walk(task["gid"])]
        for group in in_batches(self.client, walks):
            yield _subtrees(self.capture, group, events.known is not None)

    def _trees(self, page: List[Dict[str, Any]], changed: List[Tuple[Any, Any]], events: ProjectEvents) -> List[Tree]:
        """Which tasks of a page get their subtask trees walked. Trees keep only what the subtask
        listing needs (gid and name): holding whole tasks until the project's last page would
        keep every parent of a large project in memory."""
        if events.known is not None:  # reconciling a loaded project: every tree, every changed task's stories
            self.capture.check_stories(t["gid"] for t, _ in changed)
            return [
                (_ref(t), self.state.loaded_until(m["gid"] for m in t.get("projects") or [] if m))
                for t in page
                if t.get("num_subtasks")
            ]
        # Otherwise events report the changes below tasks already loaded.
        return [(_ref(t), until) for t, until in changed if until is None and t.get("num_subtasks")]


def _ref(record: Dict[str, Any]) -> Dict[str, Any]:
    """The gid and name of a record: enough to list its children and to name it in warnings."""
    return {"gid": record["gid"], "name": record.get("name")}


@dlt.defer
def _subtrees(capture: ChangeCapture, roots: Sequence[Tree], whole: bool) -> List[Dict[str, Any]]:
    """All new subtasks below a few tasks (a batch request a level), fetched in dlt's pool beside other work."""
    return capture.subtrees(roots, whole)
