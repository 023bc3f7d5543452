"""Builds the analytics models (`asana_dbt/`, a dbt project) on a pipeline's dataset.

It goes through dlt's dbt runner, which hands the pipeline's destination credentials and
dataset to dbt, in the interpreter that runs the CLI (dbt-duckdb and dbt-postgres are pinned in
requirements.txt, so nothing is installed or downloaded at run time). The models land in the
schema `<dataset>_analytics`, beside the loaded tables.

In Python, from the repository root (`.dlt/config.toml` points dlt's runner at our profiles):

    dbt = dlt.dbt.package(pipeline, "asana_dbt")
    dbt.run_all()
"""

from __future__ import annotations

import json
import os
import re
from contextlib import contextmanager
from dataclasses import dataclass
from subprocess import CalledProcessError
from typing import Iterator, List, Sequence

import dlt
from dlt.helpers.dbt.exceptions import DBTNodeResult, DBTProcessingError

from asana_app import CHECKOUT
from asana_app.interpreter import ThisInterpreter, python_command
from asana_dlt import AsanaSourceError

# The dbt project lives at the repository root, beside this package (an editable install keeps it there).
DBT_PROJECT_DIR = CHECKOUT / "asana_dbt"
MODELS_SCHEMA_SUFFIX = "_analytics"
_PROFILES_DIR_KEY = "DBT_PACKAGE_RUNNER__PACKAGE_PROFILES_DIR"


@dataclass
class AnalyticsResult:
    """What one build did: the models built and the dbt tests that ran, with their status."""

    schema: str
    models: Sequence[DBTNodeResult]
    tests: Sequence[DBTNodeResult]

    @property
    def failed_tests(self) -> List[DBTNodeResult]:
        """Tests that did not pass (dbt reports "fail", "warn" or "error")."""
        return [t for t in self.tests if t.status not in ("pass", "success")]


class AnalyticsError(AsanaSourceError):
    """A model or a data test failed; the message names which and why, on one line (the CLI
    prints it as its `error:` line, as it does the source's own errors)."""


def models_schema(pipeline: dlt.Pipeline) -> str:
    """Where the models are: dbt puts a custom schema beside the target one."""
    return f"{pipeline.dataset_name}{MODELS_SCHEMA_SUFFIX}"


def build_models(
    pipeline: dlt.Pipeline, full_refresh: bool = False, run_tests: bool = True, again: str = "--analytics"
) -> AnalyticsResult:
    """Runs the dbt project on what `pipeline` loaded, then its data tests.

    The profiles are our own (`asana_dbt/profiles.yml`) rather than dlt's bundled ones, whose
    DuckDB profile loads extensions from the network. `full_refresh` rebuilds every model
    from scratch (dbt's `--full-refresh`), as after `--full-refresh` of the load. `again` is the
    command-line option a failure's message tells to run again (the demo's is `--demo`).

    Raises:
        AnalyticsError: a model did not build, a data test failed, or dbt's process failed.
    """
    # dbt runs in a child process of this very interpreter: dlt's own choice for "the current
    # environment" starts whichever `python` is first on PATH when no virtualenv is activated
    # (`asana_app.interpreter`), and a venv of dlt's making would need the network.
    params = ["--fail-fast"] + (["--full-refresh"] if full_refresh else [])
    pipeline = analytics_pipeline(pipeline)
    try:
        with _dbt_environment(pipeline):
            runner = dlt.dbt.package(pipeline, str(DBT_PROJECT_DIR), venv=ThisInterpreter())
            # `run` and `test` rather than `run_all`, which also runs `dbt deps` and `dbt seed`:
            # the project has no packages and no seeds, and each dbt start costs seconds.
            models = runner.run(params)
            tests = runner.test() if run_tests else []
    except DBTProcessingError as exc:
        failed = [r for r in (exc.run_results or []) if r.status not in ("pass", "success", "skipped")]
        detail = "; ".join(f"{r.model_name}: {str(r.message).strip().splitlines()[0] if r.message else r.status}" for r in failed[:3])
        what = "the models were built but data tests failed" if exc.command == "test" else f"dbt {exc.command} failed"
        raise AnalyticsError(
            f"{what} in {DBT_PROJECT_DIR.name}/ ({detail or exc}); the load itself is complete:"
            f" fix the model or the data, then run again with {again}"
        ) from exc
    except (CalledProcessError, OSError) as exc:  # dbt's process did not start, or died
        raise AnalyticsError(f"{_dbt_process_failure(exc)}; the load itself is complete: {_process_fix(exc)}, then run again with {again}") from exc
    return AnalyticsResult(models_schema(pipeline), models, tests)


def _dbt_process_failure(exc: BaseException) -> str:
    """What went wrong with dbt's process, in words: the exception its stderr ends with (the
    last one that says something: dlt's "missing dependency" comes with an empty message after
    the ModuleNotFoundError that names the module), not dlt's repr of the script it ran."""
    if isinstance(exc, CalledProcessError):
        raised = [m for m in _RAISED.finditer(str(exc.stderr or ""))]
        said = next((m.group(0) for m in reversed(raised) if m.group(2).lstrip(":").strip()), raised[-1].group(0) if raised else "")
        return f"dbt's process exited with status {exc.returncode}" + (f": {said.strip()}" if said else "")
    return f"dbt's process could not start: {exc}"


