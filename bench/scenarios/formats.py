"""`formats`: the cpu scenario once per loader file format, each against the floor in that format."""

from typing import List

from bench.results import Row
from bench.scenarios.cpu import cpu_row
from bench.scenarios.harness import Bench
from bench.scenarios.sizes import FORMATS


def run(bench: Bench) -> List[Row]:
    """The cpu scenario once per loader file format, each against the floor in that format."""
    s = bench.sizes
    bench.log(f"formats: cpu scenario with {', '.join(FORMATS)}")
    with bench.simulator(s.cpu_tasks, s.cpu_projects, keep_generated_stories=True) as sim:
        runs = {fmt: bench.large_run(sim, fmt) for fmt in FORMATS}
        reference = next((r for r in runs.values() if r.outcome.ok), next(iter(runs.values())))
        floor = bench.floor(sim, reference.records, list(FORMATS))
    return [cpu_row(bench, f"formats:{fmt}", run, floor, fmt) for fmt, run in runs.items()]
