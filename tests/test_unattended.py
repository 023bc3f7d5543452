"""Unattended runs through the CLI, as cron runs them: a misbehaving proxy between the CLI and
the simulator, kills, Ctrl-C, a dead port, missing credentials, a locked database, two runs at
once. Every run ends, in tables equal to a clean run's or in one line starting `error:`."""

import contextlib
import io
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, Iterator, Optional, Tuple

import dlt
import duckdb
import pytest

import asana_dlt_pipeline as cli
from asana_sim import AsanaSim, SimConfig
from asana_sim.demo import make_changes
from tests.misbehaving_proxy import MisbehavingProxy
from tests.test_e2e import snapshot

REPO = Path(__file__).resolve().parents[1]
TOKEN = "unattended-token-93c1f0"
KEYED = ("workspaces", "projects", "sections", "tags", "tasks", "stories", "teams", "users")


def cli_env(workdir: Path, base_url: str) -> Dict[str, str]:
    return {
        "DLT_DATA_DIR": str(workdir / "dlt"),
        "SOURCES__ASANA_DLT__BASE_URL": base_url,
        "SOURCES__ASANA_DLT__ACCESS_TOKEN": TOKEN,
        "SOURCES__ASANA_DLT__REQUESTS_PER_MINUTE": "0",
        "RUNTIME__REQUEST_BACKOFF_FACTOR": "0",
    }


def run_cli(workdir: Path, base_url: str, *args: str, **env: str) -> Tuple[int, str, str]:
    """`python asana_dlt_pipeline.py ARGS` in `workdir`, in this process (fast): code, out, err."""
    workdir.mkdir(parents=True, exist_ok=True)
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(workdir)
        for key, value in {**cli_env(workdir, base_url), **env}.items():
            patch.setenv(key, value)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main(["--progress", "none", *args])
    return code, out.getvalue(), err.getvalue()


def spawn_cli(workdir: Path, base_url: str, *args: str, **kwargs: Any) -> "subprocess.Popen[str]":
    """The CLI as its own process, with Ctrl-C's default meaning (for kill and SIGINT)."""
    workdir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONPATH=str(REPO), **cli_env(workdir, base_url))
    return subprocess.Popen(
        [sys.executable, str(REPO / "asana_dlt_pipeline.py"), "--progress", "none", *args],
        cwd=workdir,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        **kwargs,
    )


def tables(workdir: Path) -> Dict[str, Any]:
    pipeline = dlt.attach("asana", pipelines_dir=str(workdir / "dlt" / "pipelines"))
    return snapshot(pipeline)


def duplicate_keys(workdir: Path) -> Dict[str, int]:
    with duckdb.connect(str(workdir / "asana.duckdb"), read_only=True) as db:
        return {
            t: n
            for t in KEYED
            if (n := db.execute(f"SELECT count(*) - count(DISTINCT gid) FROM asana_data.{t}").fetchall()[0][0])
        }


def one_error_line(err: str) -> str:
    """The run's last line, which must be its only `error:` line (dlt's warnings may precede it)."""
    lines = err.strip().splitlines()
    assert [line for line in lines if line.startswith("error:")] == lines[-1:], err
    return lines[-1]


def wait_for(condition: Any, proc: "subprocess.Popen[str]", what: str) -> None:
    """Waits for a condition (not for time to pass); fails if the process ends first."""
    deadline = time.monotonic() + 60
    while not condition():
        assert proc.poll() is None, f"the run ended before {what}: {proc.communicate()}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


@pytest.fixture(scope="module")
def sim() -> Iterator[AsanaSim]:
    """A small account whose listings all page through the proxy (5 records a page)."""
    with AsanaSim(token=TOKEN, config=SimConfig(seed=13, tasks=40, projects=3)) as running:
        yield running


