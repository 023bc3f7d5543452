"""The same load into a real Postgres: the first warehouse users point this at.

`.ci/run` installs and starts PostgreSQL and sets ASANA_DLT_TEST_POSTGRES; on a machine
without one the test is skipped, and says so.
"""

import os
import uuid

import dlt
import pytest

from asana_dlt import asana_source
from asana_sim import AsanaSim, SimConfig
from asana_sim.demo import make_changes

POSTGRES = os.environ.get("ASANA_DLT_TEST_POSTGRES")
pytestmark = pytest.mark.skipif(not POSTGRES, reason="set ASANA_DLT_TEST_POSTGRES (as .ci/run does) to test Postgres")
TABLES = ("workspaces", "projects", "sections", "tags", "tasks", "stories", "teams", "users")


# csv is what asana_dlt_pipeline.py picks for Postgres (COPY from the file, flat memory);
# insert_values is dlt's default for a Python user's `pipeline.run`.
@pytest.mark.parametrize("loader_file_format", ["csv", "insert_values"])
def test_full_then_incremental_load_into_postgres(tmp_path, loader_file_format: str) -> None:
    dataset = f"asana_{uuid.uuid4().hex[:8]}"
    pipeline = dlt.pipeline(
        pipeline_name="asana_pg",
        pipelines_dir=str(tmp_path),
        destination=dlt.destinations.postgres(POSTGRES),
        dataset_name=dataset,
    )
    try:
        with AsanaSim(token="pg-token", config=SimConfig(seed=9)) as sim:
            source = lambda: asana_source(access_token="pg-token", base_url=sim.base_url, requests_per_minute=0)  # noqa: E731
            info = pipeline.run(source(), loader_file_format=loader_file_format)
            formats = {j.job_file_info.file_format for p in info.load_packages for j in p.jobs["completed_jobs"]}
            assert loader_file_format in formats, formats
            expected = sim.expected_counts()
            make_changes(sim.base_url, "pg-token")
            pipeline.run(source(), loader_file_format=loader_file_format)

        with pipeline.sql_client() as client:
            got = {t: client.execute_sql(f"SELECT count(*) FROM {client.make_qualified_table_name(t)}")[0][0] for t in TABLES}
            dupes = client.execute_sql(
                f"SELECT count(*) - count(DISTINCT gid) FROM {client.make_qualified_table_name('stories')}"
            )[0][0]
            renamed = client.execute_sql(
                f"SELECT count(*) FROM {client.make_qualified_table_name('tasks')} WHERE name LIKE '%(renamed)'"
            )[0][0]
        expected.update(tasks=expected["tasks"] + 1, projects=expected["projects"] + 1)
        assert {t: got[t] for t in TABLES if t != "stories"} == {t: expected[t] for t in TABLES if t != "stories"}
        assert got["stories"] > expected["stories"] and dupes == 0
        assert renamed == 1
    finally:
        with pipeline.sql_client() as client:
            client.drop_dataset()
