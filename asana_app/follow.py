"""Follow mode (`--follow`): one long-running process that keeps the warehouse seconds behind Asana.

A thread of its own reads Asana's events from the tokens the last load stored, storing none,
while cycles load (`asana_app.watching`): a change starts a cycle as soon as the one before it
has committed; otherwise a full cycle runs every few minutes.
Each cycle is an ordinary dlt load of the same tables as a scheduled run, atomic and resumable:
a cycle made for changed tasks reads only the projects whose events changed and keeps the tables
that have no change events as last written; a full cycle lists those too, and writes a table
listed whole only when its content changed (`asana_dlt.unchanged`). One client and rate limiter
serve every cycle and every watch (`asana_dlt.session.Session`), so the quota holds throughout:
the watches plan for `WATCH_SHARE` of it, and the shared limiter paces both.

Fit to run for days: the run lock is held for the process's life; SIGTERM or SIGINT ends it
after the cycle in progress (a second one aborts that cycle, loading nothing of it); each cycle
logs one line; a heartbeat file (and systemd's watchdog, when started with `NOTIFY_SOCKET`) says
it is alive; a token Asana rejects ends it with the one line that names the fix.
"""

import argparse
import json
import logging
import os
import re
import signal
import socket
import sys
import threading
import time
from typing import Any, Dict, List, Optional, Set

import dlt
import pendulum

from asana_app.destinations import make_pipeline
from asana_app.options import source_arguments
from asana_app.process_memory import release_freed
from asana_app.run_guard import hold_run_lock, one_line, root_cause
from asana_app.runs import run_once
from asana_app.watching import Watching
from asana_dlt import asana_source
from asana_dlt.errors import AsanaAuthError
from asana_dlt.session import Session
from asana_dlt.state import stored_entries
from asana_dlt.watch import Watched

# A quiet project is read again after at most this long (its interval grows up to it).
LONGEST_WAIT_S = 300.0
# Share of the quota the watches may spend; the cycles' own requests need the rest.
WATCH_SHARE = 0.8
# Share of the quota over one full-cycle interval that each table listed per parent (a project's
# custom field settings, memberships, status updates, task templates) may spend in a full cycle:
# in a big organization the rest are kept from earlier cycles, the least recently listed read
# first, so a full cycle takes seconds, not minutes, and every part is read again within the hour.
PER_PARENT_TABLE_SHARE = 0.025
# A project not loaded for this long is read by the next full cycle, so its events token never
# expires (Asana keeps them about a day).
TOKEN_REFRESH_S = 6 * 3600


class Stop:
    """SIGTERM and SIGINT: the first ends the loop after the cycle in progress; a second aborts
    that cycle (dlt's graceful stop on an interrupt: nothing of it is loaded).

    Args:
        wake: Set with the request, so a follower waiting for a change wakes to stop.
    """

    def __init__(self, wake: threading.Event) -> None:
        self.requested = threading.Event()
        self.wake = wake
        self.name = ""

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self._handle)
        signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested.is_set():
            raise KeyboardInterrupt
        self.name = signal.Signals(signum).name
        self.requested.set()
        self.wake.set()

    def wait(self, seconds: float) -> bool:
        """Sleeps; True when asked to stop meanwhile."""
        return self.requested.wait(max(0.0, seconds))


class OnceEach(logging.Filter):
    """Follow mode prints each note once per process: the same plan condition (a workspace
    without search, a table the plan lacks, how a workspace's changes are captured, whatever
    its counts this cycle) would otherwise come back with every cycle."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: Set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR:
            return True
        message = re.sub(r"\d+", "N", record.getMessage())  # the same note with this cycle's counts
        if message in self.seen:
            return False
        self.seen.add(message)
        return True


class Health:
    """A heartbeat an orchestrator or systemd can watch: a JSON file rewritten after every watch
    and cycle (its `beat_at` ages when the process hangs), and systemd's notify socket."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.status: Dict[str, Any] = {"pid": os.getpid(), "started_at": _now(), "cycles": 0, "failed_cycles": 0}
        self._lock = threading.Lock()  # the watching thread beats too

    def beat(self, **changes: Any) -> None:
        with self._lock:
            self.status.update(changes, beat_at=_now())
            temporary = f"{self.path}.tmp"
            with open(temporary, "w", encoding="utf-8") as handle:
                json.dump(self.status, handle)
            os.replace(temporary, self.path)
            _notify(f"WATCHDOG=1\nSTATUS={self.status.get('last_cycle', 'watching')}")


