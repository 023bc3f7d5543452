"""`asana_dlt/` works alone in a user's dlt project, as `dlt init` or a copy would put it there:
installed with nothing but `asana_dlt/requirements.txt`, in a virtualenv of its own, the README's
example runs as written and reads its tables back.

The repository's own interpreter cannot prove this: it holds everything requirements.txt pins,
so a bound missing from asana_dlt/requirements.txt (DuckDB 2.0 and sqlglot 30 break dlt 1.31's
dataset API) would go unseen there.
"""

import ast
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Dict, Iterator

import pytest
from packaging.requirements import Requirement

from asana_sim import AsanaSim, SimConfig

REPO = Path(__file__).resolve().parents[2]
REQUIREMENTS = REPO / "asana_dlt" / "requirements.txt"
TOKEN = "standalone-token-4be2"
README_MARKER = "<!-- standalone example: tests/app/test_standalone.py runs it as written -->"
# Kept between runs, as .ci/run keeps the extras' virtualenvs: a second run only checks it.
VENVS = Path(os.environ.get("ASANA_CI_VENVS") or Path.home() / ".cache" / "asana-dlt-ci-venvs")
# Asked of the project's folder before the example runs: only the copy of asana_dlt is importable.
ALONE = """
import importlib.util, os
import asana_dlt
for name in ("asana_sim", "asana_app", "asana_dlt_pipeline", "tests", "bench"):
    assert importlib.util.find_spec(name) is None, f"{name} is importable: the test proves nothing"
assert os.path.dirname(asana_dlt.__file__) == os.path.join(os.getcwd(), "asana_dlt"), asana_dlt.__file__
"""


def readme_example() -> str:
    """The README's example, as a user copies it: the first python block after the marker."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert README_MARKER in text, f"README.md has lost the line {README_MARKER}"
    after = text.split(README_MARKER, 1)[1]
    return after.split("```python\n", 1)[1].split("\n```", 1)[0] + "\n"


@pytest.fixture(scope="module")
def standalone_python() -> Iterator[Path]:
    """A virtualenv holding `asana_dlt/requirements.txt` alone, reinstalled when the file changes.

    Skips (as .ci/run does for the extras) when it cannot be installed: no package registry.
    """
    key = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    folder = VENVS / "standalone"
    python = folder / "bin" / "python"
    stamp = folder / "asana_dlt-requirements.sha256"
    VENVS.mkdir(parents=True, exist_ok=True)
    with open(VENVS / "standalone.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one installer at a time (xdist workers, CI runs)
        if not (python.exists() and stamp.exists() and stamp.read_text() == key):
            shutil.rmtree(folder, ignore_errors=True)
            steps = [
                [sys.executable, "-m", "venv", str(folder)],
                [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r", str(REQUIREMENTS)],
            ]
            for step in steps:
                done = subprocess.run(step, capture_output=True, text=True, timeout=900)
                if done.returncode != 0:
                    shutil.rmtree(folder, ignore_errors=True)
                    said = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
                    pytest.skip(f"could not install asana_dlt/requirements.txt into a virtualenv of its own: {said[0]}")
            stamp.write_text(key)
    yield python


def truth(sim: AsanaSim) -> Dict[str, int]:
    """Rows the example's tables must hold, counted from the simulator's records."""
    store = sim.store
    return {
        **sim.expected_counts(),
        "attachments": sum(1 for a in store.all("attachment") if a["parent"]["gid"] in store.records["task"]),
        "time_tracking_entries": len(store.all("time_tracking_entry")),
    }


def test_the_readme_example_runs_as_written_with_only_the_folder_and_its_requirements(
    standalone_python: Path, tmp_path: Path
) -> None:
    project = tmp_path / "my_dlt_project"
    shutil.copytree(REPO / "asana_dlt", project / "asana_dlt", ignore=shutil.ignore_patterns("__pycache__"))
    (project / "example.py").write_text(readme_example())
    (tmp_path / "home").mkdir()
    with AsanaSim(token=TOKEN, config=SimConfig(seed=23, tasks=30, projects=2)) as sim:
        env = {  # a bare environment, and the keys the README tells a user to set
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path / "home"),
            "LANG": "C.UTF-8",
            # A fresh machine's: as root dlt keeps pipelines in /var/dlt whatever HOME says, and
            # a pipeline "asana" found there would load into the DuckDB file it was bound to.
            "DLT_DATA_DIR": str(tmp_path / "dlt"),
            "SOURCES__ASANA_DLT__ACCESS_TOKEN": TOKEN,
            "SOURCES__ASANA_DLT__BASE_URL": sim.base_url,
            "SOURCES__ASANA_DLT__REQUESTS_PER_MINUTE": "0",
        }
        alone = subprocess.run([str(standalone_python), "-c", ALONE], cwd=project, env=env, capture_output=True, text=True, timeout=120)
        assert alone.returncode == 0, alone.stderr[-3000:]
        done = subprocess.run(
            [str(standalone_python), "example.py"], cwd=project, env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr[-3000:]
        expected = truth(sim)
    # The example's last line: dlt's dataset API read the tables back, [(table, rows), ...].
    counted = dict(ast.literal_eval(done.stdout.strip().splitlines()[-1]))
    assert {table: counted.get(table) for table in expected} == expected
    assert (project / "asana.duckdb").exists()


def test_its_requirements_hold_at_the_versions_pinned_for_the_repository() -> None:
    lines = REQUIREMENTS.read_text().splitlines()
    requirements = [Requirement(line) for line in lines if line.strip() and not line.startswith("#")]
    assert {r.name for r in requirements} >= {"dlt", "requests", "pendulum", "duckdb", "sqlglot"}
    for requirement in requirements:
        assert requirement.specifier.contains(version(requirement.name)), (requirement, version(requirement.name))
