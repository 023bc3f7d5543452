"""How big each scenario is, and the settings several scenarios share.

`FULL` is the issue's sizes, `QUICK` a smoke test of every path (`--quick`, what CI runs).
"""

from dataclasses import dataclass
from typing import Dict

FORMATS = ("parquet", "jsonl", "insert_values")
# big-org's change-capture modes: the simulator's plan switches (export runs in workspace mode).
BIG_ORG_MODES: Dict[str, Dict[str, bool]] = {
    "polling": {"workspace_events": False, "search": False},
    "project-events": {"workspace_events": False, "search": True},
    "workspace": {"workspace_events": True, "search": True},
}
# freshness's modes: a plan and an organization's size (`bench/scenarios/freshness.py`).
FRESHNESS_MODES = ("workspace", "project-events", "project-events-big")
# The cpu scenario loads every resource, stories included: at 100k tasks the source's run makes
# ~155k requests (~139k of them stories) and takes ~6 minutes on 2 cores, under the issue's
# ~10 minute limit, so nothing is left out by default (`--cpu-without-stories` leaves them out).
ALL_RESOURCES = ("workspaces", "projects", "sections", "tags", "tasks", "stories", "teams", "users")
WITHOUT_STORIES = [r for r in ALL_RESOURCES if r != "stories"]
# `stories_since` of a preparation run that selects stories but reads none (later than any task).
NO_STORIES_BEFORE = "2100-01-01"


@dataclass(frozen=True)
class Sizes:
    """How big each scenario is; `FULL` is the issue's, `QUICK` a smoke test of every path."""

    label: str
    tasks: int
    projects: int
    quota_per_minute: int
    quota_latency_ms: float
    latency_ms: float
    cpu_tasks: int
    cpu_projects: int
    memory_small_tasks: int
    change_share: float
    timeout_s: float
    big_org_tasks: int = 100_000
    big_org_projects: int = 2000
    big_org_change_share: float = 0.001
    # A paid quota scaled 10x (and Asana's latency kept) so that an idle run of ~4,000
    # requests takes ~20 s instead of ~3 minutes: requests per project do not depend on it.
    big_org_quota_per_minute: int = 15_000
    big_org_latency_ms: float = 50.0
    # follow-idle: full cycles measured (memory over more: --follow-cycles), cron runs beside
    # them, and seconds of watching between full cycles.
    follow_idle_cycles: int = 100
    follow_idle_cron_runs: int = 3
    follow_watch_s: float = 30.0
    # freshness: minutes of renames (one every edit_every_s), the organization's sizes per mode,
    # the quota follow mode runs under, and how long it runs on after the last rename.
    freshness_minutes: float = 10.0
    freshness_edit_every_s: float = 3.0
    freshness_projects: int = 200
    freshness_big_projects: int = 2000
    freshness_tasks_per_project: int = 10
    freshness_quota_per_minute: int = 1500
    freshness_latency_ms: float = 50.0
    freshness_drain_s: float = 150.0


FULL = Sizes("full", 2000, 20, 1500, 50.0, 100.0, 100_000, 20, 10_000, 0.01, 3600.0)
# Quick: a quota of 3,000/min still makes the limiter pace ~100 requests (its burst is 50);
# 250 tasks in 2 projects (125 each) still page the tasks listings.
# Its big-org (three modes, nine runs) has 120 tasks in 12 projects; a 1% change still changes one.
QUICK = Sizes("quick", 60, 4, 3000, 5.0, 5.0, 250, 2, 150, 0.01, 300.0, 120, 12, 0.01, 30_000, 5.0,
              follow_idle_cycles=3, follow_idle_cron_runs=1, follow_watch_s=2.0, freshness_minutes=0.25,
              freshness_edit_every_s=1.0, freshness_projects=6, freshness_big_projects=12,
              freshness_tasks_per_project=5, freshness_quota_per_minute=3000, freshness_latency_ms=5.0,
              freshness_drain_s=8.0)


def size_label(tasks: int) -> str:
    """`10k`, `100k` or `200`: how rows name the size of their run."""
    return f"{tasks // 1000}k" if tasks >= 1000 and tasks % 1000 == 0 else str(tasks)