def follow(args: argparse.Namespace, pipelines_dir: str, pipeline_name: str) -> int:
    """Runs cycles until stopped; the exit code says how it ended (0 stopped, 1 failed, 130 aborted)."""
    wake = threading.Event()
    stop = Stop(wake)
    stop.install()
    logging.getLogger("dlt").addFilter(OnceEach())
    with hold_run_lock(pipelines_dir, pipeline_name):
        pipeline = make_pipeline(pipeline_name, args.destination, args.dataset, "none", pipelines_dir)
        # dlt's normalize and load steps take SIGTERM and SIGINT for themselves and end the step on
        # the first one (the cycle failed, exit 130); here the first must let the cycle finish, so
        # both signals reach `Stop` whichever step runs.
        pipeline.runtime_config.intercept_signals = False
        health = Health(args.health_file or os.path.join(pipelines_dir, f"{pipeline_name}.follow.json"))
        print(
            f"Following Asana into {pipeline.destination.destination_name} dataset {args.dataset}: a cycle when"
            f" events show a change (read every {args.follow_interval:g} s), a full one every"
            f" {args.follow_full_every:g} min; heartbeat in {health.path}; stop with SIGTERM or Ctrl-C."
        )
        _notify("READY=1")
        try:
            return Follower(args, pipeline, stop, health, wake).run()
        except BaseException as exc:
            if isinstance(root_cause(exc), KeyboardInterrupt):  # a second signal: the cycle is abandoned
                print("error: interrupted during a cycle; nothing of it was loaded, and the next start resumes.",
                      file=sys.stderr)
                return 130
            raise


class Follower:
    """The loop: a cycle when the watching thread saw a change or a full cycle is due.

    Args:
        wake: Set by the watching thread on a change and by `stop` on a signal.
    """

    def __init__(self, args: argparse.Namespace, pipeline: dlt.Pipeline, stop: Stop, health: Health,
                 wake: threading.Event) -> None:
        self.args, self.pipeline, self.stop, self.health, self.wake = args, pipeline, stop, health, wake
        self.session = Session()
        self.watching: Optional[Watching] = None
        self.last_full = float("-inf")

    def run(self) -> int:
        try:
            return self._loop()
        finally:
            if self.watching is not None:
                self.watching.stop()

    def _loop(self) -> int:
        while not self.stop.requested.is_set():
            full_in = self.last_full + self.args.follow_full_every * 60 - time.monotonic()
            watched = Watched()
            if self.watching is not None:  # a full cycle loads what the watch found too
                watched, failure = self.watching.take()
                if failure is not None:
                    failed = self._failed(failure, "reading events")
                    if failed is not None:
                        return failed
                if full_in > 0 and not watched.changed():
                    self.wake.wait(full_in)  # a change, a failure, a signal, or the full cycle's time
                    self.wake.clear()
                    continue
            failed = self._cycle(full_in <= 0, watched)
            if failed is not None:
                return failed
        print(f"Stopped following after {self.health.status['cycles']} cycle(s) ({self.stop.name or 'stop'});"
              " the next start resumes from the last load.")
        return 0

    def _cycle(self, full: bool, watched: Watched) -> Optional[int]:
        """One load; None to go on, or the exit code when it must end."""
        started, cpu_started = time.monotonic(), _cpu_s()
        session = self.session
        session.full, session.targets = full, _targets(self.pipeline, session, watched, full)
        session.parts_per_run = _parts_per_run(self.args, session)
        if self.watching is not None:
            self.watching.loading(_loading(session))
        try:
            source = asana_source(session=session, **source_arguments(self.args))
            _info, loaded = run_once(self.pipeline, source, self.args.resources, False, self.args.table_format)
        except Exception as exc:
            session.abandoned()
            self._watch_on()
            return self._failed(exc, "a cycle (nothing of it was loaded)")
        session.committed()
        self._watch_on()
        if full:
            self.last_full = started
        release_freed()  # what the load left: memory stays flat over days of cycles
        line = _cycle_line(self.health.status["cycles"] + 1, full, watched, loaded, time.monotonic() - started,
                           _cpu_s() - cpu_started)
        print(line)
        self.health.beat(cycles=self.health.status["cycles"] + 1, last_cycle=line, last_cycle_at=_now(), rss_mb=_rss_mb())
        return None

    def _watch_on(self) -> None:
        """Events are read on from the tokens the destination holds now; once a cycle has made
        the session's client, the watching thread starts."""
        stored = stored_entries(self.pipeline.state)
        if self.watching is not None:
            self.watching.loaded(stored, self.session.projects)
            return
        client = self.session.current_client()
        if client is None:  # the first cycle failed before it made one
            return
        self.watching = Watching(client, self.args.follow_interval, LONGEST_WAIT_S, self.session.requests_per_minute,
                                 WATCH_SHARE, self.wake, lambda requests: self.health.beat(watch_requests=requests),
                                 self.stop.requested)
        self.watching.loaded(stored, self.session.projects)
        self.watching.start()

    def _failed(self, exc: BaseException, what: str) -> Optional[int]:
        """A rejected token ends following with its one line (exit 1); anything else is one line,
        and the next watch or cycle tries again."""
        if isinstance(root_cause(exc), KeyboardInterrupt):  # dlt wraps the second signal's interrupt
            raise KeyboardInterrupt from exc
        line = one_line(exc, self.args.destination)
        self.health.beat(failed_cycles=self.health.status["failed_cycles"] + 1, last_error=line)
        if isinstance(root_cause(exc), AsanaAuthError) or isinstance(exc, AsanaAuthError):
            print(f"error: {line}", file=sys.stderr)
            return 1
        print(f"error in {what}; following goes on: {line}", file=sys.stderr)
        self.stop.wait(self.args.follow_interval)
        return None


