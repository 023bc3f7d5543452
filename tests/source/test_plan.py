"""How each project is read, as a table: previous state x workspace mode x events -> plan.

No HTTP and no pipeline: `asana_dlt.plan` is a pure function of its facts, so every way of
reading a project (and the rules it leans on) is listed here case by case.
"""

from typing import Any, Dict, Optional

import pendulum
import pytest

from asana_dlt import plan
from asana_dlt.plan import (
    COVERED,
    EXPORT,
    FIRST_SEEN,
    LISTED,
    POLLING,
    PROJECT_EVENTS,
    QUIET,
    RECONCILE_BY_EXPORT,
    WORKSPACE,
    Facts,
)

NOW = pendulum.datetime(2026, 12, 5, tz="UTC")
LOADED = {"modified_since": "2026-12-01T00:00:00.000Z", "workspace": "W", "reconciled_at": "2026-12-04T00:00:00.000Z"}
STALE = dict(LOADED, reconciled_at="2026-11-20T00:00:00.000Z")  # 15 days ago
NEVER_CHECKED = {k: v for k, v in LOADED.items() if k != "reconciled_at"}
OTHER_WORKSPACE = dict(LOADED, workspace="V")
NEW: Dict[str, Any] = {}


def facts(previous: Dict[str, Any], mode: str, **kw: Any) -> Facts:
    return Facts(previous=previous, mode=mode, workspace="W", now=NOW, reconcile_every_days=7, **kw)


# (case, previous state, workspace mode, extra facts, events seen, why reconcile, reconciling) -> plan
PLANS = [
    ("workspace events cover a loaded project", LOADED, WORKSPACE, {"workspace_events": True}, None, None, False, COVERED),
    ("never checked: covered (its first listing was the check)", NEVER_CHECKED, WORKSPACE, {"workspace_events": True}, None, None, False, COVERED),
    ("workspace events, periodic check due: listed", STALE, WORKSPACE, {"workspace_events": True}, 3, "its last full check is over 7 day(s) old", True, LISTED),
    ("workspace events, check due, exports: by export", STALE, WORKSPACE, {"workspace_events": True, "exports": True}, 3, "due", True, RECONCILE_BY_EXPORT),
    ("workspace mode without its token yet: per-project path", LOADED, WORKSPACE, {}, 2, None, False, LISTED),
    ("workspace events, project moved from another workspace", OTHER_WORKSPACE, WORKSPACE, {"workspace_events": True}, 0, None, False, LISTED),
    ("workspace events, new project", NEW, WORKSPACE, {"workspace_events": True}, 0, FIRST_SEEN, False, LISTED),
    ("per-project events, nothing happened", LOADED, PROJECT_EVENTS, {}, 0, None, False, QUIET),
    ("per-project events, search found the changes", LOADED, PROJECT_EVENTS, {"searched": True}, 5, None, False, QUIET),
    ("per-project events, changes but no search point yet", LOADED, PROJECT_EVENTS, {}, 5, None, False, LISTED),
    ("per-project events, token expired", LOADED, PROJECT_EVENTS, {"searched": True}, 0, "its sync token expired", True, LISTED),
    ("per-project events, token expired, exports", LOADED, PROJECT_EVENTS, {"exports": True}, 0, "expired", True, RECONCILE_BY_EXPORT),
    ("polling: listed", LOADED, POLLING, {}, 0, None, False, LISTED),
    ("polling with events: listed", LOADED, POLLING, {}, 4, None, False, LISTED),
    ("first load with exports: by export", NEW, POLLING, {"first_load": True, "exports": True}, 0, FIRST_SEEN, False, EXPORT),
    ("first load without exports (api): listed", NEW, POLLING, {"first_load": True}, 0, FIRST_SEEN, False, LISTED),
    ("a new project in a later run: listed, not exported", NEW, POLLING, {"exports": True}, 0, FIRST_SEEN, False, LISTED),
    ("first load in per-project events mode: quiet never", NEW, PROJECT_EVENTS, {"first_load": True, "exports": True}, 0, FIRST_SEEN, False, EXPORT),
]


@pytest.mark.parametrize(
    "case, previous, mode, extra, seen, reconcile, reconciling, expected", PLANS, ids=[p[0] for p in PLANS]
)
def test_the_plan_of_a_project(
    case: str, previous: Dict[str, Any], mode: str, extra: Dict[str, Any], seen: Optional[int],
    reconcile: Optional[str], reconciling: bool, expected: str,
) -> None:
    project = facts(previous, mode, **extra)
    got = COVERED if plan.covered(project) else plan.decide(project, seen or 0, reconcile, reconciling)
    assert got == expected, case


