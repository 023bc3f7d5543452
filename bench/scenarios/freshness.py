"""`freshness`: how soon an edit in Asana is queryable in DuckDB while follow mode runs for minutes
under the quota, and whether the warehouse equals Asana when the edits stop.

Per mode (a plan and an organization's size): the CLI loads the workspace fully (no quota), then
follows it (`--follow`, defaults: events read every 5 s, a full cycle every 5 minutes) under a
quota of 1,500/min. Meanwhile the bench renames a task every few seconds through Asana's write
endpoint: most renames go to a few busy projects, the rest anywhere, each to a task not renamed
before. When the stream stops, follow mode gets time for one more sweep, then SIGTERM.

An edit is queryable when the load holding its row committed: `_dlt_loads.inserted_at` of the
row's `_dlt_load_id` minus the moment the bench sent the rename (an upper bound: a row written
again by a later load would only read later). Requests per cycle and per minute come from the
simulator's log, CPU and wall per cycle from the cycle lines, RSS from the process.
"""

import json
import random
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

import duckdb
import requests

from bench.following import CliRuns, mean, percentile
from bench.procs import REPO_ROOT
from bench.results import Row, Target
from bench.scenarios.harness import Bench
from bench.scenarios.sizes import BIG_ORG_MODES, FRESHNESS_MODES

# Mode -> (plan switches, whether it is the big organization); the names are `FRESHNESS_MODES`.
MODES: Dict[str, Tuple[Dict[str, bool], bool]] = {
    "workspace": (BIG_ORG_MODES["workspace"], True),
    "project-events": (BIG_ORG_MODES["project-events"], False),
    "project-events-big": (BIG_ORG_MODES["project-events"], True),
}
P95_GOAL_S = 60.0
RESULTS = REPO_ROOT / "bench" / "results"
BUSY_PROJECTS, BUSY_SHARE = 10, 0.7
DATASET = "asana_data"


@dataclass
class Edit:
    task: str
    project: str
    busy: bool
    name: str
    sent_at: float


def run(bench: Bench) -> List[Row]:
    return [_mode(bench, mode) for mode in bench.freshness_modes]


