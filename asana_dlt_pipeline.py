"""Loads Asana into a warehouse (DuckDB by default): `python asana_dlt_pipeline.py --help`.

`--demo` needs no Asana account: it starts the local simulator, loads it, changes a few things
through Asana's own write endpoints, and loads again to show that only the changes travel.
"""

import argparse
import csv
import os
import sys
from typing import Any, Dict, List, Optional, Sequence, Tuple

import dlt
from dlt.common.pipeline import LoadInfo, get_dlt_pipelines_dir
from dlt.common.storages import FileStorage

from asana_dlt import asana_source
from asana_app.lakehouse import (
    TABLE_FORMATS,
    check_merges,
    check_table_format,
    data_location,
    prepare_iceberg_catalog,
    run_without_repeated_rows,
)
from asana_dlt.settings import FULL_LOAD_MODES
from asana_app.process_memory import can_fork_steps, cap_malloc_arenas, in_forked_child, tune_gc
from asana_app.run_guard import describe_destination, hold_run_lock, one_line, root_cause

PIPELINE_NAME = "asana"
DEMO_PIPELINE_NAME = "asana_demo"
DEMO_DUCKDB_FILE = "asana_demo.duckdb"
# DuckDB's defaults are 80% of the machine's RAM and one thread per core: a 100k-task load then
# peaked at 1.4 GB, most of it DuckDB's during the load step. With DuckDB 1.4.4, 96 MB and one
# thread (and one load job at a time, below) load 100k tasks with their stories; the load step
# then peaks ~100 MB above normalize, and DuckDB spills the rest to `<file>.tmp`. 64 MB fails at
# 100k tasks ("failed to pin block" committing a 20k-row stories file), 128 MB peaked 35 MB higher.
# Insertion order does not matter to merge tables and keeping it costs memory. Entries under
# `[destination.duckdb.credentials] global_config` in secrets.toml (or the matching environment
# variable) win over these; dlt refuses credentials keys in config.toml.
DUCKDB_SETTINGS: Dict[str, Any] = {"memory_limit": "96MB", "threads": 1, "preserve_insertion_order": False}
# dlt's loader runs up to 20 load jobs at once, each in its own DuckDB transaction: with DuckDB
# 1.4 their uncommitted rows shared the budget and a 20k-task load failed on them ("failed to pin
# block", retried) and peaked 80 MB higher at 2k tasks. The price: dlt's pool closes the database
# after each job, so each table's job checkpoints and reopens it (2k tasks: load step 2.7 s with an
# idle connection held open, 10 s without; but held open, 96 MB ran out of memory at 100k tasks).
DUCKDB_LOAD_JOBS = "sequential"
# Every resource of the source, the opt-in ones (one request per task, Enterprise) included. The
# options the source checks are given, not read from config: a bad setting then fails in `main`
# with its one line, not here at import with a traceback.
RESOURCES = tuple(asana_source(access_token="-", deletes="hard", full_load="auto", batch_size=1).resources)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The command line; every option has a default that runs a complete load."""
    parser = argparse.ArgumentParser(description="Load Asana into a warehouse with dlt.")
    parser.add_argument("--destination", default="duckdb", help="dlt destination (default: duckdb)")
    parser.add_argument(
        "--table-format",
        choices=TABLE_FORMATS,
        default=None,
        help="write Delta or Iceberg tables (with --destination filesystem and a bucket_url; "
        "needs requirements-lakehouse.txt)",
    )
    parser.add_argument("--dataset", default="asana_data", help="dataset (schema) name (default: asana_data)")
    parser.add_argument(
        "--resources",
        default=None,
        help=f"comma-separated subset of: {', '.join(RESOURCES)} (default: all)",
    )
    parser.add_argument(
        "--full-refresh",
        action="store_true",
        help="drop this source's tables and incremental state, then load everything again",
    )
    parser.add_argument(
        "--full-load",
        choices=FULL_LOAD_MODES,
        default=None,
        help="how a full load gets tasks and stories: auto (Asana's resource export, else the paged API),"
        " export (or stop), api (default: full_load under [sources.asana_dlt], else auto)",
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        help="run against the bundled Asana simulator (no account needed), twice, with changes between",
    )
    parser.add_argument(
        "--analytics",
        action="store_true",
        help="after the load, build the dbt models of asana_dbt/ in <dataset>_analytics (the demo always does)",
    )
    parser.add_argument(
        "--progress",
        choices=("auto", "bar", "log", "none"),
        default="auto",
        help="progress display: bar (live, on a terminal), log (a line every 10 s on stderr), none;"
        " default auto: bar on a terminal, else log",
    )
    parser.add_argument(
        "--pipelines-dir",
        default=None,
        help="where dlt keeps the pipeline's state and load packages (default: dlt's, "
        f"{get_dlt_pipelines_dir()}); give each checkout or environment its own",
    )
    args = parser.parse_args(argv)
    if args.resources:
        names = [n.strip() for n in args.resources.split(",") if n.strip()]
        unknown = sorted(set(names) - set(RESOURCES))
        if unknown:
            parser.error(f"unknown resource(s) {', '.join(unknown)}; choose from {', '.join(RESOURCES)}")
        args.resources = names
    return args


def duckdb_destination(database: Optional[str] = None) -> Any:
    """DuckDB with a bounded memory and thread budget (`DUCKDB_SETTINGS`) unless configured.

    Args:
        database: The DuckDB file; None keeps dlt's default, `<pipeline name>.duckdb`.
    """
    configured = dlt.secrets.get("destination.duckdb.credentials.global_config", dict)
    credentials: Dict[str, Any] = {"global_config": {**DUCKDB_SETTINGS, **(configured or {})}}
    if database:
        credentials["database"] = database
    return dlt.destinations.duckdb(credentials=credentials, loader_parallelism_strategy=DUCKDB_LOAD_JOBS)


def make_pipeline(
    name: str, destination: Any, dataset: str, progress: str, pipelines_dir: Optional[str] = None
) -> dlt.Pipeline:
    """One pipeline per name; dlt's progress collector shows requests, pages and rows as they come."""
    if progress == "auto":
        progress = "bar" if sys.stderr.isatty() else "log"
    collector: Any = {"bar": dlt.progress.tqdm, "log": lambda: dlt.progress.log(10.0, sys.stderr)}.get(progress)
    if destination == "duckdb":
        destination = duckdb_destination()
    return dlt.pipeline(
        pipeline_name=name,
        pipelines_dir=pipelines_dir,
        destination=destination,
        dataset_name=dataset,
        progress=collector() if collector else None,
    )


