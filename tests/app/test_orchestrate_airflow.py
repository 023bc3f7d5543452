"""Airflow: `airflow dags test` loads the simulator, and a fresh worker resumes from the destination.

Needs requirements-airflow.txt in a virtualenv of its own; skips without it (`.ci/run` runs it
there).
"""

import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, Iterator

import pytest

pytest.importorskip("airflow", reason="needs Airflow: pip install -r requirements-airflow.txt (own virtualenv)")

import duckdb  # noqa: E402

from asana_sim import AsanaSim, SimConfig  # noqa: E402
from asana_sim.demo import make_changes  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
TOKEN = "airflow-test-token-4a07"


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dict[str, str]]:
    """An Airflow home with a migrated SQLite metadata database and our DAGs folder."""
    home = tmp_path_factory.mktemp("airflow")
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "orchestrate"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "PYTHONPATH": str(REPO),
        "ASANA_DLT_DESTINATION": "duckdb",
        "DESTINATION__DUCKDB__CREDENTIALS": str(home / "asana.duckdb"),
        "SOURCES__ASANA_DLT__REQUESTS_PER_MINUTE": "0",
    }
    airflow = str(Path(sys.executable).parent / "airflow")
    subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True)
    env["_AIRFLOW_BIN"] = airflow
    yield env


def dags_test(env: Dict[str, str], sim: AsanaSim, date: str) -> subprocess.CompletedProcess:
    run_env = {**env, "SOURCES__ASANA_DLT__BASE_URL": sim.base_url, "SOURCES__ASANA_DLT__ACCESS_TOKEN": TOKEN}
    return subprocess.run(
        [env["_AIRFLOW_BIN"], "dags", "test", "asana_load", date], env=run_env, capture_output=True, text=True
    )


def table_count(env: Dict[str, str], table: str) -> int:
    with duckdb.connect(env["DESTINATION__DUCKDB__CREDENTIALS"], read_only=True) as conn:
        return conn.execute(f"SELECT count(*) FROM asana_data.{table}").fetchone()[0]


def test_the_schedule_is_daily_unless_asana_dlt_schedule_says_otherwise(airflow_env: Dict[str, str]) -> None:
    code = "from orchestrate.airflow_dag import asana_load_dag as d; print(d.schedule)"
    for value, expected in (("", "0 6 * * *"), ("*/5 * * * *", "*/5 * * * *")):
        done = subprocess.run([sys.executable, "-c", code], env={**airflow_env, "ASANA_DLT_SCHEDULE": value},
                              cwd=REPO, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0 and done.stdout.strip().splitlines()[-1] == expected, done.stderr[-2000:]


def test_dag_loads_and_a_fresh_worker_resumes(airflow_env: Dict[str, str]) -> None:
    with AsanaSim(token=TOKEN, config=SimConfig(seed=19, tasks=40, projects=3)) as sim:
        first = dags_test(airflow_env, sim, "2026-06-01")
        assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
        expected = sim.expected_counts()
        assert table_count(airflow_env, "tasks") == expected["tasks"]
        assert table_count(airflow_env, "stories") == expected["stories"]

        make_changes(sim.base_url, TOKEN)
        sim.reset_requests()
        # The DAG wipes its local pipeline folder after every run: the second run starts on a
        # machine that knows nothing, and must find its cursors in the destination.
        second = dags_test(airflow_env, sim, "2026-06-02")
        assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
        listings = [r for r in sim.requests() if r.path == "/tasks"]
        resumed = [r for r in listings if "modified_since" in r.params]
        assert len(resumed) == len(listings) - 1  # only the project created in between is read whole
        assert table_count(airflow_env, "tasks") == sim.expected_counts()["tasks"]


def test_dag_on_iceberg_mirrors_asana_across_changes(
    airflow_env: Dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a table format the DAG loads as the CLI does (lakehouse.mirror_run): two runs with the
    demo's changes between, each from an empty local folder, equal a DuckDB load table by table."""
    pytest.importorskip("pyiceberg", reason="needs requirements-lakehouse.txt in this virtualenv")
    import json

    import dlt

    from tests.app.test_lakehouse import CONFIG, assert_mirror, assert_unique_keys, duckdb_reference, iceberg_snapshot

    catalog = {"type": "sql", "uri": f"sqlite:///{tmp_path / 'catalog.db'}", "warehouse": f"file://{tmp_path / 'bucket'}"}
    env = {
        **airflow_env,
        "ASANA_DLT_DESTINATION": "filesystem",
        "ASANA_DLT_TABLE_FORMAT": "iceberg",
        "DESTINATION__FILESYSTEM__BUCKET_URL": str(tmp_path / "bucket"),
        "ICEBERG_CATALOG__ICEBERG_CATALOG_TYPE": "sql",
        "ICEBERG_CATALOG__ICEBERG_CATALOG_CONFIG": json.dumps(catalog),
    }
    with AsanaSim(token=TOKEN, config=CONFIG) as sim:
        for run, date in enumerate(("2026-07-01", "2026-07-02")):
            if run:
                make_changes(sim.base_url, TOKEN)
            done = dags_test(env, sim, date)
            assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        # Read back with a pipeline of this process that has only the lake's state.
        pipeline = dlt.pipeline(
            pipeline_name="asana", pipelines_dir=str(tmp_path / "reader"), dataset_name="asana_data",
            destination=dlt.destinations.filesystem(str(tmp_path / "bucket")),
        )
        for key in ("ICEBERG_CATALOG__ICEBERG_CATALOG_TYPE", "ICEBERG_CATALOG__ICEBERG_CATALOG_CONFIG"):
            monkeypatch.setenv(key, env[key])
        pipeline.sync_destination()
        loaded = iceberg_snapshot(catalog, pipeline)
        assert {"tasks", "stories", "tasks__projects"} <= set(loaded)
        assert_unique_keys(pipeline, loaded)
        assert_mirror(loaded, duckdb_reference(sim, tmp_path))