def _mode(bench: Bench, mode: str) -> Row:
    s = bench.sizes
    plan, big = MODES[mode]
    projects_n = s.freshness_big_projects if big else s.freshness_projects
    tasks_n = projects_n * s.freshness_tasks_per_project
    minutes = bench.freshness_minutes or s.freshness_minutes
    name = f"freshness:{mode}:{projects_n}"
    bench.log(f"{name}: {tasks_n:,} tasks in {projects_n:,} projects; full load (no quota), then {minutes:g} min of edits")
    with bench.simulator(tasks_n, projects_n, **plan) as sim:
        runs = CliRuns(bench.workdir(f"freshness-{mode}"), sim.base_url, sim.token, 0)
        prep = runs.scheduled()
        if prep.returncode != 0:
            return Row(name, error=f"the preparation run failed: {prep.output[-500:]}")
        runs.env["SOURCES__ASANA_DLT__REQUESTS_PER_MINUTE"] = str(s.freshness_quota_per_minute)
        # The renames come from other people's tokens in Asana; here they share the one token, so
        # the simulator's quota leaves room for them on top of the follower's.
        edits_per_minute = 60.0 / s.freshness_edit_every_s
        sim.config.quota_per_minute = s.freshness_quota_per_minute + int(edits_per_minute) + 1
        sim.config.latency_ms = s.freshness_latency_ms
        sim.reset_requests()
        runs.start_following()
        runs.wait_for(lambda st: st.get("cycles", 0) >= 1, "the first cycle", timeout_s=1800)
        bench.log(f"  following ({runs.tail(1)}); renaming a task every {s.freshness_edit_every_s:g} s")
        requests_before, cycles_before, cpu_before = len(sim.requests()), len(runs.cycles()), runs.cpu_s()
        rss_start, folder_start = runs.rss_mb(), runs.folder()
        edits, rss = _stream(sim, runs, minutes * 60, s.freshness_edit_every_s, bench.seed)
        streamed_requests = len(_reads(sim.requests()[requests_before:]))
        drain_s = s.freshness_drain_s
        bench.log(f"  {len(edits)} renames sent; {drain_s:g} s more for the last of them, then SIGTERM")
        _idle(runs, drain_s)
        cpu_total = runs.cpu_s() - cpu_before
        rss_end = runs.rss_mb()
        code = runs.stop()
        folder_end = runs.folder()
        cycles = runs.cycles()[cycles_before:]
        keep = RESULTS / f"follow-{mode}.log"  # the cycle lines, for reading after the run
        keep.parent.mkdir(parents=True, exist_ok=True)
        keep.write_text(runs.log_path.read_text(encoding="utf-8"), encoding="utf-8")
        latencies = _latencies(runs.database, edits)
        mismatches = _mirror(runs.database, sim)
        requests_log = _reads(sim.requests()[requests_before:])
    # Each edit, for reading after the run: seconds into the stream, project, busy, latency.
    started = edits[0].sent_at if edits else 0.0
    (RESULTS / f"follow-{mode}-edits.json").write_text(json.dumps({"stream_started_at": started, "edits": [
        [round(e.sent_at - started, 1), e.project, e.busy, None if latencies[e.task] is None else round(latencies[e.task], 1)]
        for e in edits]}), encoding="utf-8")
    row = _row(name, mode, projects_n, tasks_n, minutes, edits, latencies, cycles, streamed_requests, requests_log,
               cpu_total, rss_start, rss_end, rss, code, mismatches, s.freshness_quota_per_minute)
    row.details.update(folder_start_mb=folder_start[0], folder_end_mb=folder_end[0],
                       loaded_packages_start=folder_start[1], loaded_packages_end=folder_end[1])
    row.notes.append(
        f"working folder {folder_start[0]:.1f} MB ({folder_start[1]} loaded packages) at the stream's start,"
        f" {folder_end[0]:.1f} MB ({folder_end[1]}) after it, {len(cycles)} cycles later"
    )
    return row


def _stream(sim: Any, runs: CliRuns, seconds: float, every_s: float, seed: int) -> Tuple[List[Edit], List[float]]:
    """Renames a task every `every_s` for `seconds`; samples the follower's RSS meanwhile."""
    rng = random.Random(seed)
    with sim.store.lock:
        by_project = {gid: [t for t in tasks if sim.store.records["task"].get(t, {}).get("parent") is None]
                      for gid, tasks in sim.store.project_tasks.items()
                      if not sim.store.records["project"].get(gid, {}).get("archived")}
    projects = sorted(p for p, tasks in by_project.items() if tasks)
    busy = projects[:BUSY_PROJECTS]
    for tasks in by_project.values():
        rng.shuffle(tasks)
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {sim.token}"
    renamed: set = set()
    edits: List[Edit] = []
    rss: List[float] = []
    started = time.monotonic()
    next_edit = started
    while time.monotonic() - started < seconds:
        if runs.process is None or runs.process.poll() is not None:
            raise RuntimeError(f"follow mode ended during the stream: {runs.tail()}")
        now = time.monotonic()
        if now >= next_edit:
            pool = busy if rng.random() < BUSY_SHARE else projects
            project = rng.choice(pool)
            task = next((t for t in by_project[project] if t not in renamed), None)
            if task is not None:
                renamed.add(task)
                name = f"fresh {len(edits) + 1} {task}"
                sent = time.time()
                response = session.put(f"{sim.base_url}/tasks/{task}", json={"data": {"name": name}}, timeout=30)
                if response.status_code < 300:
                    edits.append(Edit(task, project, project in busy, name, sent))
            next_edit += every_s
            if len(edits) % 10 == 0:
                rss.append(runs.rss_mb())
        time.sleep(0.05)
    return edits, rss