def fastest_file_format(pipeline: dlt.Pipeline) -> Optional[str]:
    """Parquet where the destination takes it: on DuckDB it loads ~20x faster than SQL inserts
    and keeps peak memory ~10x lower (bench/, `--scenario formats`). On Postgres, csv: dlt loads
    it with COPY streamed from the file, where its default insert_values held statements of up
    to 16 MB in each of 20 load threads (3 GB at 100k tasks); its parquet needs the ADBC driver."""
    supported = pipeline.destination.capabilities().supported_loader_file_formats or []
    if pipeline.destination.destination_type.endswith(".postgres") and "csv" in supported:
        return "csv"
    return "parquet" if "parquet" in supported else None


def run_once(
    pipeline: dlt.Pipeline,
    source: Any,
    resources: Optional[List[str]],
    full_refresh: bool,
    table_format: Optional[str] = None,
) -> Tuple[LoadInfo, Dict[str, int]]:
    """Extracts, normalizes and loads one run of the source, after finishing a killed run's load;
    a run that could not merge is refused before anything is written.

    Returns:
        dlt's load info and the rows this run loaded per table."""
    if table_format:  # Delta/Iceberg's upsert needs each key once per load
        source = _checked(pipeline, source, resources, table_format)
        return run_without_repeated_rows(pipeline, source, **_extract_args(pipeline, full_refresh, table_format))
    loaded = fetch_once(pipeline, source, resources, full_refresh)
    return pipeline.load(), loaded


def fetch_once(pipeline: dlt.Pipeline, source: Any, resources: Optional[List[str]], full_refresh: bool) -> Dict[str, int]:
    """The steps of `run_once` before the load: what dlt's `run` does up to it (state restored
    from the destination, extract, normalize), so the load can run in another process.

    Returns:
        the rows per table the normalized package holds."""
    source = _checked(pipeline, source, resources, None)
    pipeline.sync_destination()  # as `run` does first: a fresh machine resumes from the destination's state
    pipeline.extract(source, **_extract_args(pipeline, full_refresh, None))
    normalized = pipeline.normalize()
    return {**(dict(normalized.row_counts) if normalized else {}), **csv_rows(pipeline)}


