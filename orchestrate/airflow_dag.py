"""Airflow: the Asana load, daily, with retries; the state lives in the destination.

Put this file (and `asana_dlt/`) in your DAGs folder, or point `dags_folder` at `orchestrate/`
with the repository on `PYTHONPATH`; install `requirements.txt` and `requirements-airflow.txt`.
The token and destination come from dlt's config as usual (environment variables, or an Airflow
Variable `dlt_secrets_toml` holding the secrets.toml text). `ASANA_DLT_DESTINATION` picks the
destination (default duckdb; a worker's local DuckDB file only suits a single-machine Airflow),
`ASANA_DLT_TABLE_FORMAT` delta/iceberg with `filesystem` (set it where the DAG is parsed too:
a lakehouse gets a task of its own, below), `ASANA_DLT_SCHEDULE` a cron expression instead of
daily at 06:00 UTC.
"""

import os
import tempfile
from datetime import timedelta
from typing import Any, Optional

import dlt
import pendulum
from airflow.sdk import dag, task
from dlt.helpers.airflow_helper import PipelineTasksGroup
from tenacity import Retrying, stop_after_attempt, wait_exponential

from asana_dlt import asana_source
from asana_app.lakehouse import check_merges, mirror_run, source_options

TABLE_FORMAT = os.environ.get("ASANA_DLT_TABLE_FORMAT") or None


def make_pipeline(pipelines_dir: Optional[str] = None) -> dlt.Pipeline:
    """The pipeline the CLI runs too: Airflow and a manual run continue each other's state."""
    return dlt.pipeline(
        pipeline_name="asana",
        pipelines_dir=pipelines_dir,
        destination=os.environ.get("ASANA_DLT_DESTINATION", "duckdb"),
        dataset_name=os.environ.get("ASANA_DLT_DATASET", "asana_data"),
    )


@task(task_id="asana_lakehouse")
def load_lakehouse() -> None:
    """One run into Delta/Iceberg as the CLI makes it (lakehouse.mirror_run), from an empty folder.

    Why not `PipelineTasksGroup`: it calls dlt's `run`, and on a lakehouse that is not exact (a
    task passed twice stops `upsert`, Iceberg merges break on new columns, nested rows a task
    lost stay). As the group's `wipe_local_data` does, every run starts with no local state, so
    the cursors are restored from the lake and a fresh worker resumes where the last load ended.
    """
    with tempfile.TemporaryDirectory(prefix="asana-dlt-") as folder:
        pipeline = make_pipeline(folder)
        print(mirror_run(pipeline, asana_source(**source_options(TABLE_FORMAT)), TABLE_FORMAT))


@dag(
    dag_id="asana_load",
    schedule=os.environ.get("ASANA_DLT_SCHEDULE") or "0 6 * * *",  # e.g. "*/5 * * * *" for frequent runs
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,  # two loads of one dataset at once would race on its state
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5)},
    tags=["asana", "dlt"],
)
def asana_load() -> None:
    if TABLE_FORMAT:
        load_lakehouse()
        return
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
        # Built on the worker when the task runs: parsing the DAG needs no token. The check is
        # the CLI's: a destination that cannot merge fails the task before anything is written.
        data = asana_source()
        check_merges(dlt.current.pipeline(), data, None)
        return data

    # decompose="none": every table hangs off `workspaces`, one connected graph, so dlt's
    # "serialize" would make one task anyway; this way the source is built at run time.
    tasks.add_run(pipeline, source, decompose="none", trigger_rule="all_done", retries=0)


asana_load_dag = asana_load()
