"""The command line run as cron runs it: the interpreter called by path, PATH=/usr/bin:/bin and
nothing else (no VIRTUAL_ENV), stdout and stderr appended to one log file.

A fake `python`, `dbt`, `marimo` and `dlt` come first on PATH and fail when started: whatever the
CLI starts or prints must be the interpreter that runs it, never a name looked up on PATH.
"""

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import duckdb

from asana_sim import AsanaSim, SimConfig

REPO = Path(__file__).resolve().parents[2]
TOKEN = "cron-test-token-81c2f7"
# What a checkout needs to run the demo and its analytics: copied alone into a temporary folder,
# so the demo's `.demo/` lands in that copy and never in the checkout under test.
CHECKOUT_PARTS = ("asana_app", "asana_dlt", "asana_sim", "asana_dbt", "notebooks", ".dlt", "asana_dlt_pipeline.py")
FAKE_COMMANDS = ("python", "python3", "dbt", "marimo", "dlt", "pip")


def fake_bin(tmp_path: Path) -> Path:
    """A folder of commands that fail loudly when started by name."""
    folder = tmp_path / "fake_bin"
    folder.mkdir()
    for name in FAKE_COMMANDS:
        script = folder / name
        script.write_text(f"#!/bin/sh\necho 'the fake {name} on PATH was started' >&2\nexit 97\n")
        script.chmod(0o755)
    return folder


def cron_env(tmp_path: Path, **extra: str) -> Dict[str, str]:
    """Cron's environment: a bare PATH (behind the fake commands), a HOME, a locale, no venv;
    and dlt's data folder of its own (as root dlt ignores HOME and shares /var/dlt machine-wide)."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return {
        "PATH": f"{tmp_path / 'fake_bin'}:/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "DLT_DATA_DIR": str(tmp_path / "dlt"),
        **extra,
    }


def run_logged(cmd: List[str], cwd: Path, env: Dict[str, str], log: Path, timeout: int = 300) -> "subprocess.CompletedProcess[bytes]":
    """Runs `cmd` as `cmd >> log 2>&1` would: both streams into one file, neither a terminal."""
    with open(log, "ab") as out:
        return subprocess.run(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=timeout)


def printed(lines: List[str], prefix: str) -> str:
    """The command a line of the CLI's output offers after `prefix`."""
    return next(line for line in lines if line.startswith(prefix))[len(prefix):]


def test_the_demo_runs_under_cron_and_every_command_it_prints_runs_as_printed(tmp_path: Path) -> None:
    checkout = tmp_path / "checkout"
    for part in CHECKOUT_PARTS:
        source = REPO / part
        if source.is_dir():
            shutil.copytree(source, checkout / part, ignore=shutil.ignore_patterns("__pycache__", "target", "logs", "secrets.toml"))
        else:
            shutil.copy2(source, checkout / part)
    elsewhere = tmp_path / "elsewhere"  # cron starts in HOME, not in the checkout
    elsewhere.mkdir()
    fake_bin(tmp_path)
    env = cron_env(tmp_path)
    log = tmp_path / "load.log"

    done = run_logged([sys.executable, str(checkout / "asana_dlt_pipeline.py"), "--demo"], elsewhere, env, log)
    text = log.read_text(encoding="utf-8")
    lines = text.splitlines()
    assert done.returncode == 0, text[-3000:]
    assert "the fake" not in text

    # The two loads, in the order they happened, then the analytics.
    first, second = text.split("== second run", 1)
    assert "== first run" in first and "Changing Asana" in first
    stories = next(line.split() for line in second.splitlines() if line.startswith("stories "))
    assert 0 < int(stories[1]) < int(stories[2])  # only the changed tasks' stories travelled
    assert "Analytics: " in second and "data tests passed" in second

    # Expected conditions of the simulated plan as one short line each, not in dlt's log format.
    assert any(line.startswith("note: Workspace ") and "search answered 402" in line for line in lines)
    assert not [line for line in lines if "|[WARNING]|" in line]

    # The demo's state and data stay in its checkout, wherever it was started from.
    demo = checkout / ".demo"
    database = demo / "asana_demo.duckdb"
    assert (demo / "asana_demo" / "state.json").exists() and database.exists()
    assert not list(elsewhere.iterdir()) and not (tmp_path / "dlt" / "pipelines" / "asana_demo").exists()
    with duckdb.connect(str(database), read_only=True) as db:
        assert db.execute("select count(*) from asana_data_analytics.asana__task").fetchone()[0] > 0

    # The last line says where the data went and how to explore it.
    assert lines[-1].startswith(f"Loaded into duckdb:///{database}, dataset asana_data. Explore it: ")
    explore = printed(lines, "Loaded into ").split(". Explore it: ", 1)[1]
    words = shlex.split(explore)
    interpreter_bin = os.path.dirname(sys.executable)
    assert words[0] == f"PATH={interpreter_bin}:$PATH" and words[1] == sys.executable, explore
    assert words[2:] == ["-m", "dlt", "pipeline", "--pipelines-dir", str(demo), "asana_demo", "show"]
    # `show` starts a dashboard server; `info` through the same command proves the interpreter,
    # the folder and the name open this pipeline, and the PATH it sets finds the `marimo` that
    # `show` starts by name in the interpreter's own bin folder.
    info = subprocess.run(["sh", "-c", explore[: -len("show")] + "info"], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=120)
    assert info.returncode == 0, info.stderr
    assert f"Found pipeline asana_demo in {demo}" in info.stdout and "dataset_name: asana_data" in info.stdout
    prefix = explore.split(" ", 1)[0]
    marimo = subprocess.run(["sh", "-c", f"{prefix} sh -c 'command -v marimo'"], env=env, capture_output=True, text=True)
    assert marimo.stdout.strip() == os.path.join(interpreter_bin, "marimo")

    # The analytics' commands run as printed too, from anywhere: a query and the static charts.
    query = subprocess.run(["sh", "-c", printed(lines, "Look at them: ")], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=120)
    assert query.returncode == 0 and "project_name" in query.stdout, query.stderr
    export = subprocess.run(["sh", "-c", printed(lines, "Static charts: ")], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300)
    assert export.returncode == 0, export.stderr[-2000:]
    assert (elsewhere / "asana_charts.html").stat().st_size > 0