FALLBACKS = [
    ("an export that fell back in a first load lists", facts(NEW, POLLING, first_load=True, exports=True), EXPORT, False, LISTED),
    ("... or reconciles by export when it was due", facts(STALE, POLLING, first_load=True, exports=True), EXPORT, True, RECONCILE_BY_EXPORT),
    ("a reconciliation by export that fell back lists", facts(STALE, POLLING, exports=True), RECONCILE_BY_EXPORT, True, LISTED),
]


@pytest.mark.parametrize("case, before, kind, reconciling, expected", FALLBACKS, ids=[f[0] for f in FALLBACKS])
def test_what_a_plan_becomes_when_its_export_falls_back(
    case: str, before: Facts, kind: str, reconciling: bool, expected: str
) -> None:
    assert plan.decide(before.fell_back(kind), 0, "due" if reconciling else None, reconciling) == expected, case


DUE = [
    ("checked yesterday", {"reconciled_at": "2026-12-04T00:00:00.000Z"}, 7, False),
    ("checked exactly 7 days ago", {"reconciled_at": "2026-11-28T00:00:00.000Z"}, 7, True),
    ("checked 15 days ago", {"reconciled_at": "2026-11-20T00:00:00.000Z"}, 7, True),
    ("never checked", {}, 7, False),
    ("checks turned off", {"reconciled_at": "2020-01-01T00:00:00.000Z"}, 0, False),
]


@pytest.mark.parametrize("case, previous, days, due", DUE, ids=[d[0] for d in DUE])
def test_when_a_full_check_is_due(case: str, previous: Dict[str, Any], days: int, due: bool) -> None:
    assert plan.reconciliation_due(previous, NOW, days) is due, case


REASONS = [
    ("events complete, not due", LOADED, None, None),
    ("no token and never listed", NEW, "it has no sync token yet", FIRST_SEEN),
    ("token expired on a loaded project", LOADED, "its sync token expired", "its sync token expired"),
    ("due for its periodic check", STALE, None, "its last full check is over 7 day(s) old"),
    ("expired and due: the token's reason", STALE, "its sync token expired", "its sync token expired"),
]


@pytest.mark.parametrize("case, previous, token_reason, expected", REASONS, ids=[r[0] for r in REASONS])
def test_why_a_project_is_reconciled(
    case: str, previous: Dict[str, Any], token_reason: Optional[str], expected: Optional[str]
) -> None:
    assert plan.reconcile_reason(previous, token_reason, NOW, 7) == expected, case


COSTS = [
    # (case, paged requests, loaded tasks in the workspace, quota per minute, export pays)
    ("small workspace: listing is cheaper than a job", 15, 1_000, 0, False),
    ("more than a job's requests, no quota", 376, 2_000, 0, True),
    ("but listing 376 takes 15 s at 1,500/min, a job minutes", 376, 2_000, 1_500, False),
    ("a huge workspace's one due project reads less than the file", 1_000, 500_000, 0, False),
    ("many due projects at 1,500/min: beyond five minutes of quota", 9_000, 100_000, 1_500, True),
]


@pytest.mark.parametrize("case, paged, tasks, rpm, pays", COSTS, ids=[c[0] for c in COSTS])
def test_when_an_export_is_cheaper_than_listing(case: str, paged: int, tasks: int, rpm: int, pays: bool) -> None:
    assert plan.export_pays(paged, tasks, rpm) is pays, case


# (case, previous state, targeted by follow mode, covered by the workspace's events) -> left idle
IDLE_CASES = [
    ("a scheduled run reads every project", LOADED, True, False, False),
    ("follow mode: a quiet project is left as loaded", LOADED, False, False, True),
    ("follow mode: a project never loaded is read", NEW, False, False, False),
    ("follow mode: the workspace's events cover it, and this run takes them", LOADED, False, True, False),
]


@pytest.mark.parametrize("case, previous, targeted, covered_by_workspace, expected", IDLE_CASES, ids=[c[0] for c in IDLE_CASES])
def test_which_projects_a_run_leaves_idle(case: str, previous: Dict[str, Any], targeted: bool, covered_by_workspace: bool,
                                          expected: bool) -> None:
    assert plan.idle(previous, targeted, covered_by_workspace) is expected, case
