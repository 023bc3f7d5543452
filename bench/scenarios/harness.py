"""What every scenario shares: the simulator, the source's run in a child, dlt's floor, and
the filling of a row from a run's request log and the child's report.

The simulator runs in this process (a thread), so its data (`sim.store`) gives the lower bounds
and its request log counts requests and 429s as Asana would see them; the pipeline runs in its
own process (`bench.child`), so wall time and peak RSS are its own.
"""

import itertools
import json
import os
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

from asana_sim import AsanaSim, RequestRecord, SimConfig
from asana_sim.requestlog import http_requests
from bench.bounds import KINDS, full_load_bound, kind_of, requests_by_kind
from bench.floor import listings_from_log
from bench.procs import ChildOutcome, run_child
from bench.results import Row
from bench.scenarios.sizes import BIG_ORG_MODES, FRESHNESS_MODES, WITHOUT_STORIES, Sizes

TOKEN = "bench-token"
PIPELINE = "asana_bench"


def steps_summary(result: Dict[str, Any]) -> str:
    """`extract 12.3 s (peak 310 MB), normalize ...` from a child's result."""
    peaks = result.get("peak_rss_mb_by_step") or {}
    cpus = result.get("cpu_s_by_step") or {}
    parts = []
    for step, seconds in result.get("steps_s", {}).items():
        extra = [f"CPU {cpus[step]:.1f} s"] if cpus.get(step) is not None else []
        extra += [f"peak {peaks[step]:,.0f} MB"] if peaks.get(step) else []
        parts.append(f"{step} {seconds:.1f} s" + (f" ({', '.join(extra)})" if extra else ""))
    return ", ".join(parts)


def _concurrency(records: List[RequestRecord]) -> Optional[Dict[str, float]]:
    """Span of the run's HTTP traffic and the mean requests in flight, from the request log.

    Needs the simulator's request start times (`started_s`); None when it does not log them.
    """
    starts = [getattr(r, "started_s", 0.0) for r in records]
    if not records or not all(starts):
        return None
    span = max(s + r.duration_s for s, r in zip(starts, records)) - min(starts)
    busy = sum(r.duration_s for r in records)
    return {"span_s": span, "mean_in_flight": busy / span if span > 0 else 0.0}


@dataclass
class SourceRun:
    """One source run: what the child said and what the simulator saw.

    `sim_cpu_s` is the CPU this (the simulator's) process used meanwhile: with the child's own
    CPU it shows which side of the HTTP connection a run waited for.
    """

    outcome: ChildOutcome
    records: List[RequestRecord]
    bound: Counter
    sim_cpu_s: float = 0.0


