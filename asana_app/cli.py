"""The `asana-dlt` command (and `python asana_dlt_pipeline.py`): loads Asana into a warehouse,
DuckDB by default.

`main` runs one load (or the demo) and turns any failure into one `error:` line and an exit code,
never a traceback, because it runs unattended from cron and orchestrators (`asana_app.run_guard`).
`--demo` needs no Asana account (`asana_app.demo`).
"""

import os
import sys
from typing import Optional, Sequence

import dlt
from dlt.common.pipeline import get_dlt_pipelines_dir

from asana_app.console import setup_console
from asana_app.demo import run_demo
from asana_app.destinations import make_pipeline
from asana_app.follow import follow
from asana_app.lakehouse import check_table_format
from asana_app.options import parse_args, source_arguments
from asana_app.process_memory import can_fork_steps, cap_malloc_arenas, in_forked_child, tune_gc
from asana_app.report import closing_line, report
from asana_app.run_guard import RunError, describe_destination, hold_run_lock, one_line, root_cause
from asana_app.runs import fetch_once, load_package, run_once
from asana_dlt import asana_source

PIPELINE_NAME = "asana"


def analyse(pipeline: dlt.Pipeline, full_refresh: bool = False, again: str = "--analytics") -> None:
    """Builds the dbt models of `asana_dbt/` on what was just loaded, and says where to look.

    dbt is imported here, not at the top: a load without `--analytics` never pays for it. The
    load has committed by now, so a failure says so, with its fix, in its one line.

    Args:
        again: The option that runs this step again (the demo builds them on every `--demo`).

    Raises:
        AnalyticsError: a model, a data test or dbt's process failed (its message says the load is complete).
        RunError: anything else kept the models from being built (its message says so too).
    """
    from asana_app.analytics import AnalyticsError, build_models, describe, where_to_look

    try:
        result = build_models(pipeline, full_refresh=full_refresh, again=again)
    except AnalyticsError:
        raise
    except Exception as exc:  # anything else: still one line, which says the load is complete
        raise RunError(
            f"the analytics models could not be built ({one_line(exc, pipeline.destination.destination_name)});"
            f" the load itself is complete: fix that (ASANA_DLT_DEBUG=1 shows the trace), then run again with {again}"
        ) from exc
    print("\n" + describe(result))
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
            demo, info = run_demo(args)
            analyse(demo, args.full_refresh, again="--demo")  # on a lakehouse, in a DuckDB file over its tables
            print("\n" + closing_line(demo, info))
            return 0
        check_table_format(args.destination, args.table_format)
        source = asana_source(**source_arguments(args))  # a missing token fails here, before anything is touched
        pipelines_dir = args.pipelines_dir or get_dlt_pipelines_dir()
        if args.follow:
            return follow(args, pipelines_dir, PIPELINE_NAME)
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
                run = (load_package(pipeline, loaded), loaded)
            else:
                pipeline = start()
                run = run_once(pipeline, source, args.resources, args.full_refresh, args.table_format)
            info = report(pipeline, run, f"pipeline {PIPELINE_NAME} -> {args.destination} dataset {args.dataset}")
            if args.analytics:
                analyse(pipeline, args.full_refresh)
            print("\n" + closing_line(pipeline, info))
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


def run() -> int:
    """The command line's own process: the `asana-dlt` console command and the script's `__main__`.

    `tune_gc` and `setup_console` here, not in `main`: the collector's settings and the output
    streams belong to a process the command line owns (process_memory.py and console.py say
    why); a caller of `main()` keeps its own. The steps run forked.
    """
    setup_console()
    tune_gc()
    return main(fork_steps=True)
