"""Follow mode (`--follow`) as a service runs it: a process of its own, stopped by signals.

Each test starts the CLI against the simulator and follows its heartbeat file (waiting for a
condition, never for time to pass): it loads what changes while it runs, holds the run lock for
its life, stops on SIGTERM after the cycle in progress with one line (also when the signal comes
during the cycle's load, where dlt would take it for itself), ends with one line on a revoked
token, and, killed with SIGKILL at moments drawn at random, loses and duplicates nothing: the
warehouse mirrors Asana once the edits stop.
"""

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional

import dlt
import pytest

from asana_app.follow import Follower, Health, Stop
from asana_app.watching import reads_per_watch, watch_rate
from asana_dlt.watch import Watched
from asana_sim import AsanaSim, SimConfig
from tests.conftest import cli_subprocess_env, rows
from tests.source import test_mirror as mirror

REPO = Path(__file__).resolve().parents[2]
POSTGRES = os.environ.get("ASANA_DLT_TEST_POSTGRES")
TOKEN = "follow-token-7d2a41"


STARTED: List["subprocess.Popen[bytes]"] = []  # every follow process a test started


@pytest.fixture(autouse=True)
def no_follow_process_outlives_its_test() -> Iterator[None]:
    """A test that fails while following leaves no process behind to load (and use the CPU) for hours."""
    yield
    while STARTED:
        process = STARTED.pop()
        if process.poll() is None:
            process.kill()
            process.wait(timeout=60)