class Bench:
    """What a bench run's scenarios share: its options, a scratch folder per run, the runs in
    children, and the cpu-sized run (`large_runs`), which memory and formats reuse.

    Each scenario is a module of `bench.scenarios` with a `run(bench) -> rows` function.

    Args:
        sizes: `FULL` or `QUICK`.
        loader_format: Loader file format for the source's runs; None keeps the pipeline's.
        rss_cap_mb: A child using more memory than this is killed and reported.
        workers: `EXTRACT__WORKERS` for the children; None keeps `.dlt/config.toml`'s.
        log: Where progress lines go (stderr, so stdout stays the table).
        seed: Simulator seed: same seed, same data, same bounds.
        cpu_without_stories: The cpu, memory and formats runs leave stories out.
        big_org_projects: Projects of the big-org scenario instead of the size's (a smaller run).
        big_org_tasks: Its tasks instead of the size's.
        big_org_modes: The change-capture modes big-org runs (None: all of `BIG_ORG_MODES`).
        full_quota_tasks: Tasks of the full-quota scenario instead of the size's (the issue's
            100k at 1,500/min takes about 105 minutes, so it is asked for, not the default).
        freshness_modes: The freshness scenario's modes (None: all of `FRESHNESS_MODES`).
        freshness_minutes: Minutes of edits per freshness mode instead of the size's.
        follow_cycles: follow-idle's idle cycles instead of the size's (memory over a long life).
    """

    def __init__(
        self,
        sizes: Sizes,
        loader_format: Optional[str],
        rss_cap_mb: float,
        workers: Optional[int],
        log: Callable[[str], None],
        seed: int = 1,
        cpu_without_stories: bool = False,
        big_org_projects: Optional[int] = None,
        big_org_tasks: Optional[int] = None,
        big_org_modes: Optional[List[str]] = None,
        full_quota_tasks: Optional[int] = None,
        freshness_modes: Optional[List[str]] = None,
        freshness_minutes: Optional[float] = None,
        follow_cycles: Optional[int] = None,
    ) -> None:
        self.sizes = sizes
        self.loader_format = loader_format
        self.rss_cap_mb = rss_cap_mb
        self.env = {"EXTRACT__WORKERS": str(workers)} if workers else {}
        self.log = log
        self.seed = seed
        self.cpu_resources: Optional[List[str]] = WITHOUT_STORIES if cpu_without_stories else None
        self.big_org_projects, self.big_org_tasks = big_org_projects, big_org_tasks
        unknown = set(big_org_modes or ()) - set(BIG_ORG_MODES)
        if unknown:
            raise ValueError(f"unknown big-org mode(s) {', '.join(sorted(unknown))}: use {', '.join(BIG_ORG_MODES)}")
        self.big_org_modes = list(big_org_modes or BIG_ORG_MODES)
        self.full_quota_tasks = full_quota_tasks
        self.freshness_modes = list(freshness_modes or FRESHNESS_MODES)
        unknown = set(self.freshness_modes) - set(FRESHNESS_MODES)
        if unknown:
            raise ValueError(f"unknown freshness mode(s) {', '.join(sorted(unknown))}: use {', '.join(FRESHNESS_MODES)}")
        self.freshness_minutes, self.follow_cycles = freshness_minutes, follow_cycles
        self._tmp = tempfile.TemporaryDirectory(prefix="asana-bench-")
        self._counter = itertools.count(1)
        self.large_runs: Dict[Tuple[int, Optional[str]], SourceRun] = {}

    def close(self) -> None:
        """Removes the DuckDB files and pipeline folders of every run."""
        self._tmp.cleanup()

    def workdir(self, name: str) -> Path:
        """A fresh folder for one run's pipeline and DuckDB file, numbered in the order runs start."""
        path = Path(self._tmp.name) / f"{next(self._counter):02d}-{name}"
        path.mkdir(parents=True)
        return path

    def simulator(self, tasks: int, projects: int, **limits: Any) -> AsanaSim:
        """A simulator for one scenario; read-only runs pass `keep_generated_stories`, so the
        simulator, which shares the 2 cores with the loader, does not rebuild stories per request."""
        self.log(f"generating {tasks:,} tasks in {projects} projects")
        return AsanaSim(token=TOKEN, config=SimConfig(seed=self.seed, tasks=tasks, projects=projects, **limits))

    def source_run(
        self,
        sim: AsanaSim,
        workdir: Path,
        rpm: int,
        bound: Counter,
        resources: Optional[List[str]] = None,
        loader_format: Optional[str] = None,
        table_format: Optional[str] = None,
        full_load: Optional[str] = None,
        timeout_s: Optional[float] = None,
        stories_since: Optional[str] = None,
    ) -> SourceRun:
        """One run of the real source in a child, against a freshly reset request log."""
        sim.reset_requests()
        spec = {
            "mode": "source",
            "workdir": str(workdir),
            "pipeline_name": PIPELINE,
            "base_url": sim.base_url,
            "token": sim.token,
            "requests_per_minute": rpm,
            "resources": resources,
            "loader_format": loader_format or self.loader_format,
            "table_format": table_format,
            "full_load": full_load,
            "stories_since": stories_since,
        }
        cpu_before = os.times()
        outcome = run_child(spec, timeout_s or self.sizes.timeout_s, self.rss_cap_mb, self.env)
        cpu_after = os.times()
        records = sim.requests()
        self.log(
            f"  pipeline {'finished' if outcome.ok else 'FAILED'} after {outcome.elapsed_s:.1f} s,"
            f" {len(records):,} requests" + ("" if outcome.ok else f": {outcome.error}")
        )
        sim_cpu = (cpu_after.user - cpu_before.user) + (cpu_after.system - cpu_before.system)
        return SourceRun(outcome, records, bound, sim_cpu)

    def floor(self, sim: AsanaSim, records: List[RequestRecord], formats: List[Optional[str]]) -> ChildOutcome:
        """dlt's floor in a child: the same listings fetched raw, then loaded per format."""
        workdir = self.workdir("floor")
        listings = listings_from_log(records)
        listings_file = workdir / "listings.json"
        listings_file.write_text(json.dumps(listings), encoding="utf-8")
        spec = {
            "mode": "floor",
            "workdir": str(workdir),
            "pipeline_name": "asana_floor",
            "base_url": sim.base_url,
            "token": sim.token,
            "listings_file": str(listings_file),
            "formats": formats,
        }
        self.log(f"  floor: fetching {len(listings):,} listings raw, then plain dlt.resource loads")
        outcome = run_child(spec, self.sizes.timeout_s, self.rss_cap_mb, self.env)
        self.log(
            f"  floor {'finished' if outcome.ok else 'FAILED'} after {outcome.elapsed_s:.1f} s"
            + ("" if outcome.ok else f": {outcome.error}")
        )
        return outcome

    @staticmethod
    def fill(row: Row, run: SourceRun) -> Row:
        """Copies a run's request figures, child figures and diagnostics into a row."""
        records, bound, outcome = run.records, run.bound, run.outcome
        row.requests = len(records)
        row.bound = sum(bound.values())
        row.throttled_429 = sum(1 for r in records if r.status == 429)
        by_kind = requests_by_kind(r.path for r in records)
        server_s: Dict[str, float] = defaultdict(float)
        for rec in records:
            server_s[kind_of(rec.path)] += rec.duration_s
        row.details.update(
            requests_by_kind=dict(by_kind),
            bound_by_kind=dict(bound),
            server_mean_ms_by_kind={k: 1000 * server_s[k] / n for k, n in by_kind.items()},
            status=dict(Counter(r.status for r in records)),
        )
        row.details["http_requests"] = http_requests(records)
        batched = sum(1 for r in records if getattr(r, "batch", 0))
        row.notes.append(
            f"HTTP requests {row.details['http_requests']:,} for {len(records):,} Asana requests"
            f" ({batched:,} of them as actions of {len({r.batch for r in records if getattr(r, 'batch', 0)}):,}"
            " batch requests); requests, bounds and 429s count Asana requests (the quota's unit)"
        )
        concurrency = _concurrency(records)
        if concurrency:
            row.details["http"] = concurrency
            row.notes.append(
                f"HTTP as the simulator saw it: {concurrency['span_s']:.1f} s from first request to last answer,"
                f" {concurrency['mean_in_flight']:.1f} in flight on average"
            )
        over = [f"{k} {by_kind[k]:,}/{bound.get(k, 0):,}" for k in (*KINDS, "other") if by_kind[k] > bound.get(k, 0)]
        if over:
            row.notes.append("requests over bound (made/bound): " + ", ".join(over))
        if outcome.ok:
            result = outcome.result or {}
            row.wall_s = result["wall_s"]
            row.rows_per_s = result["rows_total"] / result["wall_s"] if result["wall_s"] else None
            row.peak_rss_mb = result["peak_rss_mb"]
            row.details["child"] = result
            row.notes.append(
                f"steps: {steps_summary(result)}; rows {result['rows_total']:,}; formats"
                f" {','.join(result.get('file_formats') or ['?'])}"
            )
            extract_s = result["steps_s"].get("extract") or 0.0
            row.notes.append(
                f"CPU during the run: pipeline {result['cpu_user_s'] + result['cpu_system_s']:.1f} s,"
                f" simulator {run.sim_cpu_s:.1f} s; extract pace {len(records) / extract_s if extract_s else 0:,.0f}"
                " requests/s"
            )
            limiter = result.get("limiter")
            if limiter:
                row.notes.append(
                    f"limiter: started {limiter['requests_started']:,}, waited {limiter['wait_seconds']:.1f} s"
                    f" (summed over threads), max in flight {limiter['max_in_flight']}, 429s seen"
                    f" {limiter['throttled_429']}"
                )
        else:
            row.error = outcome.error
            row.peak_rss_mb = outcome.watched_peak_rss_mb or None
            row.details["child_stderr_tail"] = outcome.stderr_tail
            row.notes.append(f"pipeline run failed: {outcome.error}")
        return row

    def large_run(self, sim: AsanaSim, loader_format: Optional[str] = None) -> SourceRun:
        """The source's run on the cpu-sized account, once per loader format: cpu, memory and
        formats measure the same run rather than loading 100k tasks again."""
        key = (self.sizes.cpu_tasks, loader_format or self.loader_format)
        if key not in self.large_runs:
            bound = full_load_bound(sim.store, self.cpu_resources)
            self.large_runs[key] = self.source_run(sim, self.workdir("cpu"), 0, bound, self.cpu_resources, loader_format)
        return self.large_runs[key]
