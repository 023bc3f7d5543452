"""`big-org`: requests per project of an idle and an incremental run in a 2,000-project
organization, in each change-capture mode of `asana_dlt/workspace_changes.py`.
"""

from collections import Counter
from typing import Dict, List, Optional

from bench.bounds import full_load_bound, incremental_bound
from bench.changes import apply_changes, pick_tasks
from bench.results import Row, Target
from bench.scenarios.harness import Bench
from bench.scenarios.sizes import ALL_RESOURCES, BIG_ORG_MODES, NO_STORIES_BEFORE, WITHOUT_STORIES

# Issue 13's goal per project in each mode (None: polling has none; it lists every project).
BIG_ORG_GOALS: Dict[str, Optional[float]] = {"polling": None, "project-events": 1.0, "workspace": 0.05}


def run(bench: Bench) -> List[Row]:
    """Requests per project of an idle and of an incremental run in a 2,000-project organization,
    in each change-capture mode (`asana_dlt/workspace_changes.py`): polling (a free workspace),
    per-project events (search but no workspace events) and workspace events with search.

    Each mode gets its own simulator (same seed, same account) and full load; the measured
    runs load the core eight tables (the catalog's per-project tables are listed whole every
    run whatever the mode). The full loads select stories but read none (`stories_since` in the
    future): they would cost ~140k requests and change nothing in what the measured runs must ask
    for, and a stories table left out of the full load would be filled for every loaded task by
    the first measured run (`asana_dlt/coverage.py`), which is then no idle run.
    """
    s = bench.sizes
    projects_n = bench.big_org_projects or s.big_org_projects
    tasks_n = bench.big_org_tasks or s.big_org_tasks
    rows: List[Row] = []
    for mode in bench.big_org_modes:
        rows.extend(_mode(bench, mode, BIG_ORG_MODES[mode], tasks_n, projects_n))
    return rows

def _mode(bench: Bench, mode: str, plan: Dict[str, bool], tasks_n: int, projects_n: int) -> List[Row]:
    s = bench.sizes
    quota, latency = s.big_org_quota_per_minute, s.big_org_latency_ms
    bench.log(f"big-org ({mode}): {projects_n:,} projects, {tasks_n:,} tasks; full load without reading stories (no quota, no latency)")
    with bench.simulator(tasks_n, projects_n, **plan) as sim:
        workdir = bench.workdir(f"big-org-{mode}")
        prep = bench.source_run(sim, workdir, 0, full_load_bound(sim.store, WITHOUT_STORIES), list(ALL_RESOURCES),
                                stories_since=NO_STORIES_BEFORE)
        if not prep.outcome.ok:
            row = bench.fill(Row(f"big-org:{mode}:prep"), prep)
            row.notes.insert(0, "the preparation (full) run failed; nothing measured")
            return [row]
        projects = len(sim.store.records["project"])
        sim.config.latency_ms, sim.config.quota_per_minute = latency, quota
        polling = mode == "polling"
        bench.log(f"  idle run: nothing changed; quota {quota:,}/min, latency {latency:g} ms")
        idle = bench.source_run(sim, workdir, quota, incremental_bound(sim.store, set(), ALL_RESOURCES) if polling else Counter(),
                            list(ALL_RESOURCES))
        picked = pick_tasks(sim.store, s.big_org_change_share, bench.seed)
        done = apply_changes(sim.base_url, sim.token, picked)
        changed = {gid for gid, _ in picked}
        bench.log(f"  incremental run: {len(changed)} tasks changed ({done})")
        incremental = bench.source_run(sim, workdir, quota, incremental_bound(sim.store, changed, ALL_RESOURCES) if polling else Counter(),
                                   list(ALL_RESOURCES))
    goal = BIG_ORG_GOALS[mode]
    rows = []
    for name, run, what in (("idle", idle, "nothing changed"), ("incremental", incremental, f"{len(changed)} tasks changed {done}")):
        row = bench.fill(Row(f"big-org:{mode}:{name}"), run)
        assert row.requests is not None
        row.floor_s = row.requests / quota * 60.0
        per_project = row.requests / projects
        by_kind = row.details["requests_by_kind"]
        # What a changed task costs in any mode (its stories, reading it again) is not a cost of
        # watching the projects: shown apart, and the goal is checked on both figures.
        per_change = by_kind.get("stories", 0) + by_kind.get("other", 0) + by_kind.get("subtasks", 0)
        watching = (row.requests - per_change) / projects
        # Requests made for one project (its events, tasks and sections listings), without the
        # workspace-level ones (workspaces, projects per 100, tags, teams, users, workspace events, search).
        own = sum(1 for r in run.records if r.path == "/events" or r.path == "/tasks" or r.path.endswith("/sections"))
        row.details.update(requests_per_project=per_project, watching_per_project=watching,
                           project_requests_per_project=own / projects, mode=mode)
        # Workspace mode: the goal is on every request; per-project events: on the requests made per project.
        figure = watching if mode == "workspace" else own / projects
        label = "req/project" if mode == "workspace" else "per-project req/project"
        if name == "incremental":
            label += " w/o changed tasks' own"
        row.targets = [Target(f"{label} ({mode} goal)", figure, goal)] if goal else []
        row.notes.insert(
            0,
            f"{mode} mode: {per_project:.3f} requests per project, {watching:.3f} without the changed tasks' own,"
            f" {own / projects:.3f} made per project (events, tasks and sections listings)"
            f" ({row.requests:,} requests, {projects:,} projects, {tasks_n:,} tasks; events {by_kind.get('events', 0):,},"
            f" tasks/search {by_kind.get('tasks', 0):,}, sections {by_kind.get('sections', 0):,}, stories"
            f" {by_kind.get('stories', 0):,}, tasks read one by one {by_kind.get('other', 0):,}); {what};"
            f" goal {'<=' + format(goal, 'g') if goal else 'none (today: listings per project)'}; at Asana's"
            f" paid 1,500/min this run costs {row.requests / 1500 * 60:,.0f} s of quota; measured at {quota:,}/min,"
            f" latency {latency:g} ms",
        )
        rows.append(row)
    return rows
