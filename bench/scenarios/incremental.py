"""`incremental`: a full load, 1% of the tasks changed through Asana's write endpoints, then the
measured second load, whose requests are judged against what the changes need (`incremental_bound`).
"""

from typing import List

from bench.bounds import full_load_bound, incremental_bound
from bench.changes import apply_changes, pick_tasks
from bench.results import Row, Target
from bench.scenarios.harness import Bench


def run(bench: Bench) -> List[Row]:
    """A full load, 1% of tasks changed over HTTP, then the measured second load."""
    s = bench.sizes
    bench.log("incremental: preparation run (no quota, no latency)")
    with bench.simulator(s.tasks, s.projects) as sim:
        workdir = bench.workdir("incremental")
        prep = bench.source_run(sim, workdir, 0, full_load_bound(sim.store))
        if not prep.outcome.ok:
            row = bench.fill(Row("incremental"), prep)
            row.notes.insert(0, "the preparation (full) run failed; nothing measured")
            return [row]
        picked = pick_tasks(sim.store, s.change_share, bench.seed)
        mark = sim.events.mark()
        done = apply_changes(sim.base_url, sim.token, picked)
        changed = {gid for gid, _ in picked}
        events = {gid: sim.events.count(gid, mark) for gid in sim.store.records["project"]}
        bound = incremental_bound(sim.store, changed, events=events)
        sim.config.latency_ms = s.quota_latency_ms
        sim.config.quota_per_minute = s.quota_per_minute
        bench.log(
            f"  changed {len(changed)} tasks ({done}); measured run with quota"
            f" {s.quota_per_minute}/min, latency {s.quota_latency_ms:g} ms"
        )
        run = bench.source_run(sim, workdir, s.quota_per_minute, bound)
    row = bench.fill(Row("incremental"), run)
    assert row.requests is not None
    row.floor_s = row.requests / s.quota_per_minute * 60.0
    row.targets = [Target("req", row.request_ratio, 1.1)]
    row.details["changes"] = done
    row.notes.append(
        f"changed {len(changed)} of {len(sim.store.records['task']):,} tasks via HTTP {done};"
        " floor = requests / quota (no time target)"
    )
    row.notes.append(
        f"bound = small listings {sum(v for k, v in bound.items() if k not in ('events', 'tasks', 'stories'))}"
        f" + events {bound['events']} (⌈events/100⌉, at least 1, per project: {sum(events.values())} events"
        f" in {len(events)} projects) + tasks {bound['tasks']} (⌈changed/100⌉, at least 1, per project)"
        f" + stories {bound['stories']} (⌈stories/100⌉ per changed task)"
    )
    return [row]
