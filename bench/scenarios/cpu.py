"""`cpu`: rows/s of the source against plain dlt loading the same pages from memory (the floor).

No quota, no latency: what is left is the loader's own CPU. `cpu_row` is shared with the
`formats` scenario, which runs the same comparison once per loader file format.
"""

from typing import List, Optional

from bench.procs import ChildOutcome
from bench.results import Row, Target
from bench.scenarios.harness import Bench, SourceRun, steps_summary


def run(bench: Bench) -> List[Row]:
    """Rows/s of the source against plain dlt loading the same pages from memory."""
    s = bench.sizes
    what = "every resource but stories" if bench.cpu_resources else "every resource (stories included)"
    bench.log(f"cpu: no quota, no latency, {what}")
    with bench.simulator(s.cpu_tasks, s.cpu_projects, keep_generated_stories=True) as sim:
        run = bench.large_run(sim)
        floor = bench.floor(sim, run.records, [bench.loader_format])
    row = cpu_row(bench, "cpu", run, floor, bench.loader_format)
    included = (
        "stories LEFT OUT (--cpu-without-stories)"
        if bench.cpu_resources
        else f"stories included ({row.details['requests_by_kind'].get('stories', 0):,} story requests)"
    )
    row.notes.append(
        f"{included}; floor = plain dlt.resource per table, same pages from memory, same hints, fresh DuckDB"
    )
    return [row]


def cpu_row(bench: Bench, name: str, run: SourceRun, floor: ChildOutcome, fmt: Optional[str]) -> Row:
    """A row comparing the source's rows/s with the floor's for one format."""
    row = bench.fill(Row(name), run)
    floor_run = ((floor.result or {}).get("runs") or {}).get(fmt or "default")
    ratio = None
    if floor_run:
        row.floor_s = floor_run["wall_s"]
        floor_rate = floor_run["rows_total"] / floor_run["wall_s"]
        ratio = row.rows_per_s / floor_rate if row.rows_per_s else None
        same = floor_run["rows"] == (run.outcome.result or {}).get("rows")
        row.notes.append(
            f"floor: {floor_rate:,.0f} rows/s ({floor_run['rows_total']:,} rows,"
            f" {'same' if same else 'DIFFERENT'} per-table counts as the source), steps {steps_summary(floor_run)}"
        )
        source = run.outcome.result or {}
        if source.get("cpu_user_s") is not None and floor_run.get("cpu_user_s") is not None:
            # CPU seconds move less with the machine's load than wall time does.
            src_cpu = source["cpu_user_s"] + source["cpu_system_s"]
            floor_cpu = floor_run["cpu_user_s"] + floor_run["cpu_system_s"]
            per_request = 1000 * src_cpu / len(run.records) if run.records else 0.0
            row.details["cpu_ratio"] = floor_cpu / src_cpu if src_cpu else None
            row.notes.append(
                f"CPU seconds: source {src_cpu:.1f} s ({per_request:.2f} ms per request), floor {floor_cpu:.1f} s:"
                f" floor/source {floor_cpu / src_cpu if src_cpu else 0:.2f}x (the load-robust form of rows/s vs floor)"
            )
        row.details["floor"] = {k: v for k, v in (floor.result or {}).items() if k != "runs"}
        row.details["floor"]["run"] = floor_run
    else:
        row.error = row.error or f"floor: {floor.error}"
        row.notes.append(f"floor failed: {floor.error}")
    row.targets = [Target("rows/s vs floor", ratio, 0.8, at_most=False)]
    return row