class Following:
    """The CLI in follow mode, in its own process, its output in one log file."""

    def __init__(self, tmp_path: Path, sim: AsanaSim, *extra: str, env: Optional[Dict[str, str]] = None) -> None:
        self.tmp_path, self.sim = tmp_path, sim
        self.pipelines = tmp_path / "pipelines"
        self.health = self.pipelines / "asana.follow.json"
        self.log_path = tmp_path / "follow.log"
        self.env = env or cli_subprocess_env(tmp_path, sim.base_url, sim.token)
        self.cmd = [sys.executable, str(REPO / "asana_dlt_pipeline.py"), "--follow", "--follow-interval", "0.2",
                    "--pipelines-dir", str(self.pipelines), "--progress", "none", *extra]
        self.process: Optional[subprocess.Popen] = None  # type: ignore[type-arg]

    def start(self, wrapper: Optional[str] = None) -> "Following":
        """Starts the CLI, or `wrapper` (Python code that runs the script in sys.argv[1]) around it."""
        log = open(self.log_path, "a", encoding="utf-8")
        cmd = self.cmd if wrapper is None else [self.cmd[0], "-c", wrapper, *self.cmd[1:]]
        self.process = subprocess.Popen(cmd, cwd=self.tmp_path, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        STARTED.append(self.process)
        return self

    def status(self) -> Dict[str, Any]:
        try:
            return json.loads(self.health.read_text())
        except (OSError, ValueError):
            return {}

    def wait_for(self, condition: Callable[[Dict[str, Any]], bool], what: str, timeout: float = 90) -> Dict[str, Any]:
        """Waits until the heartbeat shows the condition; fails if the process ended without it."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ended = self.process.poll() is not None  # before reading: an ended process's last heartbeat counts
            status = self.status()
            if status.get("pid") == self.process.pid and condition(status):
                return status
            assert not ended, f"follow mode ended while waiting for {what}:\n{self.log()[-3000:]}"
            time.sleep(0.05)  # waiting for a condition, not for time to pass
        raise AssertionError(f"no {what} within {timeout} s:\n{self.log()[-3000:]}")

    def cycles(self) -> int:
        return int(self.status().get("cycles", 0)) if self.process and self.status().get("pid") == self.process.pid else 0

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.process is not None
        self.process.send_signal(sig)
        return self.process.wait(timeout=120)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8") if self.log_path.exists() else ""

    def pipeline(self) -> dlt.Pipeline:
        return dlt.attach("asana", pipelines_dir=str(self.pipelines))


# (case, quota per minute, share) -> reads per second the watches plan for, reads per watch
RATES = [
    ("no quota: no limit", 0, 0.8, None, 1_000_000),
    ("Asana's paid plan: 80% of 25/s, handed over every 20 reads (a second)", 1500, 0.8, 20.0, 20),
    ("a free plan: 2/s", 150, 0.8, 2.0, 2),
    ("a tiny quota: still one read a watch", 30, 0.8, 0.4, 1),
]


@pytest.mark.parametrize("case, rpm, share, rate, per_watch", RATES, ids=[r[0] for r in RATES])
def test_what_the_watches_read(case: str, rpm: float, share: float, rate: Optional[float], per_watch: int) -> None:
    planned = watch_rate(rpm, share)
    assert (planned if planned is None else round(planned, 6), reads_per_watch(planned)) == (rate, per_watch), case


def config(**kw: Any) -> SimConfig:
    return SimConfig(seed=11, tasks=40, projects=3, subtask_share=0.4, multi_home_share=0.15, documented_modified_at=True, **kw)


class FakeWatching:
    """The watching thread as the loop sees it: what it found before each take."""

    def __init__(self, found: List[Watched]) -> None:
        self.found = found

    def take(self) -> "tuple[Watched, None]":
        return (self.found.pop(0) if self.found else Watched()), None

    def stop(self) -> None:
        pass


@pytest.mark.parametrize("full_due, expected", [
    (False, [(False, {"p1"})]),  # a change: a cycle for it
    (True, [(True, {"p1"})]),  # a full cycle due: it loads the change too, none waits for the next
])
def test_each_cycle_loads_what_the_watch_found_before_it(tmp_path: Path, full_due: bool, expected: list) -> None:
    args = argparse.Namespace(follow_full_every=5.0, follow_interval=5.0)
    wake = threading.Event()
    stop = Stop(wake)
    follower = Follower(args, None, stop, Health(str(tmp_path / "health.json")), wake)  # type: ignore[arg-type]
    follower.watching = FakeWatching([Watched(projects={"p1"})])  # type: ignore[assignment]
    follower.last_full = float("-inf") if full_due else time.monotonic()
    cycles = []

    def cycle(full: bool, watched: Watched) -> None:
        cycles.append((full, set(watched.projects)))
        stop.requested.set()

    follower._cycle = cycle  # type: ignore[method-assign]
    assert follower._loop() == 0
    assert cycles == expected


@pytest.mark.parametrize("plan", ["polling", "workspace-events"])
def test_follow_loads_each_change_and_stops_on_sigterm_after_its_cycle(tmp_path: Path, plan: str) -> None:
    events = plan == "workspace-events"
    with AsanaSim(token=TOKEN, config=config(workspace_events=events, search=events, premium=events)) as sim, \
            SystemdNotify() as systemd:
        env = dict(cli_subprocess_env(tmp_path, sim.base_url, sim.token), NOTIFY_SOCKET=systemd.path)
        following = Following(tmp_path, sim, env=env).start()
        following.wait_for(lambda s: s.get("cycles", 0) >= 1, "first cycle")
        if not events:  # the lock does not depend on the plan: checked once
            # The run lock is held for the process's life: a scheduled run meanwhile is refused.
            other = subprocess.run([sys.executable, str(REPO / "asana_dlt_pipeline.py"), "--pipelines-dir",
                                    str(following.pipelines), "--progress", "none"],
                                   cwd=tmp_path, env=following.env, capture_output=True, text=True, timeout=60)
            assert other.returncode == 1 and "another run (pid" in other.stderr, other.stderr
        api = mirror.Api(sim)
        task = next(t for t in sim.store.all("task") if t["projects"] and t["parent"] is None)
        name = f"renamed while following {uuid.uuid4().hex[:6]}"
        done = following.cycles()
        api.send("PUT", f"/tasks/{task['gid']}", {"name": name})
        api.send("POST", f"/tasks/{task['gid']}/stories", {"text": "a comment while following"})
        following.wait_for(lambda s: s.get("cycles", 0) > done and "tasks" in s.get("last_cycle", ""), "a cycle with the change")
        # The comment may have come after that cycle read the events: the next cycle, then in
        # progress, loads it before SIGTERM ends following.
        assert following.stop() == 0
        log = following.log().strip().splitlines()
        assert log[-1].startswith("Stopped following after") and "(SIGTERM)" in log[-1], log[-3:]
        assert not any("Traceback" in line for line in log)
        pipeline = following.pipeline()
        assert rows(pipeline, f"SELECT name FROM tasks WHERE gid = '{task['gid']}'") == [(name,)]
        assert rows(pipeline, "SELECT count(*) FROM stories WHERE text = 'a comment while following'") == [(1,)]
        mirror.assert_mirror(pipeline, sim, "after following")
        # systemd (`Type=notify`, docs/scheduling.md) heard it start and stay alive.
        messages = systemd.received()
        assert messages[0] == "READY=1" and sum(m.startswith("WATCHDOG=1\nSTATUS=") for m in messages) >= 2, messages
        assert any("cycle 1 (full)" in m for m in messages), messages


class SystemdNotify:
    """systemd's notify socket, as a service manager binds it for a `Type=notify` unit."""

    def __init__(self) -> None:
        self.folder = tempfile.mkdtemp(prefix="sd-", dir="/tmp")  # a socket's path has at most 107 bytes
        self.path = os.path.join(self.folder, "notify")

    def __enter__(self) -> "SystemdNotify":
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.socket.bind(self.path)
        self.socket.setblocking(False)
        return self

    def received(self) -> List[str]:
        messages = []
        while True:
            try:
                messages.append(self.socket.recv(65536).decode())
            except BlockingIOError:
                return messages

    def __exit__(self, *exc: Any) -> None:
        self.socket.close()
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_the_documented_systemd_unit_verifies(tmp_path: Path) -> None:
    """The unit docs/scheduling.md shows, with its paths made real, passes `systemd-analyze verify`."""
    text = (REPO / "docs" / "scheduling.md").read_text(encoding="utf-8")
    unit = text.split("# /etc/systemd/system/asana-dlt-follow.service\n", 1)[1].split("```", 1)[0]
    checkout = tmp_path / "asana-dlt"
    (checkout / ".venv" / "bin").mkdir(parents=True)
    os.symlink(sys.executable, checkout / ".venv" / "bin" / "python")
    (checkout / "asana_dlt_pipeline.py").touch()
    unit = unit.replace("/path/to/asana-dlt", str(checkout)).replace("User=asana", "User=root")
    path = tmp_path / "asana-dlt-follow.service"
    path.write_text(unit, encoding="utf-8")
    assert "Type=notify" in unit and "--follow" in unit
    done = subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr


def test_a_token_revoked_while_following_ends_it_with_one_line(tmp_path: Path) -> None:
    with AsanaSim(token=TOKEN, config=config()) as sim:
        following = Following(tmp_path, sim).start()
        following.wait_for(lambda s: s.get("cycles", 0) >= 1, "first cycle")
        sim._app.token = "another-token"  # revoked in Asana: every request now answers 401
        assert following.process is not None
        assert following.process.wait(timeout=60) == 1
        log = following.log().strip().splitlines()
        assert log[-1].startswith("error: Asana rejected the access token (401"), log[-3:]
        assert "Traceback" not in following.log()
        assert TOKEN not in following.log() and TOKEN not in following.health.read_text()  # never printed


# Follow mode that sends itself SIGTERM in the load step of every cycle after its first, inside
# dlt's normalize and load, which would take the signal for themselves and end the cycle.
SIGTERM_DURING_A_LOAD = """
import os, runpy, signal, sys
from dlt.load.load import Load
import asana_app.follow
beat, load_single_package, cycles = asana_app.follow.Health.beat, Load.load_single_package, [0]
def counting(self, **changes):
    beat(self, **changes)
    cycles[0] = self.status["cycles"]
def terminated_while_loading(self, *args):
    if cycles[0] >= 1:
        os.kill(os.getpid(), signal.SIGTERM)
    load_single_package(self, *args)
asana_app.follow.Health.beat, Load.load_single_package = counting, terminated_while_loading
sys.argv = [sys.argv[1], *sys.argv[2:]]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


# SIGKILLs per destination, each at a moment drawn at random among a few edits.
KILLS = 3


def _edit(api: mirror.Api, sim: AsanaSim, rng: random.Random, n: int) -> None:
    """One ordinary edit: a rename, a completion, a comment, a new subtask or a deleted task."""
    tasks = [t for t in sim.store.all("task") if t["projects"] or t["parent"]]
    task = rng.choice(tasks)
    kind = n % 5
    if kind == 0:
        api.send("PUT", f"/tasks/{task['gid']}", {"name": f"edit {n}"})
    elif kind == 1:
        api.send("PUT", f"/tasks/{task['gid']}", {"completed": not task["completed"]})
    elif kind == 2:
        api.send("POST", f"/tasks/{task['gid']}/stories", {"text": f"comment {n}"})
    elif kind == 3:
        api.send("POST", f"/tasks/{task['gid']}/subtasks", {"name": f"subtask {n}"})
    elif len(tasks) > 20:
        api.send("DELETE", f"/tasks/{task['gid']}")


@pytest.mark.parametrize("destination", [
    "duckdb",
    pytest.param("postgres", marks=pytest.mark.skipif(not POSTGRES, reason="set ASANA_DLT_TEST_POSTGRES (as .ci/run does)")),
])
def test_killed_at_random_moments_the_next_start_goes_on_and_nothing_is_lost(
    tmp_path: Path, destination: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(20261205)
    dataset = f"asana_follow_{uuid.uuid4().hex[:8]}"
    with AsanaSim(token=TOKEN, config=config()) as sim:
        env = dict(cli_subprocess_env(tmp_path, sim.base_url, sim.token))
        extra = ["--destination", destination, "--dataset", dataset]
        if destination == "postgres":
            env["DESTINATION__POSTGRES__CREDENTIALS"] = POSTGRES or ""
            monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", POSTGRES or "")  # to read it back here
        following = Following(tmp_path, sim, *extra, env=env)
        api, edits = mirror.Api(sim), 0
        try:
            for kill in range(KILLS):
                following.start()
                following.wait_for(lambda s: True, "the process's first heartbeat")
                for _ in range(rng.randint(2, 5)):  # edits while it follows, then SIGKILL at a random moment
                    _edit(api, sim, rng, edits)
                    edits += 1
                    time.sleep(rng.uniform(0.0, 0.6))  # a random moment to kill at, not a wait for something
                assert following.stop(signal.SIGKILL) == -signal.SIGKILL
            # The last start gets SIGTERM during the load of the last edit's cycle (where dlt's steps
            # take signals for themselves): it finishes that cycle, then stops.
            following.start(wrapper=SIGTERM_DURING_A_LOAD)
            done = following.wait_for(lambda s: s.get("cycles", 0) >= 1, "a cycle after the last start")["cycles"]
            _edit(api, sim, rng, edits)
            following.wait_for(lambda s: s.get("cycles", 0) > done, "the last edit's cycle")
            assert following.process is not None and following.process.wait(timeout=120) == 0, following.log()[-3000:]
            last = following.log().strip().splitlines()[-1]
            assert last.startswith(f"Stopped following after {done + 1} cycle(s) (SIGTERM)"), last
            pipeline = following.pipeline()
            mirror.assert_mirror(pipeline, sim, f"after {edits + 1} edits and {KILLS} kills")
        finally:
            if following.process and following.process.poll() is None:
                following.stop(signal.SIGKILL)
            if destination == "postgres":
                with following.pipeline().sql_client() as client:
                    client.drop_dataset()
