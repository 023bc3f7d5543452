"""How this run reads each project's tasks: the one place that decides it, without any I/O.

Five ways, from cheapest to dearest:

- `covered`: the workspace's events (and search) stand in for the project's own events and
  listing: it was loaded before and its periodic full check is not due (workspace mode).
- `quiet`: per-project events mode: nothing in the project changed, or this run's one search of
  the workspace already returned its changed tasks; the events name the rest. No listing.
- `export`: the account's first load, through one resource export per workspace (`export/`);
  falls back to listing when the workspace cannot export.
- `reconcile by export`: a project due for a full comparison with Asana (an expired token, the
  periodic check) in a workspace where one export costs less than listing; else listed.
- `listed`: the project's tasks listed (`modified_since` its cursor, or in full when reconciling).

And, in a long-running process that read the project's events between runs (follow mode):
- `idle`: not read this run: its events, read since its stored token, said nothing changed.

The facts come from the previous runs' state, the workspace's change-capture mode
(`workspace_changes.py`) and the project's events (`events.py`); `tasks.py` runs the plan.
The same module holds the two rules the plan leans on: when a full check is due, and when an
export is cheaper than listing.
"""

from dataclasses import dataclass, replace
from typing import Any, Dict, Optional

import pendulum

from .settings import EXPORT_EXPECTED_JOB_MINUTES, EXPORT_RECONCILE_MIN_REQUESTS

COVERED = "covered"
QUIET = "quiet"
EXPORT = "export"
RECONCILE_BY_EXPORT = "reconcile by export"
LISTED = "listed"
IDLE = "idle"

# Change-capture modes of a workspace (`workspace_changes.py` says how each is chosen).
WORKSPACE = "workspace"
PROJECT_EVENTS = "project-events"
POLLING = "polling"

FIRST_SEEN = "it is listed for the first time"


@dataclass(frozen=True)
class Facts:
    """What the plan of one project depends on, gathered before any of its tasks are read.

    Attributes:
        previous: The project's entry in the state, as the previous runs left it.
        mode: Its workspace's change-capture mode this run.
        workspace: Its workspace's gid as the workspace's mode knows it ('' when unknown).
        workspace_events: The workspace's own events were read this run (workspace mode).
        searched: This run searched the workspace for changed tasks since a stored point.
        first_load: No project was ever listed: the account's first load.
        exports: The run may use exports (`full_load` is not `api`) and the project record names
            its workspace.
        now: This run's time, for the age of the last full check.
        reconcile_every_days: How often a project is compared in full (0: never).
    """

    previous: Dict[str, Any]
    mode: str
    workspace: str = ""
    workspace_events: bool = False
    searched: bool = False
    first_load: bool = False
    exports: bool = False
    now: Optional[pendulum.DateTime] = None
    reconcile_every_days: int = 0

    def fell_back(self, plan: str) -> "Facts":
        """The same project once the export its plan named fell back: what else it is."""
        return replace(self, first_load=False) if plan == EXPORT else replace(self, exports=False)


def reconciliation_due(previous: Dict[str, Any], now: Optional[pendulum.DateTime], days: int) -> bool:
    """True when the project's last full comparison with Asana is `days` or more old.

    Why at all: Asana delivers events at most once, so a lost event would leave a row stale
    until something else touched it. A project never reconciled is not due (it was just listed).
    """
    if not days or not previous.get("reconciled_at"):
        return False
    moment = now or pendulum.now("UTC")
    return bool((moment - pendulum.parse(previous["reconciled_at"])).in_days() >= days)


def reconcile_reason(
    previous: Dict[str, Any], token_reason: Optional[str], now: Optional[pendulum.DateTime], days: int
) -> Optional[str]:
    """Why a project's tasks must be compared in full with the warehouse this run, or None.

    Args:
        previous: The project's entry in the state.
        token_reason: Why its events could not be read from its stored token (412), or None.
        now: This run's time.
        days: `reconcile_every_days`.
    """
    if token_reason:
        return FIRST_SEEN if not previous.get("modified_since") else token_reason
    if reconciliation_due(previous, now, days):
        return f"its last full check is over {days} day(s) old"
    return None


def idle(previous: Dict[str, Any], targeted: bool, covered_by_workspace: bool = False) -> bool:
    """True when the project is left as loaded this run (it costs no request at all): a loaded
    project that its caller, reading its events between runs, found quiet. `targeted` is always
    true but in follow mode, where only projects that changed are.

    Never for a project its workspace's events cover: the run takes the workspace's new events
    token whenever it reads any of its projects (their sections ask), so changes made since the
    caller looked would be passed over for good if the project stayed idle."""
    return not targeted and not covered_by_workspace and bool(previous.get("modified_since"))


def covered(facts: Facts) -> bool:
    """True when the workspace's events stand in for this project's events and listing: asked
    before its own events are read, which it then needs none of."""
    if facts.mode != WORKSPACE or not facts.workspace_events:
        return False
    if not facts.previous.get("modified_since") or facts.previous.get("workspace") != facts.workspace:
        return False
    return not reconciliation_due(facts.previous, facts.now, facts.reconcile_every_days)


def decide(facts: Facts, seen: int, reconcile: Optional[str], reconciling: bool) -> str:
    """The plan of a project that is not `covered`, once its events are taken.

    Args:
        facts: The project's facts.
        seen: How many events the project had since its stored token.
        reconcile: Why it must be reconciled this run, or None.
        reconciling: Its loaded tasks were read from the warehouse to compare (a due or expired
            project loaded before).
    """
    if facts.mode == PROJECT_EVENTS and not reconcile and (not seen or facts.searched):
        return QUIET
    if facts.first_load and facts.exports:
        return EXPORT
    if facts.exports and reconciling:
        return RECONCILE_BY_EXPORT
    return LISTED


def export_pays(paged_requests: int, workspace_tasks: int, requests_per_minute: float) -> bool:
    """True when one export of a workspace is cheaper than listing its due projects.

    The file holds the whole workspace: worth it only when listing the due projects would read
    about as much (a page per 100 of its loaded tasks) and cost more requests than a job does
    (`EXPORT_RECONCILE_MIN_REQUESTS`: the job, its polls and download); and, at the run's quota,
    listing must take longer than a job would (`EXPORT_EXPECTED_JOB_MINUTES`).

    Args:
        paged_requests: What listing the due projects would cost: a page per 100 loaded tasks
            of each, plus a listing per loaded task with subtasks.
        workspace_tasks: Tasks (subtasks included) loaded from the workspace.
        requests_per_minute: The run's quota (0: none).
    """
    wait = (requests_per_minute or 0) * EXPORT_EXPECTED_JOB_MINUTES
    return paged_requests > max(EXPORT_RECONCILE_MIN_REQUESTS, workspace_tasks // 100, wait)
