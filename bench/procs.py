"""Starts a measured child process and watches it, so one bad run cannot take the machine down.

The child runs from the repository root, so `.dlt/config.toml` (extract workers, retries) applies
exactly as it does for a user. The watchdog kills a child whose RSS passes a cap or that outlives
its timeout, and says so, instead of letting DuckDB or a hang swallow the bench.
"""

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional

import psutil

from bench.child import RESULT_PREFIX

REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass
class ChildOutcome:
    """What came back from one child: its JSON result, or why there is none."""

    result: Optional[Dict[str, Any]]
    error: Optional[str] = None
    watched_peak_rss_mb: float = 0.0
    elapsed_s: float = 0.0
    stderr_tail: str = ""
    extra: Dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when the child finished and reported (a killed child may have reported part)."""
        return self.result is not None and self.error is None


def merge_results(into: Dict[str, Any], more: Dict[str, Any]) -> Dict[str, Any]:
    """Merges a child's successive result lines; dict values (e.g. `runs`) merge one level."""
    for key, value in more.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            into[key] = {**into[key], **value}
        else:
            into[key] = value
    return into


def _tree_rss_mb(proc: psutil.Process) -> float:
    """RSS of the child and anything it started (DuckDB and dlt stay in-process, but be safe)."""
    try:
        procs = [proc] + proc.children(recursive=True)
        return sum(p.memory_info().rss for p in procs) / 2**20
    except psutil.Error:
        return 0.0


def _last_exception(stderr: str) -> str:
    """The last `SomeError: message` line of a traceback (dlt ends with warnings, not the cause)."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    for line in reversed(lines):
        if re.match(r"^[\w.]+(Error|Exception|Exit)\b.*?: ", line):
            return line[:400]
    return lines[-1][:400] if lines else "no output"


def run_child(
    spec: Dict[str, Any],
    timeout_s: float,
    rss_cap_mb: float,
    env: Optional[Dict[str, str]] = None,
) -> ChildOutcome:
    """Runs `python -m bench.child` on `spec` and returns its result.

    Args:
        spec: The child's spec (see `bench.child`); written to a temp file it reads.
        timeout_s: Wall time after which the child is killed.
        rss_cap_mb: Resident memory after which the child is killed.
        env: Extra environment variables (e.g. `EXTRACT__WORKERS`).
    """
    with tempfile.TemporaryDirectory(prefix="bench-child-") as tmp:
        spec_path = Path(tmp) / "spec.json"
        spec_path.write_text(json.dumps(spec), encoding="utf-8")
        out_path, err_path = Path(tmp) / "stdout", Path(tmp) / "stderr"
        child_env = dict(os.environ, **(env or {}))
        child_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), child_env.get("PYTHONPATH")]))
        started = time.perf_counter()
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            popen = subprocess.Popen(
                [sys.executable, "-m", "bench.child", str(spec_path)],
                cwd=str(REPO_ROOT),
                stdout=out,
                stderr=err,
                env=child_env,
            )
            watched = psutil.Process(popen.pid)
            peak, error = 0.0, None
            while popen.poll() is None:
                peak = max(peak, _tree_rss_mb(watched))
                elapsed = time.perf_counter() - started
                if peak > rss_cap_mb:
                    error = f"killed: RSS {peak:,.0f} MB passed the {rss_cap_mb:,.0f} MB cap after {elapsed:.0f} s"
                elif elapsed > timeout_s:
                    error = f"killed: still running after {timeout_s:.0f} s"
                if error:
                    popen.kill()
                    popen.wait()
                    break
                time.sleep(0.2)
        elapsed = time.perf_counter() - started
        stdout = out_path.read_text(encoding="utf-8", errors="replace")
        stderr = err_path.read_text(encoding="utf-8", errors="replace")
    result: Optional[Dict[str, Any]] = None
    for line in stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            result = merge_results(result or {}, json.loads(line[len(RESULT_PREFIX) :]))
    if result is None and error is None:
        error = f"exit {popen.returncode}: {_last_exception(stderr)}"
    return ChildOutcome(result, error, peak, elapsed, stderr[-4000:])
