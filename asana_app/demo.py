"""`--demo`: the whole story without an Asana account.

It starts the bundled simulator (`asana_sim`), loads it, changes a few things through Asana's
own write endpoints, and loads again, so a newcomer sees that only the changes travel.
"""

import argparse
import os
import secrets
from typing import Any

import dlt

from asana_app.destinations import duckdb_destination, make_pipeline
from asana_app.lakehouse import check_table_format
from asana_app.options import source_arguments
from asana_app.report import data_location, report
from asana_app.runs import run_once
from asana_dlt import asana_source

DEMO_PIPELINE_NAME = "asana_demo"
DEMO_DUCKDB_FILE = "asana_demo.duckdb"


def run_demo(args: argparse.Namespace) -> dlt.Pipeline:
    """Loads the simulator, changes a few things through Asana's API, and loads again.

    The demo has its own pipeline and DuckDB file and starts clean every time, so it never
    touches the state of a real `asana` pipeline. The simulator is imported here, not at the
    top: a real run never needs it.
    """
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
            return asana_source(access_token=sim.token, base_url=sim.base_url, **source_arguments(args))

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
