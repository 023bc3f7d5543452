"""``python -m asana_sim`` prints its URL first, serves the API and /_sim/*, stops on SIGTERM."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_cli_serves_until_sigterm() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "asana_sim", "--host", "127.0.0.1", "--port", "0", "--token", "T",
         "--seed", "3", "--tasks", "25", "--projects", "2", "--no-premium",
         "--forbidden-project", "123"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/api/1.0")
        root = url[: -len("/api/1.0")]
        req = urllib.request.Request(url + "/workspaces", headers={"Authorization": "Bearer T"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert len(json.load(resp)["data"]) == 2
        with urllib.request.urlopen(root + "/_sim/counts", timeout=10) as resp:
            counts = json.load(resp)
        assert counts["workspaces"] == 2 and counts["projects"] == 2 and counts["tasks"] >= 25
        with urllib.request.urlopen(root + "/_sim/requests", timeout=10) as resp:
            assert [r["path"] for r in json.load(resp)] == ["/workspaces"]
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
