"""`full-quota`: a full load under Asana's paid quota (1,500/min) and latency.

Requests against their lower bound (`bench.bounds`), wall time against the quota's floor
(requests / quota), and the share of 429s. `--full-quota-tasks` runs it at another size.
"""

from typing import List

from bench.bounds import full_load_bound
from bench.results import Row, Target
from bench.scenarios.harness import Bench
from bench.scenarios.sizes import size_label


def run(bench: Bench) -> List[Row]:
    """Requests against their lower bound, and wall time against the quota's floor."""
    s = bench.sizes
    tasks = bench.full_quota_tasks or s.tasks
    projects = s.cpu_projects if bench.full_quota_tasks else s.projects
    bench.log(f"full-quota: quota {s.quota_per_minute}/min, latency {s.quota_latency_ms:g} ms")
    with bench.simulator(tasks, projects, latency_ms=s.quota_latency_ms, quota_per_minute=s.quota_per_minute) as sim:
        bound = full_load_bound(sim.store)
        # Twice the quota's floor before the run is given up: at 100k tasks that is ~3.5 hours.
        timeout_s = max(s.timeout_s, 2.0 * sum(bound.values()) / s.quota_per_minute * 60.0)
        bench.log(f"  bound {sum(bound.values()):,} requests: floor {sum(bound.values()) / s.quota_per_minute:.1f} min")
        run = bench.source_run(sim, bench.workdir("full-quota"), s.quota_per_minute, bound, timeout_s=timeout_s)
    name = "full-quota" if not bench.full_quota_tasks else f"full-quota:{size_label(tasks)}"
    row = bench.fill(Row(name), run)
    assert row.requests is not None
    row.floor_s = row.requests / s.quota_per_minute * 60.0
    share_429 = 100.0 * (row.throttled_429 or 0) / row.requests if row.requests else None
    row.targets = [
        Target("req", row.request_ratio, 1.02),
        Target("wall", row.time_ratio, 1.1),
        Target("429s", share_429, 1.0, unit="%"),
    ]
    row.notes.append(f"floor = requests / {s.quota_per_minute} per min")
    return [row]