def _loading(session: Session) -> Optional[Set[str]]:
    """The streams a cycle loads events of: its target projects and every workspace with its own
    events (every run reads those); None when it reads every project."""
    if session.targets is None:
        return None
    workspaces = {str((p.get("workspace") or {}).get("gid") or "") for p in session.projects.values()}
    return set(session.targets) | workspaces


def _parts_per_run(args: argparse.Namespace, session: Session) -> Optional[int]:
    """Parents' parts of each per-parent table a full cycle lists (None: all; no quota, no limit)."""
    rpm = session.requests_per_minute
    return max(10, int(rpm * args.follow_full_every * PER_PARENT_TABLE_SHARE)) if rpm else None


def _targets(pipeline: dlt.Pipeline, session: Session, watched: Watched, full: bool) -> Optional[Set[str]]:
    """The projects a cycle reads: those whose events changed (all of a workspace whose own
    events did); a full cycle adds those not loaded for hours, so no events token expires. None
    (all) before the first cycle has listed them."""
    if not session.projects:
        return None
    stored = stored_entries(pipeline.state)
    targets = set(watched.projects)
    for gid, project in session.projects.items():
        workspace = str((project.get("workspace") or {}).get("gid") or "")
        entry = stored["projects"].get(gid, {})
        if workspace in watched.workspaces or (full and _stale(entry)):
            targets.add(gid)
        elif full and stored["workspaces"].get(workspace, {}).get("sync"):
            targets.add(gid)  # workspace mode: its events stand in, reading costs nothing per project
    return targets


def _stale(entry: Dict[str, Any]) -> bool:
    loaded_at = entry.get("loaded_at")
    if not loaded_at:
        return True
    return bool((pendulum.now("UTC") - pendulum.parse(loaded_at)).total_seconds() >= TOKEN_REFRESH_S)


def _cycle_line(number: int, full: bool, watched: Watched, loaded: Dict[str, int], seconds: float, cpu_s: float) -> str:
    """One log line per cycle: why it ran, what changed, and what it cost (wall and CPU time)."""
    changed = {t: n for t, n in sorted(loaded.items()) if n and not t.startswith("_dlt")}
    what = ", ".join(f"{t} {n}" for t, n in changed.items()) or "nothing changed"
    why = "full" if full else "events of " + ", ".join(
        f"{n} {kind}{'s' if n != 1 else ''}" for n, kind in ((len(watched.projects), "project"), (len(watched.workspaces), "workspace")) if n
    )
    return f"{_now()} cycle {number} ({why}): {what}; {seconds:.1f} s, CPU {cpu_s:.1f} s"


def _cpu_s() -> float:
    """CPU time of this process and its finished children (user and system)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def _rss_mb() -> float:
    """This process's resident memory now (0 where /proc is missing): flat over days, or a leak."""
    try:
        with open("/proc/self/statm", encoding="ascii") as handle:
            return round(int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)
    except (OSError, ValueError, IndexError):
        return 0.0


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _notify(message: str) -> None:
    """systemd's sd_notify, when the service manager asked for it (`NOTIFY_SOCKET`)."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)  # a manager that reads late loses a beat; it never stalls a cycle
            sock.sendto(message.encode(), address)
    except OSError:
        pass
