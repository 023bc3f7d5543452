"""What a child process measures around one `pipeline.run`, the same way for source and floor.

Lives in the child: its wall time, rows and peak RSS are the pipeline's own, not the bench's or
the simulator's, which run in the parent process.
"""

import os
import resource
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import dlt

from asana_app.destinations import duckdb_destination
from asana_app.runs import load_package

DATASET = "asana_data"


def make_pipeline(workdir: str, name: str, table_format: Optional[str] = None) -> dlt.Pipeline:
    """A pipeline with its own pipelines_dir and DuckDB file under `workdir`.

    With a `table_format` the destination is the filesystem, a bucket folder under `workdir`.

    A second run with the same `workdir` and `name` continues from the first one's state,
    which is how the incremental scenario runs twice.
    """
    base = Path(workdir)
    return dlt.pipeline(
        pipeline_name=name,
        pipelines_dir=str(base / "pipelines"),
        # The CLI's DuckDB settings, so the bench measures what a user's run uses.
        destination=(
            dlt.destinations.filesystem(str(base / "bucket"))
            if table_format
            else duckdb_destination(str(base / f"{name}.duckdb"))
        ),
        dataset_name=DATASET,
        progress=None,
    )


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, from /proc (VmHWM).

    Not `getrusage`'s ru_maxrss: Linux carries it over fork and exec, so a child started by a
    bench holding a 100k-task simulator reported the parent's ~840 MB as its own peak.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def current_rss_mb() -> float:
    """Resident set size now, from /proc, so no psutil import is needed in the child."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return float("nan")


class RssSampler:
    """Samples this process's RSS and CPU time every `interval` seconds in a daemon thread.

    `pipeline.run` is one call; sampling with timestamps lets peak memory and CPU be split by
    step (extract, normalize, load) afterwards, from the trace's step times.
    """

    def __init__(self, interval: float = 0.1) -> None:
        self.samples: List[Tuple[float, float, float]] = []
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self._interval)

    def _sample(self) -> None:
        cpu = os.times()
        self.samples.append((time.time(), current_rss_mb(), cpu.user + cpu.system))

    def __enter__(self) -> "RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def peak_between(self, start: float, end: float) -> Optional[float]:
        """Highest sampled RSS between two wall-clock timestamps, None if no sample fell there."""
        inside = [rss for at, rss, _ in self.samples if start <= at <= end]
        return max(inside) if inside else None

    def cpu_between(self, start: float, end: float) -> Optional[float]:
        """CPU seconds (user + system, all threads) used between two timestamps, to ~`interval`."""
        inside = [cpu for at, _, cpu in self.samples if start <= at <= end]
        return inside[-1] - inside[0] if len(inside) > 1 else None


def extract_workers() -> Dict[str, Any]:
    """The `[extract] workers` this run resolved, and where it came from."""
    if os.environ.get("EXTRACT__WORKERS"):
        return {"workers": int(os.environ["EXTRACT__WORKERS"]), "from": "EXTRACT__WORKERS"}
    configured = dlt.config.get("extract.workers")
    if configured is not None:
        return {"workers": int(configured), "from": ".dlt/config.toml"}
    return {"workers": 5, "from": "dlt default"}


def _file_formats(info: Any) -> List[str]:
    """The loader file formats the load actually used, read from its completed jobs."""
    found = set()
    for package in getattr(info, "load_packages", None) or []:
        for job in package.jobs.get("completed_jobs", []):
            fmt = getattr(job.job_file_info, "file_format", None)
            if fmt:
                found.add(str(fmt))
    return sorted(found)


def _keep_step_traces(pipeline: dlt.Pipeline) -> List[Any]:
    """The trace of each of dlt's steps the lakehouse run calls one by one (dlt keeps only the last)."""
    traces: List[Any] = []
    for name in ("extract", "normalize", "load"):
        step = getattr(pipeline, name)

        def traced(*args: Any, _step: Any = step, **kwargs: Any) -> Any:
            try:
                return _step(*args, **kwargs)
            finally:
                traces.append(pipeline.last_trace)

        setattr(pipeline, name, traced)
    return traces


