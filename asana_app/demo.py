"""`--demo`: the whole story without an Asana account.

It starts the bundled simulator (`asana_sim`), loads it, changes a few things through Asana's
own write endpoints, and loads again, so a newcomer sees that only the changes travel.
"""

import argparse
import os
import secrets
from pathlib import Path
from typing import Any, Optional, Tuple

import dlt
from dlt.common.pipeline import LoadInfo

from asana_app import CHECKOUT
from asana_app.destinations import duckdb_destination, make_pipeline
from asana_app.lakehouse import check_table_format
from asana_app.options import source_arguments
from asana_app.report import report
from asana_app.run_guard import hold_run_lock
from asana_app.runs import run_once
from asana_dlt import asana_source

DEMO_PIPELINE_NAME = "asana_demo"
DEMO_DUCKDB_FILE = "asana_demo.duckdb"
# The checkout's own demo folder (gitignored), found from this package rather than from the
# working directory: two checkouts never share a demo, wherever the command is started.
DEMO_DIR = CHECKOUT / ".demo"


def demo_dir(pipelines_dir: Optional[str]) -> Path:
    """Where the demo keeps its state (`<dir>/asana_demo/`) and its DuckDB file: `--pipelines-dir`
    when given, else the checkout's `.demo/`."""
    return Path(pipelines_dir).resolve() if pipelines_dir else DEMO_DIR


def run_demo(args: argparse.Namespace) -> Tuple[dlt.Pipeline, LoadInfo]:
    """Loads the simulator, changes a few things through Asana's API, and loads again.

    The demo has its own pipeline and DuckDB file, in the checkout's `.demo/` (`demo_dir`), and
    starts clean every time, so it never touches the state of a real `asana` pipeline. The
    simulator is imported here, not at the top: a real run never needs it.

    Returns:
        The demo's pipeline and the second run's load info.
    """
    check_table_format(args.destination, args.table_format)
    folder = demo_dir(args.pipelines_dir)
    with hold_run_lock(str(folder), DEMO_PIPELINE_NAME):
        destination: Any = args.destination
        if destination == "duckdb":
            database = folder / DEMO_DUCKDB_FILE
            if database.exists():
                os.remove(database)
            destination = duckdb_destination(str(database))
        pipeline = make_pipeline(DEMO_PIPELINE_NAME, destination, args.dataset, "none", str(folder))
        pipeline.drop()
        return pipeline, _load_twice(pipeline, args)


def _load_twice(pipeline: dlt.Pipeline, args: argparse.Namespace) -> LoadInfo:
    """The simulator loaded, changed through Asana's write endpoints, and loaded again."""
    from asana_sim import AsanaSim, SimConfig
    from asana_sim.demo import make_changes

    # `--full-load auto|export` gives the demo workspace the plan for resource exports.
    exports = args.full_load in ("auto", "export")
    with AsanaSim(token=secrets.token_hex(16), config=SimConfig(seed=42, exports=exports, export_seconds=0)) as sim:
        print(f"Asana simulator serving {sim.base_url}")

        def source() -> Any:
            return asana_source(access_token=sim.token, base_url=sim.base_url, **source_arguments(args))

        run = run_once(pipeline, source(), args.resources, False, args.table_format)
        info = report(pipeline, run, f"first run: everything ({len(sim.requests())} requests)")
        print("\nChanging Asana through its write endpoints:")
        for change in make_changes(sim.base_url, sim.token):
            print(f"  - {change}")
        sim.reset_requests()
        run = run_once(pipeline, source(), args.resources, False, args.table_format)
        return report(pipeline, run, f"second run: only what changed ({len(sim.requests())} requests)")
