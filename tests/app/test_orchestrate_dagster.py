"""Dagster: the assets follow the source's lineage and a materialization loads the simulator.

Needs requirements-dagster.txt; skips without it (`.ci/run` runs it in the extras' virtualenv).
"""

import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

pytest.importorskip("dagster_dlt", reason="needs dagster-dlt: pip install -r requirements-dagster.txt")

from dagster import AssetKey, materialize  # noqa: E402

from asana_sim import AsanaSim, SimConfig  # noqa: E402
from tests.conftest import counts, point_cli_at  # noqa: E402

TOKEN = "dagster-test-token-81be"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def sim(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AsanaSim]:
    with AsanaSim(token=TOKEN, config=SimConfig(seed=17, tasks=40, projects=3)) as running:
        point_cli_at(monkeypatch, tmp_path, running.base_url, TOKEN)
        yield running


def test_asset_lineage_follows_the_resources() -> None:
    from orchestrate.dagster_defs import asana_assets, defs

    deps = {k.path[-1]: {d.path[-1] for d in v} for k, v in asana_assets.asset_deps.items()}
    core = {
        "workspaces": set(),
        "projects": {"workspaces"},
        "sections": {"projects"},
        "tags": {"workspaces"},
        "tasks": {"projects"},
        "stories": {"tasks"},
        "teams": {"workspaces"},
        "users": {"workspaces"},
    }
    assert {name: deps[name] for name in core} == core
    # Every dependency is another table of this source: nothing hangs off an outside key.
    assert set().union(*deps.values()) <= set(deps)
    assert AssetKey(["asana", "stories"]) in asana_assets.keys
    (schedule,) = defs.schedules
    assert schedule.cron_schedule == "0 6 * * *" and schedule.job.name == "asana_daily"


def test_the_schedule_is_daily_unless_asana_dlt_schedule_says_otherwise() -> None:
    code = "from orchestrate.dagster_defs import defs; print(next(iter(defs.schedules)).cron_schedule)"
    for value, expected in (("", "0 6 * * *"), ("*/5 * * * *", "*/5 * * * *")):
        done = subprocess.run([sys.executable, "-c", code], env={**os.environ, "ASANA_DLT_SCHEDULE": value},
                              cwd=REPO, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0 and done.stdout.strip().splitlines()[-1] == expected, done.stderr[-2000:]


def test_materialize_loads_the_simulator_with_row_counts(sim: AsanaSim) -> None:
    import dlt
    from dagster_dlt import DagsterDltResource

    from orchestrate.dagster_defs import asana_assets

    result = materialize([asana_assets], resources={"dlt": DagsterDltResource()})
    assert result.success
    materialized = {m.asset_key.path[-1]: m for m in result.asset_materializations_for_node("asana")}
    assert set(materialized) >= {"workspaces", "projects", "tasks", "stories", "users"}
    pipeline = dlt.attach("asana", pipelines_dir=str(Path.cwd() / "dlt" / "pipelines"))
    in_db = counts(pipeline)
    expected = sim.expected_counts()
    assert in_db["tasks"] == expected["tasks"] and in_db["stories"] == expected["stories"]
    for table in ("tasks", "stories", "projects"):
        assert materialized[table].metadata["dagster/row_count"].value == in_db[table]



def test_two_materializations_on_iceberg_mirror_asana(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a lakehouse the assets load as the CLI does (lakehouse.mirror_run). dlt's plain `run`,
    which dagster-dlt calls, fails the second materialization here: the demo's changes give
    stories new columns, which dlt's Iceberg merge cannot take (lakehouse.evolve_iceberg_tables)."""
    pytest.importorskip("pyiceberg", reason="needs requirements-lakehouse.txt")
    import dlt
    from dagster_dlt import DagsterDltResource

    from asana_sim.demo import make_changes
    from orchestrate.dagster_defs import asana_assets
    from tests.app.test_lakehouse import CONFIG, assert_mirror, assert_unique_keys, duckdb_reference, iceberg_snapshot, sqlite_catalog

    monkeypatch.setenv("ASANA_DLT_DESTINATION", "filesystem")
    monkeypatch.setenv("ASANA_DLT_TABLE_FORMAT", "iceberg")
    monkeypatch.setenv("DESTINATION__FILESYSTEM__BUCKET_URL", str(tmp_path / "bucket"))
    catalog = sqlite_catalog(monkeypatch, tmp_path, tmp_path / "bucket")
    with AsanaSim(token=TOKEN, config=CONFIG) as sim:  # the CLI tests' workspace
        point_cli_at(monkeypatch, tmp_path, sim.base_url, TOKEN)
        for run in range(2):
            if run:
                make_changes(sim.base_url, TOKEN)
            result = materialize([asana_assets], resources={"dlt": DagsterDltResource()})
            assert result.success
        pipeline = dlt.attach("asana", pipelines_dir=str(Path.cwd() / "dlt" / "pipelines"))
        loaded = iceberg_snapshot(catalog, pipeline)
        assert_unique_keys(pipeline, loaded)
        assert_mirror(loaded, duckdb_reference(sim, tmp_path))
    materialized = {m.asset_key.path[-1]: m for m in result.asset_materializations_for_node("asana")}
    for table in ("tasks", "stories", "projects"):
        assert materialized[table].metadata["dagster/row_count"].value == len(loaded[table])