def timed_run(
    pipeline: dlt.Pipeline,
    data: Any,
    loader_format: Optional[str],
    table_format: Optional[str] = None,
    fork_steps: bool = False,
    child_extras: Optional[Callable[[], Dict[str, Any]]] = None,
) -> Dict[str, Any]:
    """Runs the pipeline once and reports wall time, steps, rows, formats and memory.

    Only the run is timed: imports, building the source and reading the data into memory (for
    the floor) are outside, so source and floor are timed alike. With a `table_format` the run
    is the CLI's and the orchestrators' into Delta/Iceberg (`lakehouse.mirror_run`), not dlt's
    `run`, so the bench measures what users run. With `fork_steps` (the source into DuckDB or
    Postgres) it runs as the CLI does: extract and normalize in a forked child, the load here
    (`process_memory.in_forked_child`); the child's steps, peak, CPU and `child_extras()` (what
    only the child saw, such as the rate limiter) come back with its result.
    """
    kwargs = {"loader_file_format": loader_format} if loader_format else {}
    if fork_steps and not table_format:
        return _forked_run(pipeline, data, kwargs, child_extras)
    traces = _keep_step_traces(pipeline) if table_format else []
    rss_before = current_rss_mb()
    cpu_before = os.times()
    with RssSampler() as sampler:
        started = time.perf_counter()
        if table_format:
            from asana_app.lakehouse import mirror_run

            info = mirror_run(pipeline, data, table_format, **kwargs)
        else:
            info = pipeline.run(data, **kwargs)
        wall = time.perf_counter() - started
    cpu_after = os.times()
    trace = pipeline.last_trace
    all_steps = [s for t in (traces or [trace]) for s in t.steps]
    steps, step_rss, step_cpu = _by_step(all_steps, sampler)
    if traces:  # the normalize step's own trace
        normalize = next((t.last_normalize_info for t in traces if t.last_normalize_info), None)
    else:
        normalize = trace.last_normalize_info
    return _result(wall, (steps, step_rss, step_cpu), normalize.row_counts if normalize else {}, info, rss_before,
                   peak_rss_mb(), (cpu_after.user - cpu_before.user, cpu_after.system - cpu_before.system))


def _result(wall: float, by_step: Tuple[Dict[str, Any], ...], row_counts: Dict[str, int], info: Any,
            rss_before: float, peak: float, cpu: Tuple[float, float]) -> Dict[str, Any]:
    """One run's figures, in the form the bench parent reads (`bench/child.py`)."""
    rows = {t: n for t, n in row_counts.items() if not t.startswith("_dlt")}
    steps, step_rss, step_cpu = by_step
    return {
        "wall_s": wall, "steps_s": steps, "rows": rows, "rows_total": sum(rows.values()),
        "file_formats": _file_formats(info), "rss_before_run_mb": rss_before, "peak_rss_mb": peak,
        "peak_rss_mb_by_step": step_rss, "cpu_s_by_step": step_cpu, "cpu_user_s": cpu[0], "cpu_system_s": cpu[1],
    }


def _by_step(all_steps: List[Any], sampler: "RssSampler") -> Tuple[Dict[str, float], Dict[str, Any], Dict[str, Any]]:
    """Each dlt step's duration, and the sampler's peak RSS and CPU inside it."""
    timed = [s for s in all_steps if s.started_at and s.finished_at and s.step != "run"]
    steps = {s.step: (s.finished_at - s.started_at).total_seconds() for s in timed}
    spans = {s.step: (s.started_at.timestamp(), s.finished_at.timestamp()) for s in timed}
    return (
        steps,
        {step: sampler.peak_between(*span) for step, span in spans.items()},
        {step: sampler.cpu_between(*span) for step, span in spans.items()},
    )


def _forked_run(
    pipeline: dlt.Pipeline, data: Any, kwargs: Dict[str, Any], child_extras: Optional[Callable[[], Dict[str, Any]]]
) -> Dict[str, Any]:
    """The CLI's run: `fetch` (dlt's `run` up to the load) in a forked child, then the load here."""
    from asana_app.process_memory import in_forked_child

    def fetch() -> Dict[str, Any]:
        traces = _keep_step_traces(pipeline)
        cpu_before = os.times()
        with RssSampler() as sampler:
            pipeline.sync_destination()
            pipeline.extract(data, **kwargs)
            normalized = pipeline.normalize()
        cpu_after = os.times()
        steps, step_rss, step_cpu = _by_step([s for t in traces for s in t.steps], sampler)
        return {
            "rows": dict(normalized.row_counts) if normalized else {},
            "steps": (steps, step_rss, step_cpu),
            "peak_rss_mb": peak_rss_mb(),
            "cpu": (cpu_after.user - cpu_before.user, cpu_after.system - cpu_before.system),
            "extras": child_extras() if child_extras else {},
        }

    rss_before = current_rss_mb()
    started = time.perf_counter()
    fetched = in_forked_child(fetch, lambda exc: f"{type(exc).__name__}: {exc}")
    loader = dlt.pipeline(
        pipeline_name=pipeline.pipeline_name,
        pipelines_dir=pipeline.pipelines_dir,
        destination=pipeline.destination,
        dataset_name=pipeline.dataset_name,
        progress=None,
    )
    cpu_before = os.times()
    with RssSampler() as sampler:
        info = load_package(loader, fetched["rows"])  # as the CLI loads
    cpu_after = os.times()
    wall = time.perf_counter() - started
    steps, step_rss, step_cpu = fetched["steps"]
    load_steps = _by_step(list(loader.last_trace.steps), sampler)
    for mine, theirs in zip((steps, step_rss, step_cpu), load_steps):
        mine.update(theirs)
    cpu = (fetched["cpu"][0] + cpu_after.user - cpu_before.user, fetched["cpu"][1] + cpu_after.system - cpu_before.system)
    # Both processes' peaks: the child's (extract, normalize) and this one's (the load).
    peak = max(fetched["peak_rss_mb"], peak_rss_mb())
    result = _result(wall, (steps, step_rss, step_cpu), fetched["rows"], info, rss_before, peak, cpu)
    return {**result, "forked": True, **fetched["extras"]}