def test_a_run_failing_after_its_load_ends_its_log_with_one_error_line_saying_the_load_is_complete(tmp_path: Path) -> None:
    # dbt missing from the interpreter (a module named dbt that cannot be imported, on the path
    # of dbt's process only: the CLI itself never imports dbt): the analytics fail after the load.
    broken = tmp_path / "no_dbt" / "dbt"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text('raise ModuleNotFoundError("No module named \'dbt\'", name="dbt")\n')
    fake_bin(tmp_path)
    log = tmp_path / "load.log"
    with AsanaSim(token=TOKEN, config=SimConfig(seed=7, tasks=20, projects=2)) as sim:
        env = cron_env(
            tmp_path,
            PYTHONPATH=str(tmp_path / "no_dbt"),
            SOURCES__ASANA_DLT__ACCESS_TOKEN=TOKEN,
            SOURCES__ASANA_DLT__BASE_URL=sim.base_url,
            SOURCES__ASANA_DLT__REQUESTS_PER_MINUTE="0",
        )
        done = run_logged(
            [sys.executable, str(REPO / "asana_dlt_pipeline.py"), "--progress", "log", "--analytics"], tmp_path, env, log
        )
    text = log.read_text(encoding="utf-8")
    lines = text.splitlines()
    assert done.returncode == 1, text[-3000:]
    assert TOKEN not in text
    # The load's report came first, and the error is the log's last line, and its only one.
    assert any(line.startswith("tasks ") for line in lines) and "Loaded into" not in text
    assert [line for line in lines if line.startswith("error:")] == [lines[-1]]
    assert re.fullmatch(
        r"error: dbt's process exited with status 1: ModuleNotFoundError: No module named 'dbt';"
        r" the load itself is complete: install requirements.txt into this interpreter"
        rf" \({re.escape(shlex.join([sys.executable, '-m', 'pip', 'install', '-r', str(REPO / 'requirements.txt')]))}\),"
        r" then run again with --analytics",
        lines[-1],
    ), lines[-1]


def test_dlt_warnings_are_notes_and_its_errors_keep_dlts_format(tmp_path: Path) -> None:
    script = (
        "from asana_app.console import setup_console\n"
        "setup_console()\n"
        "import dlt\n"
        "from dlt.common import logger\n"
        "dlt.pipeline(pipeline_name='notes', destination='duckdb')  # sets dlt's logger up again\n"
        "logger.warning('Workspace X: change capture by polling')\n"
        "logger.error('a real error')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "DLT_DATA_DIR": str(tmp_path), "PYTHONPATH": str(REPO)},
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert lines[0] == "note: Workspace X: change capture by polling"
    assert re.search(r"\|\[ERROR\]\|.*\|dlt\|.*a real error$", lines[1]), lines
    assert len(lines) == 2
