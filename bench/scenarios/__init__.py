"""The benchmark scenarios, one module each: each starts a simulator, runs the real pipeline in a
child, and turns the simulator's request log and the child's report into rows with verdicts.

What they share (the simulator, the child runs, dlt's floor, filling a row) is `harness.Bench`;
their sizes are `sizes`. `run_scenario(bench, name)` runs one by its command-line name.
"""

from typing import Callable, Dict, List

from bench.results import Row
from bench.scenarios import (backfill, big_org, cpu, delta, export, follow_idle, formats, freshness, full_quota, incremental,
                             latency, memory)
from bench.scenarios.harness import Bench
from bench.scenarios.sizes import FORMATS, FULL, QUICK, Sizes

# Each scenario's `run(bench) -> rows`, by its command-line name.
RUNNERS: Dict[str, Callable[[Bench], List[Row]]] = {
    "full-quota": full_quota.run,
    "latency": latency.run,
    "incremental": incremental.run,
    "cpu": cpu.run,
    "memory": memory.run,
    "formats": formats.run,
    "delta": delta.run,
    "big-org": big_org.run,
    "export": export.run,
    "backfill": backfill.run,
    "follow-idle": follow_idle.run,
    "freshness": freshness.run,
}
# What runs without --scenario, and what runs only when asked for.
SCENARIOS = ("full-quota", "latency", "incremental", "cpu", "memory")
EXTRA_SCENARIOS = ("formats", "delta", "big-org", "export", "backfill", "follow-idle", "freshness")

__all__ = ["Bench", "EXTRA_SCENARIOS", "FORMATS", "FULL", "QUICK", "RUNNERS", "SCENARIOS", "Sizes", "run_scenario"]


def run_scenario(bench: Bench, name: str) -> List[Row]:
    """Runs one scenario by name and returns its rows."""
    return RUNNERS[name](bench)
