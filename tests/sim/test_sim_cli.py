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


def _shown(default: object) -> str:
    """How asana_sim/README.md writes a default: `none`, `on`, `off`, or the value."""
    if default is None or default == []:
        return "none"
    if isinstance(default, bool):
        return "on" if default else "off"
    return str(default)


def test_readme_lists_every_option_with_its_default() -> None:
    from asana_sim.__main__ import build_parser

    rows = [line for line in (ROOT / "asana_sim" / "README.md").read_text().splitlines() if line.startswith("| `--")]
    options = [a for a in build_parser()._actions if a.option_strings and a.dest != "help"]
    assert len(rows) == len(options), "one table row per option"
    for action in options:
        row = next((r for r in rows if r.split("`")[1].split()[0] == action.option_strings[0]), None)
        assert row is not None, f"{action.option_strings[0]} is missing from asana_sim/README.md"
        assert row.split("|")[2].strip() == _shown(action.default), (action.option_strings[0], row)
        assert action.help and row.split("|")[3].strip() == action.help, (action.option_strings[0], row)
