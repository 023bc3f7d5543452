"""Speed of the Asana source, measured against lower bounds: `python bench/run.py --help`.

Runs the real pipeline against `asana_sim` in child processes and prints one row per scenario:
requests, their lower bound and ratio, 429s, wall seconds, their floor and ratio, rows/s, peak
RSS, and a verdict against the issue's targets. The same goes to `bench/results/latest.json`
(`latest-quick.json` for `--quick`, so a smoke test never overwrites a real run's figures).

Speed lives here and only here: no test times anything.
"""

import argparse
import dataclasses
import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

if __package__ in (None, ""):  # `python bench/run.py`: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import dlt  # noqa: E402
import psutil  # noqa: E402

from bench.procs import REPO_ROOT  # noqa: E402
from bench.results import Row  # noqa: E402
from bench.scenarios import EXTRA_SCENARIOS, FORMATS, FULL, QUICK, SCENARIOS, Bench, run_scenario  # noqa: E402

RESULTS_DIR = REPO_ROOT / "bench" / "results"
COLUMNS = ("scenario", "requests", "bound", "req_x", "429s", "wall_s", "floor_s", "time_x", "rows/s", "rss_mb", "verdict")


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The command line; without options it runs every scenario at the issue's sizes."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scenario",
        action="append",
        choices=(*SCENARIOS, *EXTRA_SCENARIOS),
        help=f"run only this scenario (repeatable); default: {', '.join(SCENARIOS)}."
        f" 'formats' runs cpu once per loader file format ({', '.join(FORMATS)})",
    )
    parser.add_argument("--quick", action="store_true", help="every scenario tiny: a smoke test, not a measurement")
    parser.add_argument(
        "--loader-format",
        choices=FORMATS,
        default="parquet",
        help="loader file format (default: parquet, what asana_dlt_pipeline.py picks for DuckDB)",
    )
    parser.add_argument(
        "--workers", type=int, default=None, help="EXTRACT__WORKERS for the pipeline (default: .dlt/config.toml)"
    )
    parser.add_argument(
        "--rss-cap-mb",
        type=float,
        default=psutil.virtual_memory().total / 2**20 / 2,
        help="kill a pipeline process above this RSS (default: half the RAM)",
    )
    parser.add_argument(
        "--cpu-without-stories",
        action="store_true",
        help="cpu, memory and formats load every resource but stories (~1 request per task)",
    )
    parser.add_argument("--seed", type=int, default=1, help="simulator seed (default: 1)")
    parser.add_argument("--big-org-projects", type=int, default=None, metavar="N",
                        help="big-org: projects instead of 2,000 (e.g. 200 for a tenth of the size)")
    parser.add_argument("--big-org-tasks", type=int, default=None, metavar="N",
                        help="big-org: tasks instead of 100,000 (keep 50 per project)")
    parser.add_argument("--cpu-tasks", type=int, default=None, metavar="N",
                        help="cpu, memory, formats and export: tasks instead of 100,000 (a quicker"
                        " profile of the same shape; the issue's figures are at 100,000)")
    parser.add_argument("--full-quota-tasks", type=int, default=None, metavar="N",
                        help="full-quota: tasks instead of 2,000, in 20 projects (100000 is the issue's"
                        " scale: about 105 minutes at 1,500/min)")
    parser.add_argument("--big-org-modes", default=None, metavar="MODES",
                        help="big-org: comma-separated change-capture modes to run (default: polling,"
                        "project-events,workspace); polling at full size takes most of the scenario's time")
    parser.add_argument("--freshness-modes", default=None, metavar="MODES",
                        help="freshness: comma-separated modes (default: workspace,project-events,project-events-big)")
    parser.add_argument("--freshness-minutes", type=float, default=None, metavar="M",
                        help="freshness: minutes of edits per mode instead of 10")
    parser.add_argument("--follow-cycles", type=int, default=None, metavar="N",
                        help="follow-idle: idle cycles instead of 100 (memory over a long life)")
    return parser.parse_args(argv)


def _configured_workers(override: Optional[int]) -> str:
    """`[extract] workers` as the children will resolve it, and where it comes from."""
    if override:
        return f"{override} (--workers)"
    if os.environ.get("EXTRACT__WORKERS"):
        return f"{os.environ['EXTRACT__WORKERS']} (EXTRACT__WORKERS)"
    config = REPO_ROOT / ".dlt" / "config.toml"
    if config.exists():
        import tomllib

        workers = tomllib.loads(config.read_text(encoding="utf-8")).get("extract", {}).get("workers")
        if workers is not None:
            return f"{workers} (.dlt/config.toml)"
    return "5 (dlt default)"


