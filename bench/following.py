"""The CLI as a user runs it, for the follow-mode scenarios: scheduled runs (as cron starts them)
and `--follow` in a process of its own, with its heartbeat, its cycle lines and its memory.

Each runs in a scratch folder holding a copy of the repository's `.dlt/config.toml` (what a
user's project has), its own dlt data folder and its DuckDB file (`asana.duckdb`).
"""

import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import psutil

from bench.procs import REPO_ROOT

PIPELINE = "asana"
# `2026-12-06T00:14:34Z cycle 42 (full): nothing changed; 0.9 s, CPU 0.8 s`
CYCLE_LINE = re.compile(r"^\S+ cycle (\d+) \(([^)]*)\): (.*); ([\d.]+) s, CPU ([\d.]+) s$")


@dataclass
class Cycle:
    """One cycle as its log line tells it."""

    number: int
    full: bool
    changed: str
    wall_s: float
    cpu_s: float

    @property
    def idle(self) -> bool:
        return self.changed == "nothing changed"


@dataclass
class Scheduled:
    """One scheduled run: exit code, wall time (process start included), CPU and peak RSS."""

    returncode: int
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    output: str


def mean(values: List[float]) -> float:
    """The arithmetic mean (0 without values)."""
    return sum(values) / len(values) if values else 0.0


def percentile(values: List[float], share: float) -> Optional[float]:
    """The nearest-rank percentile (`share` 0.95 for p95); None without values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(share * len(ordered) + 0.5)) - 1))]


class CliRuns:
    """Runs of `asana_dlt_pipeline.py` against a simulator, in one scratch folder.

    Args:
        workdir: The folder (the pipeline's state and the DuckDB file go in it).
        base_url: The simulator's base URL.
        token: Its token.
        requests_per_minute: The CLI's quota setting (0: none).
    """

    def __init__(self, workdir: Path, base_url: str, token: str, requests_per_minute: int) -> None:
        self.workdir = workdir
        (workdir / ".dlt").mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO_ROOT / ".dlt" / "config.toml", workdir / ".dlt" / "config.toml")
        self.pipelines = workdir / "pipelines"
        self.health = self.pipelines / f"{PIPELINE}.follow.json"
        self.log_path = workdir / "follow.log"
        self.database = workdir / f"{PIPELINE}.duckdb"
        self.env = dict(
            os.environ,
            SOURCES__ASANA_DLT__ACCESS_TOKEN=token,
            SOURCES__ASANA_DLT__BASE_URL=base_url,
            SOURCES__ASANA_DLT__REQUESTS_PER_MINUTE=str(requests_per_minute),
            DLT_DATA_DIR=str(workdir / "dlt"),
        )
        self.process: Optional[subprocess.Popen] = None  # type: ignore[type-arg]

    def command(self, *extra: str) -> List[str]:
        return [sys.executable, str(REPO_ROOT / "asana_dlt_pipeline.py"), "--pipelines-dir", str(self.pipelines),
                "--progress", "none", *extra]

    def scheduled(self, *extra: str, timeout_s: float = 3600.0) -> Scheduled:
        """One run as cron starts it; CPU and peak RSS are the child's (`getrusage`)."""
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(self.command(*extra), cwd=self.workdir, env=self.env, capture_output=True, text=True,
                              timeout=timeout_s)
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return Scheduled(done.returncode, wall, cpu, after.ru_maxrss / 1024, done.stdout + done.stderr)

    def start_following(self, *extra: str) -> None:
        """`--follow` in its own process; its output goes to `follow.log`."""
        log = open(self.log_path, "a", encoding="utf-8")
        self.process = subprocess.Popen(self.command("--follow", *extra), cwd=self.workdir, env=self.env, stdout=log,
                                        stderr=subprocess.STDOUT)
        log.close()

    def status(self) -> Dict[str, Any]:
        """The heartbeat file of the running process ({} before its first beat)."""
        try:
            status = json.loads(self.health.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return status if self.process is not None and status.get("pid") == self.process.pid else {}

    def wait_for(self, condition: Callable[[Dict[str, Any]], bool], what: str, timeout_s: float,
                 every: Optional[Callable[[], None]] = None) -> Dict[str, Any]:
        """Polls the heartbeat until the condition holds; raises if the process ends or time runs out."""
        assert self.process is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            status = self.status()
            if status and condition(status):
                return status
            if self.process.poll() is not None:
                raise RuntimeError(f"follow mode ended while waiting for {what}: {self.tail()}")
            if every is not None:
                every()
            time.sleep(0.2)
        raise RuntimeError(f"no {what} within {timeout_s:.0f} s: {self.tail()}")

    def rss_mb(self) -> float:
        """The following process's resident memory now (its children included)."""
        assert self.process is not None
        try:
            proc = psutil.Process(self.process.pid)
            return sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)]) / 2**20
        except psutil.Error:
            return 0.0

    def folder(self) -> "tuple[float, int]":
        """The pipeline's working folder: its MB on disk, and the loaded packages dlt keeps in it."""
        working = self.pipelines / PIPELINE
        size = sum(f.stat().st_size for f in working.rglob("*") if f.is_file())
        loaded = working / "load" / "loaded"
        return size / 2**20, (sum(1 for _ in loaded.iterdir()) if loaded.is_dir() else 0)

    def cpu_s(self) -> float:
        """CPU time the following process has used so far."""
        assert self.process is not None
        try:
            times = psutil.Process(self.process.pid).cpu_times()
        except psutil.Error:
            return 0.0
        return times.user + times.system + times.children_user + times.children_system

    def stop(self, timeout_s: float = 600.0) -> int:
        """SIGTERM: the process ends after the cycle in progress."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout_s)

    def cycles(self) -> List[Cycle]:
        """Every cycle line of the log, in order."""
        found = []
        for line in self.log_path.read_text(encoding="utf-8").splitlines() if self.log_path.exists() else []:
            match = CYCLE_LINE.match(line.strip())
            if match:
                number, why, changed, wall, cpu = match.groups()
                found.append(Cycle(int(number), why == "full", changed, float(wall), float(cpu)))
        return found

    def tail(self, lines: int = 5) -> str:
        text = self.log_path.read_text(encoding="utf-8") if self.log_path.exists() else ""
        return " | ".join(text.strip().splitlines()[-lines:])
