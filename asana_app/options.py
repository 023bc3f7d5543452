"""The command line's options, and the `asana_source` arguments they ask for.

Every option has a default that runs a complete load, so `asana-dlt` (or
`python asana_dlt_pipeline.py`) alone loads everything the token sees into DuckDB.
"""

import argparse
from typing import Any, Dict, Optional, Sequence

from dlt.common.pipeline import get_dlt_pipelines_dir

from asana_app.lakehouse import TABLE_FORMATS, source_options
from asana_dlt import asana_source
from asana_dlt.settings import DEFAULT_BASE_URL, FULL_LOAD_MODES

def _listed_source() -> Any:
    """The source as built only to list its resources.

    Every option the source checks is given, not read from config: a bad setting then fails in
    `main` with its one line, not here at import with a traceback."""
    return asana_source(access_token="-", base_url=DEFAULT_BASE_URL, deletes="hard", full_load="auto", batch_size=1)


# Every resource of the source, the opt-in ones (one request per task, Enterprise) included.
RESOURCES = tuple(_listed_source().resources)


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
        help=f"comma-separated subset of: {', '.join(RESOURCES)} (default: every one but the opt-in "
        + ", ".join(sorted(set(RESOURCES) - set(_listed_source().resources.selected)))
        + ", which load only when named)",
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
    parser.add_argument(
        "--follow",
        action="store_true",
        help="keep running: a load as soon as Asana's events show a change, and a full one every"
        " --follow-full-every minutes; stop with SIGTERM or Ctrl-C (docs/scheduling.md)",
    )
    parser.add_argument(
        "--follow-interval", type=float, default=5.0, metavar="SECONDS",
        help="with --follow: how soon a project (or workspace) whose events showed a change has them read"
        " again; quiet ones wait longer, within the quota (default: 5)",
    )
    parser.add_argument(
        "--follow-full-every", type=float, default=5.0, metavar="MINUTES",
        help="with --follow: how often a full load also lists the tables without change events (default: 5)",
    )
    parser.add_argument(
        "--health-file", default=None, metavar="PATH",
        help="with --follow: the heartbeat file (default: <pipelines dir>/asana.follow.json)",
    )
    args = parser.parse_args(argv)
    if (args.follow_interval <= 0 or args.follow_full_every <= 0) and args.follow:
        parser.error("--follow-interval and --follow-full-every must be positive")
    if args.resources:
        names = [n.strip() for n in args.resources.split(",") if n.strip()]
        unknown = sorted(set(names) - set(RESOURCES))
        if unknown:
            parser.error(f"unknown resource(s) {', '.join(unknown)}; choose from {', '.join(RESOURCES)}")
        args.resources = names
    return args


def source_arguments(args: argparse.Namespace) -> Dict[str, Any]:
    """The `asana_source` arguments the command line asks for.

    `--full-load` when given (otherwise the source reads `full_load` from its config), and what a
    table format needs (`asana_app.lakehouse.source_options`: soft deletes on Delta/Iceberg).
    """
    options: Dict[str, Any] = {"full_load": args.full_load} if args.full_load else {}
    options.update(source_options(args.table_format))
    return options