def csv_rows(pipeline: dlt.Pipeline) -> Dict[str, int]:
    """Rows per table in the normalized packages' csv files, counted from the files.

    Why: dlt 1.31's csv writer counts each row's fields, not its rows (`CsvWriter.write_data`:
    `items_count += sum(len(row) for row in items)`), so on Postgres, which the CLI loads with
    csv, the normalize info said 18,903 tasks where 662 loaded.
    """
    counted: Dict[str, int] = {}
    for load_id in pipeline.list_normalized_load_packages():
        for job in pipeline.get_load_package_info(load_id).jobs.get("new_jobs", []):
            if job.job_file_info.file_format != "csv":
                continue
            with FileStorage.open_zipsafe_ro(job.file_path, "r", encoding="utf-8", newline="") as handle:
                records = sum(1 for _ in csv.reader(handle)) - 1  # less the header
            table = job.job_file_info.table_name
            counted[table] = counted.get(table, 0) + max(records, 0)
    return counted


def _checked(pipeline: dlt.Pipeline, source: Any, resources: Optional[List[str]], table_format: Optional[str]) -> Any:
    """The source cut to `resources`, once it is known to merge, with a killed run's load finished."""
    if resources:
        source = source.with_resources(*resources)
    check_merges(pipeline, source, table_format)
    prepare_iceberg_catalog(pipeline, table_format)
    finish_earlier_run(pipeline)
    return source


def _extract_args(pipeline: dlt.Pipeline, full_refresh: bool, table_format: Optional[str]) -> Dict[str, Any]:
    return {
        "refresh": "drop_sources" if full_refresh else None,
        "loader_file_format": fastest_file_format(pipeline),
        "table_format": table_format,
    }


def finish_earlier_run(pipeline: dlt.Pipeline) -> None:
    """Completes what a killed run left, so this run's changes still load in this invocation.

    dlt's `run` given pending packages loads only those and drops this run's data, so the
    changes would wait for another run. A package whose load never began loads as it is; one
    killed mid-load has jobs that may or may not have reached the destination, and loading them
    again duplicates rows, so it is aborted (dlt restores the state of the last complete load)
    and this run's extraction fetches its data again.
    """
    if not pipeline.has_pending_data:
        return
    packages = [pipeline.get_load_package_info(load_id) for load_id in pipeline.list_normalized_load_packages()]
    if any(package.jobs.get("started_jobs") for package in packages):
        print("Finishing the earlier, interrupted run first: it was killed mid-load, so this run loads its data again.")
        pipeline.abort_packages()
    else:
        print("Finishing the earlier, interrupted run first: loading the data it had already fetched.")
        pipeline.normalize()
        pipeline.load()


def table_counts(pipeline: dlt.Pipeline) -> Dict[str, int]:
    """Rows per data table in the destination, child tables included."""
    schema = pipeline.default_schema
    counts: Dict[str, int] = {}
    with pipeline.sql_client() as client:
        for table in sorted(schema.data_table_names(seen_data_only=True)):
            rows = client.execute_sql(f"SELECT count(*) FROM {client.make_qualified_table_name(table)}")
            counts[table] = int(rows[0][0])
    return counts


def report(pipeline: dlt.Pipeline, run: Tuple[LoadInfo, Dict[str, int]], title: str) -> LoadInfo:
    """Prints the load info, the rows this run loaded, and the rows now in each table."""
    info, loaded = run
    print(f"\n== {title}")
    print(info)
    totals = table_counts(pipeline)
    width = max([len(t) for t in totals] + [5])
    print(f"\n{'table'.ljust(width)}  {'loaded now':>10}  {'in dataset':>10}")
    for table, total in totals.items():
        print(f"{table.ljust(width)}  {loaded.get(table, 0):>10}  {total:>10}")
    return info


def _source_options(args: argparse.Namespace) -> Dict[str, Any]:
    """`--full-load` when given (otherwise the source reads `full_load` from its config), and soft
    deletes on Delta/Iceberg: dlt cannot apply the `hard_delete` hint to tables with nested tables
    there, so deleted tasks and stories stay, marked `is_deleted` and `deleted_at`."""
    options: Dict[str, Any] = {"full_load": args.full_load} if args.full_load else {}
    if args.table_format:
        options["deletes"] = "soft"
    return options


