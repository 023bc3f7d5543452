"""Every row and every column equal to Asana, whichever tables were selected when and whatever
was renamed (issue 23).

Selection: a user starts with a few tables, then the default selection, then the opt-in
per-task tables, through the CLI's `--resources`, with ordinary Asana work between the runs;
after each run every table equals a fresh full load of the same selection.

Renames: every rename the API allows (and a user's own, made in Asana's UI) between two runs;
afterwards no table holds a name Asana no longer returns, and each renamed object's own table
holds its new name.
"""

import os
import uuid
from pathlib import Path
from typing import Any, Dict, List, Optional, Set, Tuple

import dlt
import pytest

from asana_app import cli
from asana_app.destinations import fastest_file_format
from asana_dlt import asana_source
from asana_sim import AsanaSim, SimConfig
from asana_sim.demo import make_changes
from tests.conftest import point_cli_at, rows
from tests.source.test_e2e import snapshot
from tests.source.test_mirror import Api

POSTGRES = os.environ.get("ASANA_DLT_TEST_POSTGRES")
DEFAULT = ",".join(asana_source(access_token="-").selected_resources)
# The selections a user goes through: a few tables, the default, the default plus the opt-in per-task tables.
SELECTIONS = [("workspaces,projects,tasks", "a few tables"), (None, "the default"),
              (f"{DEFAULT},attachments,time_tracking_entries", "the opt-in per-task tables too")]


def config() -> SimConfig:
    # Premium: time tracking entries answer; subtasks and multi-homed tasks; attachments.
    return SimConfig(seed=5, tasks=80, projects=3, premium=True, subtask_share=0.3, multi_home_share=0.1)


def non_empty(pipeline: dlt.Pipeline) -> Dict[str, List[Tuple[Any, ...]]]:
    """Every table's rows (dlt's bookkeeping columns left out), empty tables left out."""
    return {table: data for table, data in snapshot(pipeline).items() if data}


def cli_run(argv: List[str]) -> None:
    assert cli.main(["--progress", "none", *argv]) == 0


def fresh_load(
    tmp_path: Path, sim: AsanaSim, selection: Optional[str], destination: Any, dataset: str, deletes: str
) -> Dict[str, Any]:
    """What a first load of this selection gives, in a pipeline of its own."""
    pipeline = dlt.pipeline(
        pipeline_name=f"fresh_{uuid.uuid4().hex[:6]}", pipelines_dir=str(tmp_path / "fresh"),
        destination=destination, dataset_name=dataset,
    )
    source = asana_source(access_token=sim.token, base_url=sim.base_url, requests_per_minute=0, deletes=deletes)
    pipeline.run(source.with_resources(*selection.split(",")) if selection else source,
                 loader_file_format=fastest_file_format(pipeline))
    try:
        return non_empty(pipeline)
    finally:
        if pipeline.destination.destination_type.endswith("postgres"):
            with pipeline.sql_client() as client:
                client.drop_dataset()


