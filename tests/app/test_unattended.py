"""Unattended runs through the CLI, as cron runs them: a misbehaving proxy between the CLI and
the simulator, kills, Ctrl-C, a dead port, missing credentials, a locked database, two runs at
once. Every run ends, in tables equal to a clean run's or in one line starting `error:`."""

import contextlib
import io
import os
import shutil
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

from asana_app import cli
from asana_sim import AsanaSim, SimConfig
from asana_sim.demo import make_changes
from tests.app.misbehaving_proxy import MisbehavingProxy
from tests.source.test_e2e import snapshot

REPO = Path(__file__).resolve().parents[2]
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


def loaded_tables(workdir: Path) -> list:
    """The tables in the DuckDB file (dlt opens it, creating it empty, to look for state)."""
    if not (workdir / "asana.duckdb").exists():
        return []
    with duckdb.connect(str(workdir / "asana.duckdb"), read_only=True) as db:
        return db.execute("SELECT table_name FROM information_schema.tables").fetchall()


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
    direct = tmp_path_factory.mktemp("clean")
    code, out, err = run_cli(direct, sim.base_url)
    assert code == 0, err
    with MisbehavingProxy(sim.base_url, "pass") as proxy:
        workdir = tmp_path_factory.mktemp("pass")
        assert run_cli(workdir, proxy.base_url)[0] == 0
    reference = tables(workdir)
    assert reference == tables(direct)  # pages of 5 load what pages of 100 do
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


def test_pages_that_never_end_stop_with_one_line(sim: AsanaSim, tmp_path: Path) -> None:
    with MisbehavingProxy(sim.base_url, "endless") as proxy:
        code, out, err = run_cli(tmp_path, proxy.base_url)
    assert code == 1
    assert one_error_line(err).startswith("error: Asana kept paging workspaces (22 pages, the last 21 without a new record)")
    assert len(proxy.requests) == 22
    assert loaded_tables(tmp_path) == []


