"""The CLI's memory knobs (README, Performance: Memory) are what a user's run gets.

Peak memory itself is measured by `bench/` (`--scenario memory`), never by a test; these check
that each knob reaches the place that uses it.
"""

import subprocess
import sys
from pathlib import Path

import dlt
import duckdb

from asana_dlt_pipeline import DUCKDB_SETTINGS, duckdb_destination

REPO = Path(__file__).resolve().parents[1]


def test_duckdb_loads_one_job_at_a_time_within_its_memory_budget(tmp_path: Path) -> None:
    pipeline = dlt.pipeline(
        pipeline_name="memory_settings",
        pipelines_dir=str(tmp_path / "pipelines"),
        destination=duckdb_destination(str(tmp_path / "load.duckdb")),
        dataset_name="mem",
    )
    assert pipeline.destination.capabilities().loader_parallelism_strategy == "sequential"
    pipeline.run([{"gid": "1"}], table_name="t")
    with pipeline.sql_client() as client:
        limit = client.execute_sql("SELECT current_setting('memory_limit'), current_setting('threads')")[0]
    reference = duckdb.connect()
    reference.execute(f"SET memory_limit = '{DUCKDB_SETTINGS['memory_limit']}'")
    assert limit == (reference.execute("SELECT current_setting('memory_limit')").fetchone()[0], DUCKDB_SETTINGS["threads"])


def _arenas_capped(env: dict) -> str:
    code = "import process_memory; print(process_memory.cap_malloc_arenas())"
    return subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True
    ).stdout.strip()


def test_malloc_arenas_are_capped_unless_the_environment_chose() -> None:
    base = {"PATH": "/usr/bin:/bin"}
    expected = "True" if sys.platform.startswith("linux") else "False"
    assert _arenas_capped(base) == expected
    assert _arenas_capped({**base, "MALLOC_ARENA_MAX": "4"}) == "False"