def selections_round(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli_args: List[str], fresh_destination: Any, dataset: str,
    deletes: str = "hard",
) -> None:
    """The CLI's runs through `SELECTIONS`, with Asana work between them; after each, every
    table equals a fresh load of the same selection (`deletes` as the CLI's destination has them)."""
    with AsanaSim(token="fidelity", config=config()) as sim:
        point_cli_at(monkeypatch, tmp_path, sim.base_url, sim.token)
        api = Api(sim)
        pipelines = str(tmp_path / "dlt" / "pipelines")
        for step, (selection, what) in enumerate(SELECTIONS):
            if step == 1:
                make_changes(sim.base_url, sim.token)
            if step == 2:  # a comment, a completion and a new subtask
                task = next(t for t in sim.store.all("task") if t["parent"] is None and t["projects"])
                api.send("POST", f"/tasks/{task['gid']}/stories", {"text": "Between the runs"})
                api.send("PUT", f"/tasks/{task['gid']}", {"completed": True})
                api.send("POST", f"/tasks/{task['gid']}/subtasks", {"name": "A later subtask"})
            cli_run([*cli_args, "--dataset", dataset, "--pipelines-dir", pipelines,
                     *(["--resources", selection] if selection else [])])
            pipeline = dlt.attach(cli.PIPELINE_NAME, pipelines_dir=pipelines)
            got = non_empty(pipeline)
            want = fresh_load(tmp_path, sim, selection, fresh_destination, f"{dataset}_fresh{step}", deletes)
            assert sorted(got) == sorted(want), f"{what}: tables differ"
            for table in want:
                missing = set(want[table]) - set(got[table])
                extra = set(got[table]) - set(want[table])
                assert not missing and not extra, (
                    f"after the run with {what}: {table} lacks {len(missing)} row(s) of a fresh load and has"
                    f" {len(extra)} it does not: {sorted(missing, key=repr)[:2]} / {sorted(extra, key=repr)[:2]}"
                )
        stories = rows(pipeline, "SELECT count(*) FROM stories")[0][0]
        assert stories == sum(len(sim.store.stories(t)) for t in sim.store.all("task"))