@pytest.fixture(scope="module")
def clean(sim: AsanaSim, tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Any]:
    """A clean run straight against the simulator, and one through a well-behaved proxy."""
    code, out, err = run_cli(tmp_path_factory.mktemp("clean"), sim.base_url)
    assert code == 0, err
    with MisbehavingProxy(sim.base_url, "pass") as proxy:
        workdir = tmp_path_factory.mktemp("pass")
        assert run_cli(workdir, proxy.base_url)[0] == 0
    reference = tables(workdir)
    assert all(len(reference[t]) > 5 for t in ("tags", "users", "tasks", "stories"))  # they page
    return {"tables": reference, "requests": len(proxy.requests)}


@pytest.mark.parametrize("mode", ["repeat", "offset_twice"])
def test_repeated_records_and_offsets_leave_one_row_per_key(
    mode: str, sim: AsanaSim, clean: Dict[str, Any], tmp_path: Path
) -> None:
    with MisbehavingProxy(sim.base_url, mode) as proxy:
        code, out, err = run_cli(tmp_path, proxy.base_url)
    assert code == 0, err
    assert duplicate_keys(tmp_path) == {}
    assert tables(tmp_path) == clean["tables"]
    if mode == "repeat":  # deduplication costs no request
        assert len(proxy.requests) == clean["requests"]
    else:  # each replayed offset restarts its listing once
        assert len(proxy.requests) > clean["requests"]


def test_a_looping_next_page_stops_with_one_line_and_loads_nothing(sim: AsanaSim, tmp_path: Path) -> None:
    with MisbehavingProxy(sim.base_url, "loop") as proxy:
        code, out, err = run_cli(tmp_path, proxy.base_url)
    assert code == 1
    assert one_error_line(err).startswith("error: Asana's pagination of ") and "loops" in err
    assert len(proxy.requests) < 200  # it ended: two rounds per listing, not hundreds of pages
    assert loaded_tables(tmp_path) == []


def loaded_tables(workdir: Path) -> list:
    """The tables in the DuckDB file (dlt opens it, creating it empty, to look for state)."""
    if not (workdir / "asana.duckdb").exists():
        return []
    with duckdb.connect(str(workdir / "asana.duckdb"), read_only=True) as db:
        return db.execute("SELECT table_name FROM information_schema.tables").fetchall()


# The CLI, killed with SIGKILL the moment the destination has committed a job of table
# $KILL_AFTER_TABLE and before dlt has recorded it as done: the worst instant of a load.
KILLED_MID_LOAD = """
import os, runpy, signal, sys
from dlt.common.destination.client import RunnableLoadJob
run_managed = RunnableLoadJob.run_managed
def run_then_die(self, *args):
    run_managed(self, *args)
    if self.job_file_info().table_name == os.environ["KILL_AFTER_TABLE"]:
        os.kill(os.getpid(), signal.SIGKILL)
RunnableLoadJob.run_managed = run_then_die
sys.argv = [sys.argv[1], *sys.argv[2:]]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


@pytest.mark.parametrize("table", ["users", "tasks"])
def test_a_run_killed_mid_load_is_finished_by_the_next_one_with_its_changes(table: str, tmp_path: Path) -> None:
    with AsanaSim(token=TOKEN, config=SimConfig(seed=17, tasks=40, projects=3)) as sim:
        victim, reference = tmp_path / "victim", tmp_path / "reference"
        assert run_cli(victim, sim.base_url)[0] == 0
        assert run_cli(reference, sim.base_url)[0] == 0
        make_changes(sim.base_url, TOKEN)
        assert run_cli(reference, sim.base_url)[0] == 0

        env = dict(os.environ, PYTHONPATH=str(REPO), KILL_AFTER_TABLE=table, **cli_env(victim, sim.base_url))
        killed = subprocess.run(
            [sys.executable, "-c", KILLED_MID_LOAD, str(REPO / "asana_dlt_pipeline.py"), "--progress", "none"],
            cwd=victim, env=env, capture_output=True, text=True, timeout=120,
        )
        assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
        code, out, err = run_cli(victim, sim.base_url)

    assert code == 0, err
    assert duplicate_keys(victim) == {}
    assert tables(victim) == tables(reference)  # the changes arrived too, in the same run
    assert out.count("Finishing the earlier, interrupted run first") == 1
