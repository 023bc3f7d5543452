"""The command line a newcomer runs: exit codes, one-line errors, subsets, full refresh, demo."""

import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import dlt
import pytest
import requests

from asana_app import cli, packages
from asana_sim import AsanaSim, SimConfig
from tests.conftest import cli_subprocess_env, point_cli_at, rows

TOKEN = "cli-test-token-5d1e0b"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def sim(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AsanaSim]:
    """A simulator the CLI reaches through dlt's config injection, as a user's would."""
    with AsanaSim(token=TOKEN, config=SimConfig(seed=11)) as running:
        point_cli_at(monkeypatch, tmp_path, running.base_url, TOKEN)
        yield running


def test_wrong_token_is_one_line_on_stderr_and_exit_code_1(
    sim: AsanaSim, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SOURCES__ASANA_DLT__ACCESS_TOKEN", "not-the-right-token-77aa")
    assert cli.main(["--progress", "none"]) == 1
    out, err = capsys.readouterr()
    assert err.count("\n") == 1
    assert err.startswith("error: Asana rejected the access token")
    assert "not-the-right-token-77aa" not in out + err
    assert [r.path for r in sim.requests()] == ["/workspaces"]


def test_missing_token_names_where_to_put_it(
    sim: AsanaSim, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SOURCES__ASANA_DLT__ACCESS_TOKEN")
    assert cli.main(["--progress", "none"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: No Asana access token was found")
    assert sim.requests() == []


def test_resource_subset_loads_only_those_tables(sim: AsanaSim, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--resources", "projects", "--progress", "none"]) == 0
    out = capsys.readouterr().out
    table_lines = out.split("in dataset", 1)[1].splitlines()
    tables = {line.split()[0] for line in table_lines if line.strip()}
    assert "projects" in tables
    assert not {"tasks", "stories", "users"} & tables
    assert not any(r.path in ("/tasks", "/users") for r in sim.requests())


def test_full_refresh_lists_every_project_in_full_again(sim: AsanaSim) -> None:
    assert cli.main(["--progress", "none"]) == 0
    sim.reset_requests()
    assert cli.main(["--progress", "none"]) == 0
    assert all("modified_since" in r.params for r in sim.requests() if r.path == "/tasks")
    sim.reset_requests()
    assert cli.main(["--full-refresh", "--progress", "none"]) == 0
    listings = [r for r in sim.requests() if r.path == "/tasks"]
    assert listings and not any("modified_since" in r.params for r in listings)


def test_unknown_resource_is_rejected_by_the_parser(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.parse_args(["--resources", "tasks,comments"])
    assert "unknown resource(s) comments" in capsys.readouterr().err


def test_the_demo_keeps_its_state_and_data_in_the_pipelines_dir_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--pipelines-dir` wins over the checkout's `.demo/` (tests/app/test_as_cron_runs_it.py
    runs the demo without it, as cron would, and checks its analytics: they are left out here)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt"))
    built = []
    monkeypatch.setattr(cli, "analyse", lambda pipeline, *args, **kwargs: built.append(pipeline.pipelines_dir))
    folder = tmp_path / "my_demo"
    assert cli.main(["--demo", "--pipelines-dir", str(folder)]) == 0
    assert built == [str(folder)]  # the analytics are built on the demo's own pipeline
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert (folder / "asana_demo" / "state.json").exists() and (folder / "asana_demo.duckdb").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["my_demo"]  # nothing in the working directory or dlt's folder
    assert last.startswith(f"Loaded into duckdb:///{folder / 'asana_demo.duckdb'}, dataset asana_data. Explore it: ")
    assert last.endswith(f" -m dlt pipeline --pipelines-dir {folder} asana_demo show")
    import duckdb

    with duckdb.connect(str(folder / "asana_demo.duckdb"), read_only=True) as db:
        assert db.execute("select count(*) from asana_data.tasks").fetchone()[0] > 0


def test_a_run_with_nothing_to_load_names_the_dataset_in_its_last_line(
    sim: AsanaSim, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """dlt's load info names no dataset when a run made no load package (here: the audit log,
    which this plan lacks, with the state unchanged since the first run); the last line still does."""
    args = ["--resources", "audit_log_events", "--dataset", "my_asana", "--progress", "none"]
    assert cli.main(args) == 0
    capsys.readouterr()
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert "0 load package(s)" in out  # nothing new: no package
    database = tmp_path / "asana.duckdb"
    assert out.strip().splitlines()[-1].startswith(f"Loaded into duckdb:///{database}, dataset my_asana. Explore it: ")


def test_unreachable_asana_is_one_line_naming_base_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    with socket.socket() as closed:  # a port that was free a moment ago: nothing listens there
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt"))
    monkeypatch.setenv("SOURCES__ASANA_DLT__BASE_URL", f"http://127.0.0.1:{port}/api/1.0")
    monkeypatch.setenv("SOURCES__ASANA_DLT__ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv("RUNTIME__REQUEST_MAX_ATTEMPTS", "2")
    assert cli.main(["--progress", "none"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"error: Could not reach Asana at http://127.0.0.1:{port}/api/1.0")
    assert TOKEN not in err


def test_duckdb_loads_through_parquet(sim: AsanaSim, tmp_path: Path) -> None:
    import dlt

    assert cli.main(["--progress", "none"]) == 0
    pipeline = dlt.attach("asana", pipelines_dir=str(tmp_path / "dlt" / "pipelines"))
    jobs = pipeline.last_trace.last_load_info.load_packages[0].jobs["completed_jobs"]
    # Data files per table; merge tables also get a `sql` job that merges staging into the table.
    files = {(job.job_file_info.table_name, job.job_file_info.file_format) for job in jobs}
    assert ("tasks", "parquet") in files and ("stories", "parquet") in files
    assert {table for table, fmt in files if fmt == "insert_values"} <= {"_dlt_pipeline_state"}


def test_the_working_folder_keeps_only_the_newest_loaded_packages(
    sim: AsanaSim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # dlt keeps every loaded package (data files, schema, state): a run every 5 minutes, or follow
    # mode's cycles, grew the folder without end. The newest stay for `dlt pipeline show`.
    monkeypatch.setattr(packages, "KEPT_LOADED_PACKAGES", 1)
    task = next(t for t in sim.store.all("task") if t["parent"] is None and t["projects"])
    args = ["--resources", "workspaces,projects,tasks", "--progress", "none"]
    for run in range(3):
        renamed = requests.put(f"{sim.base_url}/tasks/{task['gid']}", json={"data": {"name": f"Run {run}"}},
                               headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
        assert renamed.ok and cli.main(args) == 0
    pipeline = dlt.attach(cli.PIPELINE_NAME, pipelines_dir=str(tmp_path / "dlt" / "pipelines"))
    loads = [load_id for (load_id,) in rows(pipeline, "SELECT load_id FROM _dlt_loads ORDER BY load_id")]
    assert len(loads) >= 3  # every load is still listed in the destination
    assert pipeline.list_completed_load_packages() == loads[-1:]
    assert os.listdir(os.path.join(pipeline.working_dir, "load", "loaded")) == loads[-1:]
    # The state the runs go on from is untouched: the next run is incremental and loads the change.
    sim.reset_requests()
    assert requests.put(f"{sim.base_url}/tasks/{task['gid']}", json={"data": {"name": "After pruning"}},
                        headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10).ok
    assert cli.main(args) == 0
    assert all("modified_since" in r.params for r in sim.requests() if r.path == "/tasks")
    assert rows(pipeline, f"SELECT name FROM tasks WHERE gid = '{task['gid']}'") == [("After pruning",)]


def test_a_base_url_that_is_no_url_is_one_line_before_anything_is_written(tmp_path: Path) -> None:
    # The CLI's own process: the option is read from config when the source is built, and the
    # CLI builds one at import to list its resources (that one must not read it).
    env = dict(cli_subprocess_env(tmp_path, "app.asana.com/api/1.0", "t"))
    done = subprocess.run([sys.executable, str(REPO / "asana_dlt_pipeline.py")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "error: base_url = 'app.asana.com/api/1.0' is not an http(s) URL (Asana's is https://app.asana.com/api/1.0,"
        " the simulator's http://127.0.0.1:8765); fix base_url under [sources.asana_dlt] in .dlt/config.toml or"
        " SOURCES__ASANA_DLT__BASE_URL."
    ]
    assert not (tmp_path / "dlt").exists() and not list(tmp_path.glob("*.duckdb"))