def _reads(records: list) -> list:
    """The follower's requests: the bench's own renames (PUT) left out."""
    return [r for r in records if r.method != "PUT"]


def _idle(runs: CliRuns, seconds: float) -> None:
    """Lets follow mode run on for `seconds` (it may still be loading the last edits)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if runs.process is None or runs.process.poll() is not None:
            raise RuntimeError(f"follow mode ended after the stream: {runs.tail()}")
        time.sleep(0.5)


def _latencies(database: Any, edits: List[Edit]) -> Dict[str, Optional[float]]:
    """Seconds from each rename to its row's load committing; None when the row never showed it."""
    with duckdb.connect(str(database), read_only=True) as con:
        loaded = {
            gid: (name, inserted.timestamp())
            for gid, name, inserted in con.execute(
                f"SELECT t.gid, t.name, l.inserted_at FROM {DATASET}.tasks t"
                f" JOIN {DATASET}._dlt_loads l ON t._dlt_load_id = l.load_id"
                f" WHERE t.gid IN (SELECT unnest(?))", [[e.task for e in edits]]
            ).fetchall()
        }
    out: Dict[str, Optional[float]] = {}
    for edit in edits:
        name, at = loaded.get(edit.task, (None, 0.0))
        out[edit.task] = at - edit.sent_at if name == edit.name else None
    return out


def _mirror(database: Any, sim: Any) -> Dict[str, int]:
    """Rows that differ from the simulator's truth: tasks (name, completed, modified_at, parent)
    and stories (text), missing or extra."""
    with sim.store.lock:
        tasks = sim.store.all("task")
        want_tasks = {(t["gid"], t["name"], t["completed"], (t["parent"] or {}).get("gid")) for t in tasks}
        want_stories = {(st["gid"], st["text"]) for t in tasks for st in sim.store.stories(t)}
    live = "NOT coalesce(is_deleted, false)"
    with duckdb.connect(str(database), read_only=True) as con:
        got_tasks = set(con.execute(f"SELECT gid, name, completed, parent__gid FROM {DATASET}.tasks WHERE {live}").fetchall())
        got_stories = set(con.execute(f"SELECT gid, text FROM {DATASET}.stories WHERE {live}").fetchall())
        dupes = con.execute(f"SELECT count(*) - count(DISTINCT gid) FROM {DATASET}.tasks").fetchone()[0]
    return {
        "tasks_missing": len(want_tasks - got_tasks), "tasks_extra": len(got_tasks - want_tasks),
        "stories_missing": len(want_stories - got_stories), "stories_extra": len(got_stories - want_stories),
        "duplicate_tasks": int(dupes), "tasks": len(want_tasks), "stories": len(want_stories),
    }


