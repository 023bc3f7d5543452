"""Shared fixtures: an isolated pipeline per test and a fast retry policy."""

import os
from pathlib import Path
from typing import Any, Dict, Iterator

import dlt
import pytest

# dlt's retrying session waits backoff_factor * 2**n between attempts; tests need retries,
# not the waiting. A Retry-After header is still honoured.
os.environ.setdefault("RUNTIME__REQUEST_BACKOFF_FACTOR", "0")


@pytest.fixture
def pipeline(tmp_path: Path) -> dlt.Pipeline:
    """A pipeline with its own working folder and DuckDB file, so tests never share state."""
    return dlt.pipeline(
        pipeline_name="asana_test",
        pipelines_dir=str(tmp_path / "pipelines"),
        destination=dlt.destinations.duckdb(str(tmp_path / "asana.duckdb")),
        dataset_name="asana_data",
    )


# The tables the task path writes and joins: tests about tasks and their changes load only
# these, leaving the catalog's ~30 tables (each costs dlt's per-table work) to their own tests.
CORE = ("workspaces", "projects", "sections", "tags", "tasks", "stories", "teams", "users")


def rows(pipeline: dlt.Pipeline, sql: str) -> list:
    """Runs SQL against the pipeline's dataset and returns the rows."""
    with pipeline.sql_client() as client:
        return list(client.execute_sql(sql))


def counts(pipeline: dlt.Pipeline) -> Dict[str, int]:
    """Rows per loaded data table; empty if nothing was ever loaded."""
    out: Dict[str, int] = {}
    if not pipeline.default_schema_name:
        return out
    with pipeline.sql_client() as client:
        for table in pipeline.default_schema.data_table_names(seen_data_only=True):
            try:
                out[table] = client.execute_sql(f"SELECT count(*) FROM {client.make_qualified_table_name(table)}")[0][0]
            except Exception:
                pass
    return out


@pytest.fixture
def dlt_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Captures dlt's logger, which does not propagate to the root logger `caplog` watches."""
    import logging

    dlt_logger = logging.getLogger("dlt")
    dlt_logger.addHandler(caplog.handler)
    previous = dlt_logger.level
    dlt_logger.setLevel(logging.DEBUG)
    caplog.handler.setLevel(logging.DEBUG)
    try:
        yield caplog
    finally:
        dlt_logger.removeHandler(caplog.handler)
        dlt_logger.setLevel(previous)


def point_cli_at(monkeypatch: pytest.MonkeyPatch, workdir: Path, base_url: str, token: str) -> None:
    """Runs this process's CLI calls against a simulator, as a user's config would: from
    `workdir`, with its own dlt data folder (dlt's state never leaks between tests), no quota."""
    monkeypatch.chdir(workdir)
    monkeypatch.setenv("DLT_DATA_DIR", str(workdir / "dlt"))
    monkeypatch.setenv("SOURCES__ASANA_DLT__BASE_URL", base_url)
    monkeypatch.setenv("SOURCES__ASANA_DLT__ACCESS_TOKEN", token)
    monkeypatch.setenv("SOURCES__ASANA_DLT__REQUESTS_PER_MINUTE", "0")


def cli_subprocess_env(workdir: Path, base_url: str, token: str) -> Dict[str, str]:
    """The environment of `python asana_dlt_pipeline.py` run as a child process against a
    simulator: its own dlt data folder, the repo importable, no quota."""
    return dict(
        os.environ,
        SOURCES__ASANA_DLT__ACCESS_TOKEN=token,
        SOURCES__ASANA_DLT__BASE_URL=base_url,
        SOURCES__ASANA_DLT__REQUESTS_PER_MINUTE="0",
        DLT_DATA_DIR=str(workdir / "dlt"),
        PYTHONPATH=str(Path(__file__).resolve().parents[1]),
    )


# The slowest tests (10 to 30 s each on 2 cores: the demo as cron runs it, follow mode's kills,
# the analytics build, the mirror and fidelity rounds) start first, so that pytest-xdist's two
# workers finish together instead of one waiting on a long test scheduled last.
SLOW_FIRST = (
    "tests/app/test_as_cron_runs_it.py",
    "tests/app/test_follow.py::test_killed",
    "tests/app/test_cli.py::test_the_demo",
    "tests/app/test_analytics.py",
    "tests/source/test_mirror.py",
    "tests/source/test_fidelity.py",
    "tests/source/test_workspace_changes.py",
    "tests/app/test_unattended.py",
)


def pytest_collection_modifyitems(items: list) -> None:
    """Runs `SLOW_FIRST` first, in its order (a stable sort: each file keeps its own)."""
    def rank(item: Any) -> int:
        return next((i for i, prefix in enumerate(SLOW_FIRST) if item.nodeid.startswith(prefix)), len(SLOW_FIRST))

    items.sort(key=rank)