def test_tables_selected_later_fill_for_every_loaded_task(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fresh = dlt.destinations.duckdb(str(tmp_path / "fresh.duckdb"))
    selections_round(tmp_path, monkeypatch, ["--destination", "duckdb"], fresh, "asana_data")


@pytest.mark.skipif(not POSTGRES, reason="set ASANA_DLT_TEST_POSTGRES (as .ci/run does) to test Postgres")
def test_tables_selected_later_fill_on_postgres(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dataset = f"asana_fidelity_{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", POSTGRES or "")
    try:
        selections_round(tmp_path, monkeypatch, ["--destination", "postgres"], dlt.destinations.postgres(POSTGRES), dataset)
    finally:
        pipeline = dlt.attach(cli.PIPELINE_NAME, pipelines_dir=str(tmp_path / "dlt" / "pipelines"))
        with pipeline.sql_client() as client:
            client.drop_dataset()


def test_a_table_dropped_alone_fills_again(tmp_path: Path) -> None:
    """dlt's `refresh="drop_resources"` on `stories` alone: the next load has every task's stories."""
    with AsanaSim(token="fidelity", config=config()) as sim:
        pipeline = dlt.pipeline("dropped", pipelines_dir=str(tmp_path / "p"),
                                destination=dlt.destinations.duckdb(str(tmp_path / "d.duckdb")), dataset_name="asana_data")
        source = lambda: asana_source(access_token=sim.token, base_url=sim.base_url, requests_per_minute=0)  # noqa: E731
        pipeline.run(source())
        truth = sum(len(sim.store.stories(t)) for t in sim.store.all("task"))
        assert rows(pipeline, "SELECT count(*) FROM stories")[0][0] == truth
        pipeline.run(source().with_resources("stories"), refresh="drop_resources")  # its parent runs, unloaded
        pipeline.run(source())
        assert rows(pipeline, "SELECT count(*) FROM stories")[0][0] == truth
        assert rows(pipeline, "SELECT count(*) FROM tasks")[0][0] == len(sim.store.all("task"))


# ---- renames ------------------------------------------------------------------------------------

# Columns that keep history as Asana does: a story's text and what it says changed.
HISTORY = {"stories": {"text", "html_text", "old_name", "new_name", "old_text_value", "new_text_value"}}


def every_text(pipeline: dlt.Pipeline) -> Dict[Tuple[str, str], Set[str]]:
    """Every text value of every table, by (table, column)."""
    schema = pipeline.default_schema
    found: Dict[Tuple[str, str], Set[str]] = {}
    with pipeline.sql_client() as client:
        for table in schema.data_table_names(seen_data_only=True):
            for column, hint in schema.get_table_columns(table).items():
                if hint.get("data_type") != "text" or column.startswith("_dlt") or column in HISTORY.get(table, ()):
                    continue
                sql = f"SELECT DISTINCT {client.escape_column_name(column)} FROM {client.make_qualified_table_name(table)}"
                found[(table, column)] = {r[0] for r in client.execute_sql(sql) if r[0] is not None}
    return found


@pytest.mark.parametrize("plan", ["polling", "workspace-events"])
def test_no_table_keeps_a_name_asana_no_longer_returns(tmp_path: Path, plan: str) -> None:
    events = plan == "workspace-events"
    sim_config = SimConfig(seed=11, tasks=120, projects=3, premium=True, workspace_events=events, search=events)
    with AsanaSim(token="fidelity", config=sim_config) as sim:
        pipeline = dlt.pipeline("renames", pipelines_dir=str(tmp_path / "p"),
                                destination=dlt.destinations.duckdb(str(tmp_path / "d.duckdb")), dataset_name="asana_data")

        def run() -> None:
            source = asana_source(access_token=sim.token, base_url=sim.base_url, requests_per_minute=0)
            source.attachments.selected = source.time_tracking_entries.selected = True
            pipeline.run(source)

        store, api = sim.store, Api(sim)
        parent = next(t for t in store.all("task") if store.subtasks.get(t["gid"]))
        depended_on = next(t for t in store.all("task") if t.get("dependents"))
        project = parent["projects"][0]
        section = next(store.by_gid[g] for g in store.project_sections[project["gid"]])
        tag = next(t for t in store.all("task") if t["tags"])["tags"][0]
        field = next(f for f in store.all("custom_field") if f["type"] == "enum" and f.get("enum_options"))
        option = field["enum_options"][0]
        user = next(t["assignee"] for t in store.all("task") if t["assignee"])

        def rename(names: Dict[str, str]) -> None:
            sim.rename_user(user["gid"], names["user"])  # in Asana's UI: no event
            api.send("PUT", f"/sections/{section['gid']}", {"name": names["section"]})
            api.send("PUT", f"/projects/{project['gid']}", {"name": names["project"]})
            api.send("PUT", f"/tags/{tag['gid']}", {"name": names["tag"]})
            api.send("PUT", f"/tasks/{parent['gid']}", {"name": names["parent task"]})
            api.send("PUT", f"/tasks/{depended_on['gid']}", {"name": names["depended-on task"]})
            api.send("PUT", f"/custom_fields/{field['gid']}", {"name": names["custom field"]})
            api.send("PUT", f"/enum_options/{option['gid']}", {"name": names["enum option"]})

        # Names no other object has, so that a stale copy is told apart from a namesake.
        kinds = ("user", "section", "project", "tag", "parent task", "depended-on task", "custom field", "enum option")
        old = {what: f"{what} {uuid.uuid4().hex[:6]}" for what in kinds}
        new = {what: f"{what} renamed ✏️ {uuid.uuid4().hex[:6]}" for what in kinds}
        rename(old)
        run()
        run()  # in workspace mode, the second run is the first that reads the workspace's events
        rename(new)
        run()

        still_named: Dict[Tuple[str, str], Set[str]] = {}
        olds = set(old.values())
        for where, values in every_text(pipeline).items():
            stale = {v for v in values if v in olds}
            if stale:
                still_named[where] = stale
        assert not still_named, f"old names still loaded: {still_named}"
        owners = {
            "user": ("users", user["gid"]), "section": ("sections", section["gid"]),
            "project": ("projects", project["gid"]), "tag": ("tags", tag["gid"]),
            "parent task": ("tasks", parent["gid"]), "depended-on task": ("tasks", depended_on["gid"]),
            "custom field": ("custom_fields", field["gid"]),
            "enum option": ("custom_fields__enum_options", option["gid"]),
        }
        for what, (table, gid) in owners.items():
            assert rows(pipeline, f"SELECT name FROM {table} WHERE gid = '{gid}'") == [(new[what],)], what