# The CLI, killed with SIGKILL at $KILL_AT: `normalize`, when dlt's normalize has committed the
# load package and is deleting the extracted files it was made from (its "do not kill this
# process" moment), half of them deleted; `load`, with its package normalized and no job
# started; or `job:<table>`, the moment the destination committed a job of that table and before
# dlt recorded it as done, the worst instant of a load. The extract and normalize run in a forked
# child (`cli.run`): a kill there kills the whole run.
KILLED_MID_LOAD = """
import os, runpy, signal, sys
from dlt.common.destination.client import RunnableLoadJob
from dlt.common.storages.load_package import PackageStorage
from dlt.load.load import Load
kill_at, run_pid = os.environ["KILL_AT"], os.getpid()
run_managed, load_single_package = RunnableLoadJob.run_managed, Load.load_single_package
delete_package = PackageStorage.delete_package
def die():
    if os.getpid() != run_pid:
        os.kill(run_pid, signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)
def run_then_die(self, *args):
    run_managed(self, *args)
    if kill_at == "job:" + self.job_file_info().table_name:
        die()
def die_before_loading(self, *args):
    if kill_at == "load":
        die()
    load_single_package(self, *args)
def die_deleting(self, load_id, *args, **kwargs):
    if kill_at == "normalize" and os.path.basename(os.path.normpath(self.storage.storage_path)) == "extracted":
        self.storage.delete_folder(self.get_job_state_folder_path(load_id, "new_jobs"), recursively=True)
        die()
    delete_package(self, load_id, *args, **kwargs)
RunnableLoadJob.run_managed, Load.load_single_package = run_then_die, die_before_loading
PackageStorage.delete_package = die_deleting
sys.argv = [sys.argv[1], *sys.argv[2:]]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


@pytest.fixture(scope="module")
def loaded_then_changed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dict[str, Any]]:
    """What every kill point starts from, made once: a first load (its folder kept, to restore
    before each kill), then changes in Asana, and a clean full load of the changed account."""
    with AsanaSim(token=TOKEN, config=SimConfig(seed=17, tasks=40, projects=3)) as sim:
        victim = tmp_path_factory.mktemp("victim")
        assert run_cli(victim, sim.base_url)[0] == 0
        first_load = tmp_path_factory.mktemp("first_load")
        shutil.copytree(victim, first_load, dirs_exist_ok=True)
        make_changes(sim.base_url, TOKEN)
        reference = tmp_path_factory.mktemp("reference")
        assert run_cli(reference, sim.base_url)[0] == 0  # a clean full load of the changed account
        yield {"sim": sim, "victim": victim, "first_load": first_load, "reference": tables(reference)}


@pytest.mark.parametrize(
    "kill_at, finishing",
    [
        ("normalize", "loading the data it had already fetched"),
        ("load", "loading the data it had already fetched"),
        ("job:users", "it was killed mid-load, so this run loads its data again"),
        ("job:tasks", "it was killed mid-load, so this run loads its data again"),
    ],
)
def test_a_killed_run_is_finished_by_the_next_one_with_its_changes(
    kill_at: str, finishing: str, loaded_then_changed: Dict[str, Any]
) -> None:
    sim, victim = loaded_then_changed["sim"], loaded_then_changed["victim"]
    # The first load's folder, where it ran (dlt's state keeps its working directory).
    shutil.rmtree(victim)
    shutil.copytree(loaded_then_changed["first_load"], victim)
    env = dict(os.environ, PYTHONPATH=str(REPO), KILL_AT=kill_at, **cli_env(victim, sim.base_url))
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_MID_LOAD, str(REPO / "asana_dlt_pipeline.py"), "--progress", "none"],
        cwd=victim, env=env, capture_output=True, text=True, timeout=120,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    code, out, err = run_cli(victim, sim.base_url)

    assert code == 0, err
    assert duplicate_keys(victim) == {}
    assert tables(victim) == loaded_then_changed["reference"]  # the changes arrived too, in the same run
    assert out.count("Finishing the earlier, interrupted run first") == 1 and finishing in out
    assert ("Dropped 1 extracted package(s) an earlier run was killed deleting" in out) == (kill_at == "normalize"), out


def test_two_runs_at_once_a_killed_run_and_ctrl_c(tmp_path: Path) -> None:
    # From the 30th request on the simulator answers only 429s, so a run is reliably in progress.
    with AsanaSim(token=TOKEN, config=SimConfig(seed=19, tasks=40, projects=3, throttle_burst_at=30,
                                                throttle_burst_length=10**9)) as sim:
        workdir = tmp_path / "cron"
        stuck = lambda: sim.counters()["status"].get(429, 0) > 0  # noqa: E731
        first = spawn_cli(workdir, sim.base_url)
        wait_for(stuck, first, "the first run is under way")
        state = workdir / "dlt" / "pipelines" / "asana"
        before = sorted((p, p.stat().st_mtime_ns) for p in state.rglob("*"))

        with MisbehavingProxy(sim.base_url) as proxy:  # to see the requests of this run only
            code, out, err = run_cli(workdir, proxy.base_url)  # cron starts the next run too early
        assert code == 1
        assert one_error_line(err).startswith(f"error: another run (pid {first.pid}) holds pipeline 'asana'")
        assert sorted((p, p.stat().st_mtime_ns) for p in state.rglob("*")) == before
        assert proxy.requests == [] and out == ""

        first.send_signal(signal.SIGKILL)  # its lock dies with it
        first.wait()
        sim.reset_requests()
        second = spawn_cli(workdir, sim.base_url)
        wait_for(lambda: sim.counters()["status"].get(429, 0) > 0 and len(sim.requests()) > 2, second, "a new run")
        second.send_signal(signal.SIGINT)  # Ctrl-C
        _, err = second.communicate(timeout=60)
        assert second.returncode == 130
        assert one_error_line(err).startswith("error: interrupted; nothing partial was loaded")
        assert loaded_tables(workdir) == []

        sim.config.throttle_burst_at = None
        assert run_cli(workdir, sim.base_url)[0] == 0
        assert run_cli(tmp_path / "clean", sim.base_url)[0] == 0
    assert tables(workdir) == tables(tmp_path / "clean")


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "asana.invalid"])
def test_unreachable_asana_fails_at_the_first_attempt(host: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import urllib3.connection

    with socket.socket() as closed:  # a port that was free a moment ago: nothing listens there
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    base_url = f"http://{host.format(port=port)}/api/1.0"
    attempts = []  # connections tried to Asana (dlt's telemetry makes its own)
    connect = urllib3.connection.HTTPConnection._new_conn

    def counted(self: Any) -> Any:
        if f"{self.host}:{self.port}" == host.format(port=port) or self.host == host:
            attempts.append(self.host)
        return connect(self)

    monkeypatch.setattr(urllib3.connection.HTTPConnection, "_new_conn", counted)
    code, out, err = run_cli(tmp_path, base_url, RUNTIME__REQUEST_MAX_ATTEMPTS="8", RUNTIME__REQUEST_BACKOFF_FACTOR="1")
    assert code == 1
    assert one_error_line(err).startswith(f"error: Could not reach Asana at {base_url}")
    assert len(attempts) == 1  # not retried: with retries and backoff this took two minutes
    assert TOKEN not in out + err


def test_a_base_url_without_api_1_0_stops_with_one_line_and_loads_nothing(sim: AsanaSim, tmp_path: Path) -> None:
    """A 404 on `GET /workspaces`, which nothing can delete, is a wrong base_url: not a listing
    skipped as deleted while the run read it, which loaded nothing and exited 0."""
    base_url = sim.base_url.removesuffix("/api/1.0")
    code, out, err = run_cli(tmp_path, base_url)
    assert code == 1
    assert one_error_line(err) == (
        f"error: Asana answered 404 for GET /workspaces at {base_url}: base_url is wrong; it must be Asana's"
        " API root, ending in /api/1.0 (Asana's is https://app.asana.com/api/1.0): set base_url under"
        " [sources.asana_dlt] in .dlt/config.toml, or SOURCES__ASANA_DLT__BASE_URL. Nothing was loaded."
    )
    assert "Skipping" not in err and "Loaded into" not in out
    assert TOKEN not in out + err
    assert loaded_tables(tmp_path) == []


def test_missing_destination_credentials_name_the_key_and_the_variable(
    sim: AsanaSim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in [k for k in os.environ if k.startswith("DESTINATION__")]:
        monkeypatch.delenv(key)
    seen = len(sim.requests())
    code, out, err = run_cli(tmp_path, sim.base_url, "--destination", "postgres")
    assert code == 1
    line = one_error_line(err)
    assert "[destination.postgres]" in line and "DESTINATION__POSTGRES__CREDENTIALS" in line
    assert len(sim.requests()) == seen  # nothing was fetched


def test_a_locked_duckdb_file_names_the_file_and_its_holder(sim: AsanaSim, tmp_path: Path) -> None:
    database = tmp_path / "asana.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import duckdb, sys; db = duckdb.connect({str(database)!r}); print('open', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "open\n"
        seen = len(sim.requests())
        code, out, err = run_cli(tmp_path, sim.base_url)
    finally:
        holder.communicate("")
    assert code == 1
    line = one_error_line(err)
    assert f"the DuckDB file {database} is locked by another process (held by pid {holder.pid})" in line
    assert "notebook" in line and "another run" in line
    assert len(sim.requests()) == seen


def test_progress_bar_counts_requests_pages_and_rows(sim: AsanaSim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dlt.common.runtime.collector import LogCollector, TqdmCollector

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    assert isinstance(cli.make_pipeline("p", "duckdb", "d", "auto", str(tmp_path)).collector, TqdmCollector)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    assert isinstance(cli.make_pipeline("p", "duckdb", "d", "auto", str(tmp_path)).collector, LogCollector)

    seen = len(sim.requests())
    workdir = tmp_path / "bar"
    workdir.mkdir()
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(workdir)
        for key, value in cli_env(workdir, sim.base_url).items():
            patch.setenv(key, value)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            assert cli.main(["--progress", "bar"]) == 0
    import re

    bars = err.getvalue()
    counted = {name: max(int(n) for n in re.findall(rf"{name}: (\d+)it", bars)) for name in ("Asana requests", "tasks")}
    assert counted["Asana requests"] == len(sim.requests()) - seen  # every request, live
    assert counted["tasks"] > 0 and "Asana pages" in bars