# An exception's last line in a traceback: "ModuleNotFoundError: No module named 'dbt'".
_RAISED = re.compile(r"^([\w.]+(?:Error|Exception))(:?[^\n]*)$", re.MULTILINE)


def _process_fix(exc: BaseException) -> str:
    """The fix for a dbt process that failed: dbt missing from this interpreter is the usual one."""
    said = str(getattr(exc, "stderr", "") or "")
    if "ModuleNotFoundError" in said or "ImportError" in said:
        return f"install requirements.txt into this interpreter ({python_command('-m', 'pip', 'install', '-r', str(CHECKOUT / 'requirements.txt'))})"
    return "fix that (ASANA_DLT_DEBUG=1 shows the trace)"


LAKEHOUSE_DATABASE = "analytics.duckdb"


def analytics_pipeline(pipeline: dlt.Pipeline) -> dlt.Pipeline:
    """The pipeline whose destination dbt builds in: `pipeline` itself, except on a lakehouse.

    Why: dbt cannot write Delta/Iceberg tables, and dlt's runner has no profile for the
    filesystem destination. So for a lakehouse the models go into a DuckDB file in the
    pipeline's working folder (`analytics.duckdb`), in which dlt's own filesystem SQL client
    first makes one view per loaded table (`delta_scan` / `iceberg_scan` of the table, read by
    the DuckDB extensions requirements-lakehouse.txt installs): the models read the lake's
    current version on every build, and nothing is copied.
    """
    if pipeline.destination.destination_name != "filesystem":
        return pipeline
    from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials
    from dlt.destinations.impl.filesystem.sql_client import FilesystemSqlClient

    database = os.path.join(pipeline.working_dir, LAKEHOUSE_DATABASE)
    with pipeline.destination_client() as lake:
        views = FilesystemSqlClient(lake, dataset_name=pipeline.dataset_name, cache_db=DuckDbCredentials(database))  # type: ignore[arg-type]
        with views:
            views.create_views_for_all_tables()
    return dlt.pipeline(
        pipeline_name=f"{pipeline.pipeline_name}_analytics",
        pipelines_dir=pipeline.pipelines_dir,
        destination=dlt.destinations.duckdb(database),
        dataset_name=pipeline.dataset_name,
    )


@contextmanager
def _dbt_environment(pipeline: dlt.Pipeline) -> Iterator[None]:
    """For one build: dlt's runner reads our profiles wherever the process was started, and
    dbt writes its build output and logs into the pipeline's working folder, not into the
    repository (settings the user made, in config or environment, win)."""
    wanted = {
        _PROFILES_DIR_KEY: str(DBT_PROJECT_DIR),
        "DBT_TARGET_PATH": os.path.join(pipeline.working_dir, "dbt", "target"),
        "DBT_LOG_PATH": os.path.join(pipeline.working_dir, "dbt", "logs"),
    }
    added = [key for key in wanted if key not in os.environ]
    os.environ.update({key: wanted[key] for key in added})
    try:
        yield
    finally:
        for key in added:
            os.environ.pop(key, None)


def describe(result: AnalyticsResult) -> str:
    """A short report for the CLI: what was built where, and how to look at it."""
    names = sorted(m.model_name for m in result.models if m.model_name.startswith("asana__"))
    passed = len(result.tests) - len(result.failed_tests)
    return (
        f"Analytics: {len(result.models)} dbt models built in schema {result.schema} "
        f"({', '.join(names)}); {passed}/{len(result.tests)} data tests passed."
    )


NOTEBOOK = CHECKOUT / "notebooks" / "asana_charts.py"


def where_to_look(pipeline: dlt.Pipeline) -> str:
    """Commands that open the models: a query, the charts notebook, its static export.

    Each runs as printed from any folder and shell: this interpreter (marimo and DuckDB are
    installed in it, not necessarily on PATH) and absolute paths.
    """
    schema = models_schema(pipeline)
    database = None
    if pipeline.destination.destination_name == "filesystem":  # the models' DuckDB file beside the lake
        database = os.path.join(pipeline.working_dir, LAKEHOUSE_DATABASE)
    elif pipeline.destination.destination_type.endswith("duckdb"):
        database = str(pipeline.destination_client().config.credentials.database)  # type: ignore[attr-defined]
    if database:
        database = os.path.abspath(database)
        # One named connection: DuckDB 1.4 closes an unnamed one before a relation made from it prints.
        code = f"import duckdb; c = duckdb.connect({json.dumps(database)}); c.sql(\"select * from {schema}.asana__project\").show()"
        query = python_command("-c", code)
        args = ["--", "--db", database, "--schema", schema]
    else:
        query = f"SELECT * FROM {schema}.asana__project;"
        args = ["--", "--postgres", "<connection url>", "--schema", schema]
    marimo = ("-m", "marimo")
    return (
        f"Look at them: {query}\n"
        f"Charts: {python_command(*marimo, 'edit', str(NOTEBOOK), *args)}\n"
        f"Static charts: {python_command(*marimo, 'export', 'html', '--no-include-code', str(NOTEBOOK), '-o', 'asana_charts.html', *args)}"
    )