def _commit() -> str:
    """The checkout's commit, `-dirty` when tracked files differ from it; `unknown` outside git."""
    def git(*words: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", *words], cwd=REPO_ROOT, capture_output=True, text=True, timeout=30)

    try:
        head = git("rev-parse", "--short=12", "HEAD")
        if head.returncode != 0:
            return "unknown"
        dirty = git("status", "--porcelain", "--untracked-files=no").stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head.stdout.strip() + ("-dirty" if dirty else "")


def header(args: argparse.Namespace, argv: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    """Date, machine, commit, command, dlt version, loader file format and extract workers of this run."""
    default_format = dlt.destinations.duckdb().capabilities().preferred_loader_file_format
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": f"{os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.1f} GB RAM, {platform.system()}",
        "load_average": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "commit": _commit(),
        "command": shlex.join(["python", "-m", "bench.run", *(sys.argv[1:] if argv is None else argv)]),
        "python": platform.python_version(),
        "dlt": dlt.__version__,
        "loader_file_format": args.loader_format or f"{default_format} (DuckDB default, pipeline sets none)",
        "extract_workers": _configured_workers(args.workers),
        "sizes": ("quick" if args.quick else "full") + (f", cpu at {args.cpu_tasks:,} tasks" if args.cpu_tasks else ""),
        "cpu_resources": "all but stories" if args.cpu_without_stories else "all, stories included",
        "rss_cap_mb": round(args.rss_cap_mb),
    }


def header_line(info: Dict[str, Any]) -> str:
    """The one line printed above the table."""
    return (
        f"# asana-dlt bench {info['date']} | {info['machine']} | commit {info['commit']} | Python {info['python']} | dlt {info['dlt']}"
        f" | loader file format: {info['loader_file_format']} | extract workers: {info['extract_workers']}"
        f" | sizes: {info['sizes']} | cpu/memory resources: {info['cpu_resources']}"
    )


def _fmt(value: Any, digits: int = 0) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _seconds(value: Optional[float]) -> str:
    """Seconds with three significant digits, so a quick run's 0.0084 s floor is not `0.0`."""
    if value is None:
        return "-"
    return f"{value:.1f}" if value >= 100 else f"{value:.3g}"


def table(rows: List[Row]) -> List[str]:
    """Aligned rows; numbers without thousands separators so scripts can read them."""
    cells = [list(COLUMNS)]
    for r in rows:
        cells.append(
            [
                r.scenario,
                _fmt(r.requests),
                _fmt(r.bound),
                _fmt(r.request_ratio, 3),
                _fmt(r.throttled_429),
                _seconds(r.wall_s),
                _seconds(r.floor_s),
                _fmt(r.time_ratio, 2),
                _fmt(r.rows_per_s, 0),
                _fmt(r.peak_rss_mb, 0),
                r.verdict(),
            ]
        )
    widths = [max(len(row[i]) for row in cells) for i in range(len(COLUMNS) - 1)]
    lines = []
    for row in cells:
        left = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:-1], widths[1:])]
        lines.append("  ".join(left + [row[-1]]))
    return lines


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs the scenarios, prints header, table and notes, writes the JSON.

    Exits 1 only when the bench itself could not measure (a crash, a pipeline error); a
    missed target, or a pipeline killed at the RSS cap, is a result and exits 0.
    """
    args = parse_args(argv)
    info = header(args, argv)
    print(header_line(info), flush=True)
    names = args.scenario or list(SCENARIOS)
    started = time.perf_counter()

    def log(message: str) -> None:
        print(f"[bench {time.perf_counter() - started:6.1f}s] {message}", file=sys.stderr, flush=True)

    sizes = QUICK if args.quick else FULL
    if args.cpu_tasks:
        sizes = dataclasses.replace(sizes, cpu_tasks=args.cpu_tasks)
    bench = Bench(
        sizes,
        args.loader_format,
        args.rss_cap_mb,
        args.workers,
        log,
        args.seed,
        args.cpu_without_stories,
        args.big_org_projects,
        args.big_org_tasks,
        args.big_org_modes.split(",") if args.big_org_modes else None,
        args.full_quota_tasks,
        args.freshness_modes.split(",") if args.freshness_modes else None,
        args.freshness_minutes,
        args.follow_cycles,
    )
    rows: List[Row] = []
    try:
        for name in dict.fromkeys(names):
            try:
                rows.extend(run_scenario(bench, name))
            except Exception as exc:  # a bench bug must not hide the other scenarios' figures
                traceback.print_exc()
                rows.append(Row(name, error=f"bench error: {exc!r}"))
    finally:
        bench.close()
    broken = any(r.error and "killed:" not in r.error for r in rows)
    print("\n".join(table(rows)))
    print("notes:")
    for r in rows:
        for note in r.notes:
            print(f"  {r.scenario}: {note}")
    print(f"bench took {time.perf_counter() - started:.0f} s")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / ("latest-quick.json" if args.quick else "latest.json")
    out.write_text(json.dumps({"header": info, "rows": [r.as_json() for r in rows]}, indent=2), encoding="utf-8")
    print(f"written: {out.relative_to(REPO_ROOT)}")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
