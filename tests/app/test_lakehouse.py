"""Delta and Iceberg through the CLI: the lakehouse must mirror Asana exactly as DuckDB does.

The refusals run everywhere; the loads need requirements-lakehouse.txt and skip without it
(`.ci/run` runs them in the virtualenv that has it).
"""

import json
import os
import re
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import dlt
import duckdb
import pytest

from asana_app import cli
from asana_dlt import asana_source
from asana_sim import AsanaSim, SimConfig
from asana_sim.demo import make_changes
from tests.source import test_fidelity as fidelity
from tests.source import test_mirror as mirror
from tests.conftest import point_cli_at, rows
from tests.source.test_e2e import snapshot

TOKEN = "lakehouse-test-token-3c9f"
CONFIG = SimConfig(seed=13, tasks=60, projects=3)


def _missing(*modules: str) -> str:
    from importlib.util import find_spec

    absent = [m for m in modules if find_spec(m) is None]
    return f"needs {', '.join(absent)}: pip install -r requirements-lakehouse.txt" if absent else ""


try:  # the offline-reads plugin, installed with requirements-lakehouse.txt
    import dlt_offline_lakehouse as offline
except ImportError:
    offline = None
needs_delta = pytest.mark.skipif(bool(_missing("deltalake")), reason=_missing("deltalake") or "-")
needs_iceberg = pytest.mark.skipif(bool(_missing("pyiceberg", "sqlalchemy")), reason=_missing("pyiceberg", "sqlalchemy") or "-")
needs_moto = pytest.mark.skipif(bool(_missing("deltalake", "moto", "s3fs")), reason=_missing("deltalake", "moto", "s3fs") or "-")


@pytest.fixture
def sim(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AsanaSim]:
    """A fresh simulator the CLI reaches through dlt's config, and a folder for the bucket."""
    with AsanaSim(token=TOKEN, config=CONFIG) as running:
        point_cli_at(monkeypatch, tmp_path, running.base_url, TOKEN)
        monkeypatch.setenv("DESTINATION__FILESYSTEM__BUCKET_URL", str(tmp_path / "bucket"))
        yield running