def run_demo(args: argparse.Namespace) -> dlt.Pipeline:
    """Loads the simulator, changes a few things through Asana's API, and loads again.

    The demo has its own pipeline and DuckDB file and starts clean every time, so it never
    touches the state of a real `asana` pipeline.
    """
    import secrets

    from asana_sim import AsanaSim, SimConfig
    from asana_sim.demo import make_changes

    check_table_format(args.destination, args.table_format)
    destination: Any = args.destination
    if destination == "duckdb":
        if os.path.exists(DEMO_DUCKDB_FILE):
            os.remove(DEMO_DUCKDB_FILE)
        destination = duckdb_destination(DEMO_DUCKDB_FILE)
    pipeline = make_pipeline(DEMO_PIPELINE_NAME, destination, args.dataset, "none", args.pipelines_dir)
    pipeline.drop()
    # `--full-load auto|export` gives the demo workspace the plan for resource exports.
    exports = args.full_load in ("auto", "export")
    with AsanaSim(token=secrets.token_hex(16), config=SimConfig(seed=42, exports=exports, export_seconds=0)) as sim:
        print(f"Asana simulator serving {sim.base_url}")

        def source() -> Any:
            return asana_source(access_token=sim.token, base_url=sim.base_url, **_source_options(args))

        run = run_once(pipeline, source(), args.resources, False, args.table_format)
        info = report(pipeline, run, f"first run: everything ({len(sim.requests())} requests)")
        print("\nChanging Asana through its write endpoints:")
        for change in make_changes(sim.base_url, sim.token):
            print(f"  - {change}")
        sim.reset_requests()
        run = run_once(pipeline, source(), args.resources, False, args.table_format)
        info = report(pipeline, run, f"second run: only what changed ({len(sim.requests())} requests)")
    print(f"\nExplore it: dlt pipeline {DEMO_PIPELINE_NAME} show   (data in {data_location(info)})")
    return pipeline


def analyse(pipeline: dlt.Pipeline, full_refresh: bool = False) -> None:
    """Builds the dbt models of `asana_dbt/` on what was just loaded, and says where to look."""
    from asana_app.analytics import build_models, describe, where_to_look

    print("\n" + describe(build_models(pipeline, full_refresh=full_refresh)))
    print(where_to_look(pipeline))


def main(argv: Optional[Sequence[str]] = None, fork_steps: bool = False) -> int:
    """Runs the load; any failure becomes one line on stderr and exit code 1 (130 on Ctrl-C).

    Args:
        argv: The command line; None reads sys.argv.
        fork_steps: Extract and normalize in a forked child and load in this process (the
            command line does; a caller with threads of its own, such as a test, runs in place).
    """
    args = parse_args(argv)
    cap_malloc_arenas()  # before the extract's threads exist (process_memory.py says why)
    try:
        if args.demo:
            demo = run_demo(args)
            analyse(demo, args.full_refresh)  # on a lakehouse, in a DuckDB file over its tables
            return 0
        check_table_format(args.destination, args.table_format)
        source = asana_source(**_source_options(args))  # a missing token fails here, before anything is touched
        pipelines_dir = args.pipelines_dir or get_dlt_pipelines_dir()
        with hold_run_lock(pipelines_dir, PIPELINE_NAME):

            def start() -> dlt.Pipeline:
                pipeline = make_pipeline(PIPELINE_NAME, args.destination, args.dataset, args.progress, pipelines_dir)
                print(f"Loading into {describe_destination(pipeline)} (pipeline state in {pipeline.working_dir})")
                return pipeline

            if fork_steps and not args.table_format and can_fork_steps():
                # The extract's heap leaves with its process before DuckDB's load (process_memory.py).
                loaded = in_forked_child(
                    lambda: fetch_once(start(), source, args.resources, args.full_refresh),
                    lambda exc: None if isinstance(root_cause(exc), KeyboardInterrupt) else one_line(exc, args.destination),
                )
                pipeline = make_pipeline(PIPELINE_NAME, args.destination, args.dataset, args.progress, pipelines_dir)
                run = (pipeline.load(), loaded)
            else:
                pipeline = start()
                run = run_once(pipeline, source, args.resources, args.full_refresh, args.table_format)
            info = report(pipeline, run, f"pipeline {PIPELINE_NAME} -> {args.destination} dataset {args.dataset}")
            print(f"\nExplore it: dlt pipeline {PIPELINE_NAME} show   (data in {data_location(info)})")
            if args.analytics:
                analyse(pipeline, args.full_refresh)
    except BaseException as exc:  # one clear line for every failure, never a trace with secrets
        if isinstance(exc, SystemExit):
            raise
        if isinstance(root_cause(exc), KeyboardInterrupt):  # Ctrl-C, or dlt's graceful stop on it
            print(
                "error: interrupted; nothing partial was loaded, and the next run resumes where this one stopped.",
                file=sys.stderr,
            )
            return 130
        print(f"error: {one_line(exc, args.destination)}", file=sys.stderr)
        if os.environ.get("ASANA_DLT_DEBUG"):
            raise
        return 1
    return 0


if __name__ == "__main__":
    tune_gc()  # the command line owns its process (process_memory.py says why); a caller of main() keeps its own
    sys.exit(main(fork_steps=True))