def _row(name: str, mode: str, projects_n: int, tasks_n: int, minutes: float, edits: List[Edit],
         latencies: Dict[str, Optional[float]], cycles: list, streamed_requests: int, log: list, cpu_total: float,
         rss_start: float, rss_end: float, rss: List[float], code: int, mismatches: Dict[str, int], quota: int) -> Row:
    def stats(selected: List[Edit]) -> Tuple[Optional[float], Optional[float], int]:
        values = [latencies[e.task] for e in selected]
        missing = sum(v is None for v in values)
        known = sorted(v for v in values if v is not None)
        padded = known + [float("inf")] * missing  # an edit never loaded counts as the slowest
        return percentile(padded, 0.5), percentile(padded, 0.95), missing

    p50, p95, missing = stats(edits)
    busy50, busy95, _ = stats([e for e in edits if e.busy])
    # A busy project is busy to the watcher only once its events have shown a change: its first
    # edit waits like any quiet project's (up to a sweep), and so do those sent before that one
    # loaded. The edits sent after it show how the busiest projects fare once known, as they are
    # in a process that has run for a while.
    known: Dict[str, float] = {}
    for e in sorted(edits, key=lambda e: e.sent_at):
        if e.project not in known and latencies[e.task] is not None:
            known[e.project] = e.sent_at + latencies[e.task]
    seen50, seen95, _ = stats([e for e in edits if e.busy and e.sent_at > known.get(e.project, float("inf"))])
    rest50, rest95, _ = stats([e for e in edits if not e.busy])
    by_kind = Counter("events" if r.path.endswith("/events") else "other" for r in log)
    idle = [c for c in cycles if c.idle]
    row = Row(name, requests=len(log), throttled_429=sum(1 for r in log if r.status == 429), wall_s=p95,
              peak_rss_mb=max([rss_start, rss_end, *rss]))
    row.targets = [Target("p95", p95, P95_GOAL_S, unit="s")]
    if mode == "project-events-big":  # the bound: one events read per project at 25/s
        row.targets = [Target("p95 vs one sweep", p95, projects_n / (quota / 60.0), unit="s")]
    row.floor_s = row.targets[0].limit
    mirrored = not any(v for k, v in mismatches.items() if k not in ("tasks", "stories"))
    if not mirrored or code != 0:
        row.error = f"after the stream: {mismatches}, exit code {code}"
    row.details.update(
        mode=mode, projects=projects_n, tasks=tasks_n, minutes=minutes, edits=len(edits), not_loaded=missing,
        p50_s=p50, p95_s=p95, busy_p50_s=busy50, busy_p95_s=busy95, rest_p50_s=rest50, rest_p95_s=rest95,
        busy_seen_p50_s=seen50, busy_seen_p95_s=seen95,
        cycles=len(cycles), full_cycles=sum(c.full for c in cycles), idle_cycles=len(idle),
        requests_per_cycle=len(log) / max(1, len(cycles)), requests_per_minute=streamed_requests / minutes,
        requests_by_kind=dict(by_kind), cpu_per_cycle_s=mean([c.cpu_s for c in cycles]),
        cpu_per_idle_cycle_s=mean([c.cpu_s for c in idle]) if idle else None, cpu_total_s=cpu_total,
        rss_start_mb=rss_start, rss_end_mb=rss_end, mirror=mismatches, exit_code=code,
    )
    row.notes.append(
        f"{len(edits)} renames in {minutes:g} min ({BUSY_SHARE:.0%} to {BUSY_PROJECTS} busy projects) on {tasks_n:,}"
        f" tasks in {projects_n:,} projects, quota {quota:,}/min: edit -> queryable p50 {_s(p50)}, p95 {_s(p95)}"
        f" (busy projects {_s(busy50)} / {_s(busy95)}, once seen changing {_s(seen50)} / {_s(seen95)};"
        f" the rest {_s(rest50)} / {_s(rest95)}); {missing} never loaded"
    )
    row.notes.append(
        f"{len(cycles)} cycles ({sum(c.full for c in cycles)} full, {len(idle)} found nothing):"
        f" {row.details['requests_per_cycle']:.1f} requests per cycle, {streamed_requests / minutes:,.0f} per minute"
        f" during the stream ({by_kind['events']:,} of {len(log):,} events reads), {row.throttled_429} answered 429;"
        f" CPU {row.details['cpu_per_cycle_s']:.2f} s per cycle"
        + (f", {row.details['cpu_per_idle_cycle_s']:.2f} s per idle cycle" if idle else "")
        + f", {cpu_total:.0f} s in all"
    )
    row.notes.append(
        f"RSS {rss_start:.0f} MB at the stream's start, {rss_end:.0f} MB at its end (max {row.peak_rss_mb:.0f} MB);"
        f" after SIGTERM (exit {code}): tasks {mismatches['tasks']:,} and stories {mismatches['stories']:,}"
        f" {'equal Asana' if mirrored else 'DIFFER from Asana: ' + str(mismatches)}"
    )
    return row


def _s(value: Optional[float]) -> str:
    return "n/a" if value is None else ("never" if value == float("inf") else f"{value:.1f} s")
