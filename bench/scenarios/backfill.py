"""`backfill`: per-task tables selected after the first load, filled for every loaded task.

A full load of every default table but `stories`, then a measured run that selects `stories`,
`attachments` and `time_tracking_entries` too, with nothing changed in between: each of those
tables must list every loaded task once (`asana_dlt/coverage.py`), batched, within the quota,
and the tasks' own rows are not read again. Judged on listings per loaded task, per table, and
on the rows loaded against the simulator's.
"""

from collections import Counter
from typing import Dict, List, Set

from bench.bounds import full_load_bound, incremental_bound, pages
from bench.results import Row, Target
from bench.scenarios.harness import Bench
from bench.scenarios.sizes import ALL_RESOURCES, WITHOUT_STORIES

PER_TASK = {"stories": "stories", "attachments": "attachment", "time_tracking_entries": "time_tracking_entry"}


def _listed_task(path: str, params: Dict[str, str]) -> str:
    """Which table a request lists for which task ('' for other requests), as `table:gid`."""
    parts = path.strip("/").split("/")
    if len(parts) == 3 and parts[0] == "tasks" and parts[2] in ("stories", "time_tracking_entries"):
        return f"{parts[2]}:{parts[1]}"
    if path == "/attachments" and params.get("parent"):
        return f"attachments:{params['parent']}"
    return ""


def run(bench: Bench) -> List[Row]:
    """A full load without stories, then the measured run that adds the per-task tables."""
    s = bench.sizes
    bench.log(f"backfill: full load of {s.tasks:,} tasks without stories (no quota, no latency)")
    with bench.simulator(s.tasks, s.projects, premium=True) as sim:
        workdir = bench.workdir("backfill")
        prep = bench.source_run(sim, workdir, 0, full_load_bound(sim.store, WITHOUT_STORIES), WITHOUT_STORIES)
        if not prep.outcome.ok:
            row = bench.fill(Row("backfill"), prep)
            row.notes.insert(0, "the preparation (full) run failed; nothing measured")
            return [row]
        tasks = len(sim.store.records["task"])
        with sim.store.lock:
            story_pages = sum(pages(len(sim.store.stories(t))) for t in sim.store.all("task"))
        bound = incremental_bound(sim.store, set(), ALL_RESOURCES) + Counter(
            stories=story_pages, other=2 * tasks  # attachments and time tracking: a page each per task
        )
        sim.config.latency_ms, sim.config.quota_per_minute = s.quota_latency_ms, s.quota_per_minute
        bench.log(f"  measured run: stories, attachments, time tracking selected; quota {s.quota_per_minute}/min")
        measured = bench.source_run(
            sim, workdir, s.quota_per_minute, bound, [*ALL_RESOURCES, "attachments", "time_tracking_entries"]
        )
    row = bench.fill(Row("backfill"), measured)
    assert row.requests is not None
    row.floor_s = row.requests / s.quota_per_minute * 60.0
    listed: Dict[str, Set[str]] = {table: set() for table in PER_TASK}
    listings: Counter = Counter()
    for record in measured.records:
        key = _listed_task(record.path, record.params)
        if key:
            table, gid = key.split(":")
            listed[table].add(gid)
            listings[table] += 1
    per_task = {table: listings[table] / tasks for table in PER_TASK}
    row.targets = [Target(f"{table} requests/loaded task", per_task[table], 1.0) for table in ("attachments", "time_tracking_entries")]
    row.targets.append(Target("stories requests/story page", listings["stories"] / max(story_pages, 1), 1.0))
    rows_loaded = measured.outcome.result.get("rows", {}) if measured.outcome.result else {}
    row.notes.insert(
        0,
        f"backfill of {tasks:,} loaded tasks: "
        + "; ".join(
            f"{table} {len(listed[table]):,} tasks listed in {listings[table]:,} requests"
            f" ({per_task[table]:.3f} per task), {rows_loaded.get(table, 0):,} rows (simulator:"
            f" {len(sim.store.records[kind]) if kind in sim.store.records else sum(len(sim.store.stories(t)) for t in sim.store.all('task')):,})"
            for table, kind in PER_TASK.items()
        )
        + f"; stories pages needed {story_pages:,}; tasks' own rows read again: the listings only (no task read one by one)",
    )
    return [row]
