"""`memory`: peak RSS at the memory size and at the cpu size, and how it grows between them.

The cpu-sized run is the cpu scenario's when it ran in the same bench (`Bench.large_runs`).
"""

from typing import List

from bench.bounds import full_load_bound
from bench.results import Row, Target
from bench.scenarios.harness import Bench
from bench.scenarios.sizes import size_label


def run(bench: Bench) -> List[Row]:
    """Peak RSS at the memory size and at the cpu size (reusing the cpu run if there was one)."""
    s = bench.sizes
    small_label, large_label = size_label(s.memory_small_tasks), size_label(s.cpu_tasks)
    bench.log(f"memory: {small_label} tasks, then {large_label} (the cpu run's, if any)")
    with bench.simulator(s.memory_small_tasks, s.cpu_projects) as sim:
        bound = full_load_bound(sim.store, bench.cpu_resources)
        small = bench.source_run(sim, bench.workdir("memory"), 0, bound, bench.cpu_resources)
    key = (s.cpu_tasks, bench.loader_format)
    reused = key in bench.large_runs
    if not reused:
        with bench.simulator(s.cpu_tasks, s.cpu_projects, keep_generated_stories=True) as sim:
            bench.large_run(sim)
    small_row = bench.fill(Row(f"memory@{small_label}"), small)
    large_row = bench.fill(Row(f"memory@{large_label}"), bench.large_runs[key])
    large_row.notes.append("the cpu scenario's run, reused" if reused else "own run (cpu was not run)")
    # A child killed at the RSS cap still reports the RSS it reached: a lower bound, enough to miss.
    growth = large_row.peak_rss_mb / small_row.peak_rss_mb if large_row.peak_rss_mb and small_row.peak_rss_mb else None
    small_row.notes.append(f"targets are judged on the memory@{large_label} row")
    killed = large_row.error is not None  # its RSS is where the watchdog stopped it
    large_row.targets = [
        Target(f"RSS@{large_label}", large_row.peak_rss_mb, 400.0, unit="MB", lower_bound=killed),
        Target(f"RSS {large_label}/{small_label}", growth, 2.0, lower_bound=killed),
    ]
    return [small_row, large_row]
