"""`latency`: a full load with no quota and a latency per request.

Wall time against the floor of Asana's 50 requests in flight, each taking the latency, and
how much of it is the extract against the normalize and load dlt runs after it.
"""

from typing import List, Optional

from bench.bounds import full_load_bound
from bench.results import Row, Target
from bench.scenarios.harness import Bench

# Asana's limit of concurrent requests per token: the latency floor's parallelism.
ASANA_MAX_IN_FLIGHT = 50


def run(bench: Bench) -> List[Row]:
    """Wall time against the floor of 50 requests in flight, each taking the latency."""
    s = bench.sizes
    bench.log(f"latency: no quota, latency {s.latency_ms:g} ms")
    with bench.simulator(s.tasks, s.projects, latency_ms=s.latency_ms, keep_generated_stories=True) as sim:
        bound = full_load_bound(sim.store)
        run = bench.source_run(sim, bench.workdir("latency"), 0, bound)
    row = bench.fill(Row("latency"), run)
    assert row.requests is not None
    row.floor_s = row.requests * s.latency_ms / 1000.0 / ASANA_MAX_IN_FLIGHT
    row.targets = [Target("wall", row.time_ratio, 1.2)]
    row.notes.append(f"floor = requests x {s.latency_ms:g} ms / {ASANA_MAX_IN_FLIGHT} in flight")
    breakdown = _after_extract(row)
    if breakdown:
        row.notes.append(breakdown)
    return [row]


def _after_extract(row: Row) -> Optional[str]:
    """What of a row's wall is its extract against the floor, and what dlt's normalize and load
    add after it: dlt normalizes only a finished extract, so those seconds cannot overlap the
    HTTP and even an extract exactly at the floor would be (floor + them) / floor."""
    steps = ((row.details.get("child") or {}).get("steps_s")) or {}
    extract = steps.get("extract")
    if not extract or not row.floor_s or not row.wall_s:
        return None
    after = sum(seconds for step, seconds in steps.items() if step in ("normalize", "load"))
    other = max(0.0, row.wall_s - extract - after)
    row.details["after_extract"] = {"extract_x": extract / row.floor_s, "normalize_load_s": after}
    return (
        f"breakdown: extract {extract:.2f} s = {extract / row.floor_s:.2f}x the floor; dlt's normalize + load"
        f" {after:.2f} s after it (not overlappable) and {other:.2f} s else; best reachable with this"
        f" normalize + load: {(row.floor_s + after) / row.floor_s:.2f}x"
    )
