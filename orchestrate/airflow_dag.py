"""Airflow: the Asana load, daily, with retries; the state lives in the destination.

Put this file (and `asana_dlt/`) in your DAGs folder, or point `dags_folder` at `orchestrate/`
with the repository on `PYTHONPATH`; install `requirements.txt` and `requirements-airflow.txt`.
The token and destination come from dlt's config as usual (environment variables, or an Airflow
Variable `dlt_secrets_toml` holding the secrets.toml text). `ASANA_DLT_DESTINATION` picks the
destination (default duckdb; a worker's local DuckDB file only suits a single-machine Airflow),
`ASANA_DLT_TABLE_FORMAT` delta/iceberg with `filesystem`.
"""

import os
from datetime import timedelta
from typing import Any

import dlt
import pendulum
from airflow.sdk import dag
from dlt.helpers.airflow_helper import PipelineTasksGroup
from tenacity import Retrying, stop_after_attempt, wait_exponential

from asana_dlt import asana_source
from asana_dlt.lakehouse import check_merges, prepare_iceberg_catalog


def make_pipeline() -> dlt.Pipeline:
    """The pipeline the CLI runs too: Airflow and a manual run continue each other's state."""
    return dlt.pipeline(
        pipeline_name="asana",
        destination=os.environ.get("ASANA_DLT_DESTINATION", "duckdb"),
        dataset_name=os.environ.get("ASANA_DLT_DATASET", "asana_data"),
    )


@dag(
    dag_id="asana_load",
    schedule="0 6 * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,  # two loads of one dataset at once would race on its state
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5)},
    tags=["asana", "dlt"],
)
def asana_load() -> None:
    # wipe_local_data: every run starts in an empty folder, so the incremental state is restored
    # from the destination (dlt stores it there with each load). A fresh worker, or a retry on
    # another machine, resumes exactly where the last good load ended.
    tasks = PipelineTasksGroup(
        "asana",
        use_data_folder=False,
        wipe_local_data=True,
        retry_policy=Retrying(stop=stop_after_attempt(3), wait=wait_exponential(multiplier=2), reraise=True),
        retry_pipeline_steps=("load",),
    )
    pipeline = make_pipeline()

    def source() -> Any:
        # Built on the worker when the task runs: parsing the DAG needs no token. The checks are
        # the CLI's: a destination that cannot merge fails the task before anything is written.
        table_format = os.environ.get("ASANA_DLT_TABLE_FORMAT") or None
        data = asana_source()
        if table_format:
            for resource in data.resources.values():
                resource.apply_hints(table_format=table_format)
        run_pipeline = dlt.current.pipeline()
        check_merges(run_pipeline, data, table_format)
        prepare_iceberg_catalog(run_pipeline, table_format)
        return data

    # decompose="none": every table hangs off `workspaces`, one connected graph, so dlt's
    # "serialize" would make one task anyway; this way the source is built at run time.
    tasks.add_run(pipeline, source, decompose="none", trigger_rule="all_done", retries=0)


asana_load()