def test_filesystem_without_a_table_format_is_refused_before_anything_runs(
    sim: AsanaSim, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["--destination", "filesystem", "--progress", "none"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("error: destination filesystem cannot merge tasks, stories")
    assert "--table-format delta" in err
    assert sim.requests() == []  # not one page fetched
    assert not (tmp_path / "bucket").exists()  # nothing written


def test_a_table_format_the_destination_cannot_write_is_refused(
    sim: AsanaSim, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["--table-format", "delta", "--progress", "none"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: destination duckdb does not write delta tables: use --destination filesystem")
    assert sim.requests() == []


def test_the_last_line_names_where_the_data_went(sim: AsanaSim, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--resources", "projects", "--progress", "none"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith(f"Loaded into duckdb:///{tmp_path / 'asana.duckdb'}, dataset asana_data. Explore it: ")
    assert last.endswith(f" -m dlt pipeline --pipelines-dir {tmp_path / 'dlt' / 'pipelines'} asana show")


# --- loads: two CLI runs with Asana's changes between, against a DuckDB load of the same account


def delta_snapshot(bucket: str, dataset: str, tables: List[str], storage_options: Dict[str, str]) -> Dict[str, Any]:
    """Every Delta table's rows, read by deltalake itself (not by the code under test)."""
    from deltalake import DeltaTable

    out: Dict[str, List[Tuple[Any, ...]]] = {}
    for table in tables:
        arrow = DeltaTable(f"{bucket}/{dataset}/{table}", storage_options=storage_options).to_pyarrow_table()
        cols = sorted(c for c in arrow.column_names if not c.startswith("_dlt"))
        data = arrow.select(cols).to_pylist()
        out[table] = sorted((tuple(r[c] for c in cols) for r in data), key=repr)
    return out


def duckdb_reference(sim: AsanaSim, tmp_path: Path) -> Dict[str, Any]:
    """A clean DuckDB load of the simulator as it is now: what the lakehouse must equal."""
    from asana_dlt import asana_source

    pipeline = dlt.pipeline(
        pipeline_name="reference",
        pipelines_dir=str(tmp_path / "reference"),
        destination=dlt.destinations.duckdb(str(tmp_path / "reference.duckdb")),
        dataset_name="asana_data",
    )
    pipeline.run(asana_source(access_token=sim.token, base_url=sim.base_url, requests_per_minute=0))
    return snapshot(pipeline)


def two_runs_with_changes(sim: AsanaSim, args: List[str]) -> dlt.Pipeline:
    assert cli.main(args) == 0
    make_changes(sim.base_url, sim.token)
    assert cli.main(args) == 0
    return dlt.attach("asana", pipelines_dir=os.path.join(os.environ["DLT_DATA_DIR"], "pipelines"))


def assert_mirror(loaded: Dict[str, Any], reference: Dict[str, Any]) -> None:
    assert sorted(loaded) == sorted(reference)
    assert {"tasks", "stories", "tasks__projects"} <= set(reference)
    for table, rows in reference.items():
        assert loaded[table] == rows, f"{table} differs from the DuckDB load"


def assert_dataset_reads_it(pipeline: dlt.Pipeline, loaded: Dict[str, Any], scanner: str = "delta_scan") -> None:
    """`pipeline.dataset()` (what `dlt pipeline show` uses) reads every table, with no network.

    DuckDB would download its `delta` extension here; the dlt plugin in
    plugins/dlt_offline_lakehouse installed it from the duckdb-ext-delta package instead, so
    dlt's own view over `delta_scan` reads the table (`scanner`; `read_parquet` is the plugin's
    fallback, for when the extension cannot be installed).
    """
    assert "dlt_offline_lakehouse" in sys.modules  # loaded by dlt itself, as a plugin
    dataset = pipeline.dataset()
    assert dict(dataset.row_counts(table_names=sorted(loaded)).fetchall()) == {t: len(r) for t, r in loaded.items()}
    joined = dataset(
        "SELECT count(*) FROM tasks t JOIN tasks__projects tp ON tp._dlt_parent_id = t._dlt_id"
    ).fetchall()[0][0]
    assert joined == len(loaded["tasks__projects"])
    with pipeline.sql_client() as client:
        client.execute_sql("SELECT count(*) FROM tasks")
        views = client.execute_sql("SELECT sql FROM duckdb_views() WHERE view_name = 'tasks'")
    assert len(views) == 1 and f"{scanner}(" in views[0][0], views


def assert_unique_keys(pipeline: dlt.Pipeline, tables: Dict[str, Any]) -> None:
    schema = pipeline.default_schema
    for table, rows in tables.items():
        keys = [c for c, col in schema.get_table_columns(table).items() if col.get("primary_key")]
        if not keys:
            continue
        cols = sorted(c for c in schema.get_table_columns(table) if not c.startswith("_dlt"))
        index = [cols.index(k) for k in keys]
        seen = [tuple(r[i] for i in index) for r in rows]
        assert len(seen) == len(set(seen)), f"duplicate primary key in {table}"


@needs_delta
def test_delta_on_local_disk_mirrors_asana_across_changes(sim: AsanaSim, tmp_path: Path) -> None:
    pipeline = two_runs_with_changes(sim, ["--destination", "filesystem", "--table-format", "delta", "--progress", "none"])
    tables = sorted(pipeline.default_schema.data_table_names(seen_data_only=True))
    loaded = delta_snapshot(str(tmp_path / "bucket"), "asana_data", tables, {})
    assert_unique_keys(pipeline, loaded)
    assert_mirror(loaded, duckdb_reference(sim, tmp_path))
    assert_dataset_reads_it(pipeline, loaded)
    installed = duckdb.sql("SELECT extension_name FROM duckdb_extensions() WHERE installed").fetchall()
    assert {("delta",), ("iceberg",), ("httpfs",), ("avro",)} <= set(installed)  # from the packages
    # Where the extension cannot be installed, the plugin reads the version's parquet files.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(offline, "_installed", lambda conn, extension: False)
        assert_dataset_reads_it(pipeline, loaded, scanner="read_parquet")
    # A fresh process that imports nothing of ours, as the dashboard of `dlt pipeline show` is:
    # dlt loads the plugin by itself, and the dashboard's row-count query works.
    pipelines_dir = os.path.join(os.environ["DLT_DATA_DIR"], "pipelines")
    # `get_row_counts` is what the dashboard's "Load row counts" button and its load details call.
    script = (
        "import dlt, json; from dlt._workspace.helpers.dashboard.utils.queries import get_row_counts; "
        f"p = dlt.attach('asana', pipelines_dir={pipelines_dir!r}); print(json.dumps(get_row_counts(p)))"
    )
    fresh = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd="/")
    assert fresh.returncode == 0, fresh.stderr[-2000:]
    shown = json.loads(fresh.stdout.strip().splitlines()[-1])
    assert {t: shown.get(t) for t in loaded} == {t: len(r) for t, r in loaded.items()}
    assert shown["_dlt_loads"] == 2  # the two runs


@pytest.fixture
def moto_s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Dict[str, str]]:
    """An S3-compatible server (moto) on a free loopback port, with one bucket, for this test."""
    import boto3

    with socket.socket() as probe:  # a port that is free now; moto binds it next
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert server.stderr is not None
    for line in server.stderr:  # werkzeug says so once it listens: no waiting on a clock
        if "Running on" in line:
            break
    else:
        raise RuntimeError("moto_server exited before listening")
    # Keep draining its request log so the server never blocks on a full pipe.
    threading.Thread(target=server.stderr.read, daemon=True).start()
    endpoint = f"http://127.0.0.1:{port}"
    creds = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}
    try:
        boto3.client("s3", endpoint_url=endpoint, **creds).create_bucket(Bucket="asana-lake")
        monkeypatch.setenv("DESTINATION__FILESYSTEM__BUCKET_URL", "s3://asana-lake/data")
        monkeypatch.setenv("DESTINATION__FILESYSTEM__CREDENTIALS__AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("DESTINATION__FILESYSTEM__CREDENTIALS__AWS_SECRET_ACCESS_KEY", "testing")
        monkeypatch.setenv("DESTINATION__FILESYSTEM__CREDENTIALS__REGION_NAME", "us-east-1")
        monkeypatch.setenv("DESTINATION__FILESYSTEM__CREDENTIALS__ENDPOINT_URL", endpoint)
        yield {
            "endpoint": endpoint,
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": "us-east-1",
            "AWS_ALLOW_HTTP": "true",
        }
    finally:
        server.terminate()
        server.wait(timeout=30)


@needs_moto
def test_delta_on_s3_mirrors_asana_across_changes(sim: AsanaSim, moto_s3: Dict[str, str], tmp_path: Path) -> None:
    pipeline = two_runs_with_changes(sim, ["--destination", "filesystem", "--table-format", "delta", "--progress", "none"])
    tables = sorted(pipeline.default_schema.data_table_names(seen_data_only=True))
    options = {k: v for k, v in moto_s3.items() if k != "endpoint"}
    loaded = delta_snapshot("s3://asana-lake/data", "asana_data", tables, options)
    assert_unique_keys(pipeline, loaded)
    assert_mirror(loaded, duckdb_reference(sim, tmp_path))
    assert_dataset_reads_it(pipeline, loaded)


def sqlite_catalog(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, warehouse: Path) -> Dict[str, str]:
    """A persistent SQLite Iceberg catalog, through dlt's config as README shows it."""
    catalog_config = {"type": "sql", "uri": f"sqlite:///{tmp_path / 'catalog.db'}", "warehouse": f"file://{warehouse}"}
    monkeypatch.setenv("ICEBERG_CATALOG__ICEBERG_CATALOG_TYPE", "sql")
    monkeypatch.setenv("ICEBERG_CATALOG__ICEBERG_CATALOG_CONFIG", json.dumps(catalog_config))
    return catalog_config


def iceberg_load(
    sim: AsanaSim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, runs: int
) -> Tuple[dlt.Pipeline, Dict[str, Any]]:
    """CLI runs into Iceberg with a persistent SQLite catalog (changes between), then every table
    as pyiceberg reads it."""
    catalog_config = sqlite_catalog(monkeypatch, tmp_path, tmp_path / "bucket")
    args = ["--destination", "filesystem", "--table-format", "iceberg", "--progress", "none"]
    for run in range(runs):
        if run:
            make_changes(sim.base_url, sim.token)
        assert cli.main(args) == 0
    pipeline = dlt.attach("asana", pipelines_dir=os.path.join(os.environ["DLT_DATA_DIR"], "pipelines"))
    return pipeline, iceberg_snapshot(catalog_config, pipeline)


def iceberg_snapshot(catalog_config: Dict[str, str], pipeline: dlt.Pipeline) -> Dict[str, Any]:
    """Every Iceberg table's rows, read by pyiceberg itself (not by the code under test)."""
    from pyiceberg.catalog.sql import SqlCatalog

    catalog = SqlCatalog("default", **{k: v for k, v in catalog_config.items() if k != "type"})
    loaded: Dict[str, Any] = {}
    for table in sorted(pipeline.default_schema.data_table_names(seen_data_only=True)):
        arrow = catalog.load_table((pipeline.dataset_name, table)).scan().to_arrow()
        cols = sorted(c for c in arrow.column_names if not c.startswith("_dlt"))
        loaded[table] = sorted((tuple(r[c] for c in cols) for r in arrow.select(cols).to_pylist()), key=repr)
    return loaded


# --- the mirror issue's rounds (tests/source/test_mirror.py) on Delta: updates, moves, subtask changes,
# deletes of tasks, subtasks, projects and stories, expired sync tokens, an idle run. Deletes are
# soft there (as the CLI sets them), so "equal to Asana" means: the rows not marked is_deleted.


def assert_soft_deletes_kept(pipeline: dlt.Pipeline) -> None:
    assert rows(pipeline, "SELECT count(*) FROM tasks WHERE is_deleted")[0][0] >= 5
    assert rows(pipeline, "SELECT count(*) FROM stories WHERE is_deleted")[0][0] >= 1


@needs_delta
def test_tables_selected_later_fill_on_delta(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A few tables, the default, then the opt-in per-task tables, through the CLI into Delta (soft
    deletes, as the CLI writes a lakehouse): after each run, equal to a fresh load of the selection."""
    monkeypatch.setenv("DESTINATION__FILESYSTEM__BUCKET_URL", str(tmp_path / "lake"))
    fresh = dlt.destinations.duckdb(str(tmp_path / "fresh.duckdb"))
    fidelity.selections_round(tmp_path, monkeypatch, ["--destination", "filesystem", "--table-format", "delta"], fresh,
                              "asana_data", deletes="soft")


@needs_delta
def test_the_mirror_rounds_hold_on_delta_on_local_disk(tmp_path: Path) -> None:
    with AsanaSim(token=mirror.TOKEN, config=mirror.tiny(True)) as sim:
        pipeline = mirror.new_pipeline(tmp_path, dlt.destinations.filesystem(str(tmp_path / "lake")))
        assert list(mirror.rounds(pipeline, sim, "soft", table_format="delta"))[-1] == "idle"
        assert_soft_deletes_kept(pipeline)


@needs_iceberg
def test_the_mirror_rounds_hold_on_iceberg_with_a_sqlite_catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same rounds on Iceberg: its upsert keeps nested rows a task no longer has, as Delta's."""
    with AsanaSim(token=mirror.TOKEN, config=mirror.tiny(True)) as sim:
        sqlite_catalog(monkeypatch, tmp_path, tmp_path / "lake")
        pipeline = mirror.new_pipeline(tmp_path, dlt.destinations.filesystem(str(tmp_path / "lake")))
        assert list(mirror.rounds(pipeline, sim, "soft", table_format="iceberg"))[-1] == "idle"
        assert_soft_deletes_kept(pipeline)


@needs_moto
def test_the_mirror_rounds_hold_on_delta_on_s3(tmp_path: Path, moto_s3: Dict[str, str]) -> None:
    """Asana's older rule this time (a move modifies the task), on the S3-compatible server."""
    with AsanaSim(token=mirror.TOKEN, config=mirror.tiny(False)) as sim:
        pipeline = mirror.new_pipeline(tmp_path, dlt.destinations.filesystem("s3://asana-lake/mirror"))
        assert list(mirror.rounds(pipeline, sim, "soft", table_format="delta"))[-1] == "idle"
        assert_soft_deletes_kept(pipeline)


@needs_delta
def test_the_analytics_models_build_on_delta(tmp_path: Path) -> None:
    """dbt (dlt's runner, dbt-duckdb) over views of the Delta tables: the numbers of the analytics
    issue's tests, against the simulator, after a load, changes and a merge."""
    from asana_app.analytics import analytics_pipeline, build_models
    from tests.app import test_analytics as analytics

    with AsanaSim(token=analytics.TOKEN, config=SimConfig(seed=21, tasks=40, projects=3)) as sim:
        pipeline = mirror.new_pipeline(tmp_path, dlt.destinations.filesystem(str(tmp_path / "lake")))
        for changes in (None, make_changes):
            if changes:
                changes(sim.base_url, analytics.TOKEN)
            source = asana_source(access_token=analytics.TOKEN, base_url=sim.base_url, requests_per_minute=0, deletes="soft")
            cli.run_once(pipeline, source.with_resources(*analytics.MODELLED), None, False, "delta")
        result = build_models(pipeline)
        built = analytics.Built(sim, analytics_pipeline(pipeline), result, [])
        analytics.test_every_model_built_and_every_data_test_passed(built)
        analytics.test_open_and_completed_tasks_per_project(built)
        analytics.test_open_and_completed_tasks_per_assignee(built)
        assert os.path.isfile(tmp_path / "pipelines" / "mirror" / "analytics.duckdb")


@needs_iceberg
def test_iceberg_with_a_persistent_sqlite_catalog_loads_without_catalog_job_errors(
    sim: AsanaSim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dlt_log: pytest.LogCaptureFixture
) -> None:
    pipeline, loaded = iceberg_load(sim, tmp_path, monkeypatch, runs=1)
    # Parallel load jobs creating one fresh catalog at once log these and are retried by dlt.
    assert not re.search(r"table iceberg_\w+ already exists|UNIQUE constraint failed", dlt_log.text)
    assert_unique_keys(pipeline, loaded)
    assert_mirror(loaded, duckdb_reference(sim, tmp_path))


@needs_iceberg
def test_iceberg_mirrors_asana_across_changes(sim: AsanaSim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pipeline, loaded = iceberg_load(sim, tmp_path, monkeypatch, runs=2)
    assert_unique_keys(pipeline, loaded)
    assert_mirror(loaded, duckdb_reference(sim, tmp_path))


@needs_iceberg
def test_an_iceberg_merge_takes_columns_a_later_run_adds_to_root_and_nested_tables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Any column may first arrive in a later run (a field Asana adds, a reference's `name`), on a
    root table or a nested one, in rows that update stored ones: the merge keeps every row right."""
    from asana_app.lakehouse import run_without_repeated_rows
    from pyiceberg.catalog.sql import SqlCatalog

    config = sqlite_catalog(monkeypatch, tmp_path, tmp_path / "lake")
    pipeline = mirror.new_pipeline(tmp_path, dlt.destinations.filesystem(str(tmp_path / "lake")))
    runs = [
        [{"gid": "1", "name": "a", "tags": [{"gid": "t1"}]}, {"gid": "2", "name": "b", "tags": [{"gid": "t2"}]}],
        [{"gid": "1", "name": "a2", "color": "red", "tags": [{"gid": "t1", "name": "urgent"}]}],
    ]
    for items in runs:
        resource = dlt.resource(items, name="things", primary_key="gid", write_disposition={"disposition": "merge", "strategy": "upsert"})
        run_without_repeated_rows(pipeline, resource, table_format="iceberg")
    catalog = SqlCatalog("default", **{k: v for k, v in config.items() if k != "type"})

    def read(table: str, cols: List[str]) -> List[Tuple[Any, ...]]:
        arrow = catalog.load_table(("asana_data", table)).scan().to_arrow()
        return sorted(tuple(r[c] for c in cols) for r in arrow.to_pylist())

    assert read("things", ["gid", "name", "color"]) == [("1", "a2", "red"), ("2", "b", None)]
    assert read("things__tags", ["gid", "name"]) == [("t1", "urgent"), ("t2", None)]


@needs_moto
@needs_iceberg
def test_iceberg_on_s3_mirrors_asana_across_changes(
    sim: AsanaSim, moto_s3: Dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog_config = {
        "type": "sql", "uri": f"sqlite:///{tmp_path / 'catalog.db'}", "warehouse": "s3://asana-lake/data",
        "s3.endpoint": moto_s3["endpoint"], "s3.access-key-id": "testing", "s3.secret-access-key": "testing",
        "s3.region": "us-east-1",
    }
    monkeypatch.setenv("ICEBERG_CATALOG__ICEBERG_CATALOG_TYPE", "sql")
    monkeypatch.setenv("ICEBERG_CATALOG__ICEBERG_CATALOG_CONFIG", json.dumps(catalog_config))
    pipeline = two_runs_with_changes(sim, ["--destination", "filesystem", "--table-format", "iceberg", "--progress", "none"])
    loaded = iceberg_snapshot(catalog_config, pipeline)
    from pyiceberg.catalog.sql import SqlCatalog

    catalog = SqlCatalog("default", **{k: v for k, v in catalog_config.items() if k != "type"})
    assert catalog.load_table((pipeline.dataset_name, "tasks")).location().startswith("s3://asana-lake/")
    assert_unique_keys(pipeline, loaded)
    assert_mirror(loaded, duckdb_reference(sim, tmp_path))
