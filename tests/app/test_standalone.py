"""`asana_dlt/` works alone in a user's dlt project, as `dlt init` or a copy would put it there:
it imports nothing from the rest of this repository and needs only its own requirements."""

import json
import os
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

from packaging.requirements import Requirement

from asana_sim import AsanaSim, SimConfig

REPO = Path(__file__).resolve().parents[2]
TOKEN = "standalone-token-4be2"

# Runs in a directory holding only a copy of asana_dlt/: the rest of the repository must not
# be importable there, and the source must load the simulator from its dlt config alone.
USER_PROJECT = """
import importlib.util, json, os, sys
for name in ("asana_sim", "asana_dlt_pipeline", "run_guard", "process_memory", "tests", "bench"):
    assert importlib.util.find_spec(name) is None, f"{name} is importable: the test proves nothing"
import dlt
import asana_dlt
from asana_dlt import asana_source
assert os.path.dirname(asana_dlt.__file__) == os.path.join(os.getcwd(), "asana_dlt"), asana_dlt.__file__
pipeline = dlt.pipeline(pipeline_name="my_asana", pipelines_dir="pipelines", destination="duckdb", dataset_name="asana")
pipeline.run(asana_source())
with pipeline.sql_client() as client:
    print(json.dumps({t: client.execute_sql(f"SELECT count(*) FROM {t}")[0][0] for t in sys.argv[1:]}))
"""


def test_the_source_folder_alone_loads_the_simulator_into_duckdb(tmp_path: Path) -> None:
    project = tmp_path / "my_dlt_project"
    shutil.copytree(REPO / "asana_dlt", project / "asana_dlt", ignore=shutil.ignore_patterns("__pycache__"))
    (project / "load.py").write_text(USER_PROJECT)
    tables = ["workspaces", "projects", "sections", "tags", "tasks", "stories", "teams", "users"]
    with AsanaSim(token=TOKEN, config=SimConfig(seed=23, tasks=30, projects=2)) as sim:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith(("SOURCES__", "DESTINATION__"))}
        env.update(
            SOURCES__ASANA_DLT__ACCESS_TOKEN=TOKEN,  # the keys README tells a user to set
            SOURCES__ASANA_DLT__BASE_URL=sim.base_url,
            SOURCES__ASANA_DLT__REQUESTS_PER_MINUTE="0",
        )
        done = subprocess.run(
            [sys.executable, "-s", "load.py", *tables], cwd=project, env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr[-3000:]
        expected = {t: sim.expected_counts()[t] for t in tables}
    assert json.loads(done.stdout.strip().splitlines()[-1]) == expected
    assert (project / "my_asana.duckdb").exists()


def test_its_requirements_hold_at_the_versions_pinned_for_the_repository() -> None:
    lines = (REPO / "asana_dlt" / "requirements.txt").read_text().splitlines()
    requirements = [Requirement(line) for line in lines if line.strip() and not line.startswith("#")]
    assert {r.name for r in requirements} >= {"dlt", "requests", "pendulum"}
    for requirement in requirements:
        assert requirement.specifier.contains(version(requirement.name)), (requirement, version(requirement.name))
