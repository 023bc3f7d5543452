"""The dbt models' numbers equal the simulator's truth, on DuckDB and on Postgres.

One module-scoped build per destination: a full load, changes through Asana's write endpoints
(rename, reassign, section move, completion, comment, new project and task, a deleted task
with its subtasks), an incremental load, then `asana_app.analytics.build_models` (dlt's dbt
runner: `run_all` and the data tests). Every expected number is computed here in Python
from `sim.store`, never from the warehouse.

Deleted tasks: until deletes are captured, an incremental run keeps them; the test marks
them `is_deleted` the way soft delete capture does, so the models must leave them out.
"""

from __future__ import annotations

import os
import uuid
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import dlt
import pytest
import requests

from asana_app.analytics import build_models, models_schema
from asana_dlt import asana_source
from asana_sim import AsanaSim, SimConfig
from asana_sim.demo import make_changes

TOKEN = "analytics-token"
POSTGRES = os.environ.get("ASANA_DLT_TEST_POSTGRES")
MODELLED = ("workspaces", "projects", "sections", "tags", "tasks", "stories", "teams", "users", "custom_fields")
DESTINATIONS = [
    "duckdb",
    pytest.param("postgres", marks=pytest.mark.skipif(not POSTGRES, reason="set ASANA_DLT_TEST_POSTGRES (as .ci/run does)")),
]


class Built:
    """A loaded and modelled warehouse beside the simulator it came from."""

    def __init__(self, sim: AsanaSim, pipeline: dlt.Pipeline, result: Any, deleted: List[str]) -> None:
        self.sim, self.pipeline, self.result, self.deleted = sim, pipeline, result, deleted
        self.schema = models_schema(pipeline)

    def rows(self, sql: str) -> List[Dict[str, Any]]:
        with self.pipeline.sql_client() as client:
            with client.execute_query(sql.replace("{m}", self.schema)) as cursor:
                names = [c[0] for c in cursor.description]
                return [dict(zip(names, row)) for row in cursor.fetchall()]


def _api(sim: AsanaSim, method: str, path: str, data: Optional[Dict[str, Any]] = None) -> Any:
    response = requests.request(method, sim.base_url + path, json={"data": data or {}}, timeout=10,
                                headers={"Authorization": f"Bearer {TOKEN}"})
    response.raise_for_status()
    return response.json()["data"]


def _change_history(sim: AsanaSim) -> List[str]:
    """Reassigns one task, moves another to another section, renames a custom field and one of
    its options, deletes a third task (and its subtasks); returns the gids Asana no longer has."""
    store = sim.store
    project = next(p for p in store.all("project") if not p["archived"] and len(store.project_sections[p["gid"]]) > 1)
    tops = [store.records["task"][g] for g in store.project_tasks[project["gid"]]]
    reassigned, moved = tops[-1], tops[-2]
    someone = next(u for u in store.all("user") if u is not reassigned["assignee"])
    _api(sim, "PUT", f"/tasks/{reassigned['gid']}", {"assignee": someone["gid"]})
    current = next(m["section"] for m in moved["memberships"] if m["project"] is project)
    target = next(g for g in store.project_sections[project["gid"]] if g != current["gid"])
    _api(sim, "POST", f"/tasks/{moved['gid']}/addProject", {"project": project["gid"], "section": target})
    field = next(f for f in store.all("custom_field") if f["type"] == "enum" and f.get("enum_options"))
    _api(sim, "PUT", f"/custom_fields/{field['gid']}", {"name": field["name"] + " (renamed)"})
    _api(sim, "PUT", f"/enum_options/{field['enum_options'][0]['gid']}", {"name": "Renamed option"})
    doomed = next(t for t in store.all("task") if t["parent"] is None and store.subtasks.get(t["gid"])
                  and t not in (reassigned, moved))
    before = set(store.records["task"])
    _api(sim, "DELETE", f"/tasks/{doomed['gid']}")
    return sorted(before - set(store.records["task"]))


def _mark_deleted(pipeline: dlt.Pipeline, gone: List[str]) -> None:
    """What soft delete capture leaves behind: the rows stay, flagged `is_deleted`."""
    with pipeline.sql_client() as client:
        tasks = client.make_qualified_table_name("tasks")
        client.execute_sql(f"ALTER TABLE {tasks} ADD COLUMN IF NOT EXISTS is_deleted boolean")
        listed = ", ".join(f"'{gid}'" for gid in gone)
        client.execute_sql(f"UPDATE {tasks} SET is_deleted = true WHERE gid IN ({listed})")


@pytest.fixture(scope="module", params=DESTINATIONS)
def built(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    tmp: Path = tmp_path_factory.mktemp(request.param)
    dataset = f"asana_an_{uuid.uuid4().hex[:8]}"
    destination: Any = (
        dlt.destinations.duckdb(str(tmp / "asana.duckdb")) if request.param == "duckdb" else dlt.destinations.postgres(POSTGRES)
    )
    pipeline = dlt.pipeline(pipeline_name="asana_an", pipelines_dir=str(tmp / "pipelines"), destination=destination,
                            dataset_name=dataset)
    with AsanaSim(token=TOKEN, config=SimConfig(seed=21, tasks=70, projects=4)) as sim:
        def source() -> Any:  # the tables the models read (the catalog's would only cost time)
            return asana_source(access_token=TOKEN, base_url=sim.base_url, requests_per_minute=0).with_resources(*MODELLED)

        pipeline.run(source())
        make_changes(sim.base_url, TOKEN)
        gone = _change_history(sim)
        pipeline.run(source())
        _mark_deleted(pipeline, gone)
        result = build_models(pipeline)
        yield Built(sim, pipeline, result, gone)
    if request.param == "postgres":
        with pipeline.sql_client() as client:
            client.execute_sql(f"DROP SCHEMA IF EXISTS {models_schema(pipeline)} CASCADE")
            client.drop_dataset()


def _utc_day(stamp: Optional[str]) -> Optional[date]:
    return None if stamp is None else _ts(stamp).date()


def _ts(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def _today() -> date:
    return datetime.now(timezone.utc).date()


def test_every_model_built_and_every_data_test_passed(built: Built) -> None:
    names = {m.model_name for m in built.result.models}
    assert {"asana__task", "asana__project", "asana__user", "asana__team", "asana__tag", "asana__daily_metrics",
            "asana__task_section_time", "asana__task_custom_field", "asana__task_custom_field_pivot"} <= names
    assert all(m.status == "success" for m in built.result.models)
    assert len(built.result.tests) > 50 and built.result.failed_tests == []


def test_tasks_days_open_and_deleted_tasks_left_out(built: Built) -> None:
    store = built.sim.store
    got = {r["task_id"]: r for r in built.rows("select task_id, days_open, is_completed, is_subtask, assignee_user_id from {m}.asana__task")}
    assert built.deleted and not set(built.deleted) & set(got)
    assert set(got) == set(store.records["task"])
    today = _today()
    for gid, task in store.records["task"].items():
        end = _utc_day(task["completed_at"]) or today
        assert got[gid]["days_open"] == (end - _utc_day(task["created_at"])).days, gid
        assert got[gid]["is_completed"] == task["completed"]
        assert got[gid]["is_subtask"] == (task["parent"] is not None)
        assert got[gid]["assignee_user_id"] == (task["assignee"] or {}).get("gid")


def test_open_and_completed_tasks_per_project(built: Built) -> None:
    store = built.sim.store
    expected = {}
    for project in store.all("project"):
        tasks = [store.records["task"][g] for g in store.project_tasks[project["gid"]]]
        expected[project["gid"]] = (
            sum(not t["completed"] for t in tasks),
            sum(not t["completed"] and t["assignee"] is not None for t in tasks),
            sum(t["completed"] for t in tasks),
        )
    got = {
        r["project_id"]: (r["number_of_open_tasks"], r["number_of_assigned_open_tasks"], r["number_of_tasks_completed"])
        for r in built.rows("select * from {m}.asana__project")
    }
    assert got == expected


def test_open_and_completed_tasks_per_assignee(built: Built) -> None:
    tasks = built.sim.store.all("task")
    open_by = Counter(t["assignee"]["gid"] for t in tasks if t["assignee"] and not t["completed"])
    done_by = Counter(t["assignee"]["gid"] for t in tasks if t["assignee"] and t["completed"])
    got = {r["user_id"]: (r["number_of_open_tasks"], r["number_of_tasks_completed"]) for r in built.rows("select * from {m}.asana__user")}
    assert got == {u["gid"]: (open_by[u["gid"]], done_by[u["gid"]]) for u in built.sim.store.all("user")}


def test_daily_created_completed_and_open(built: Built) -> None:
    tasks = built.sim.store.all("task")
    created = Counter(_utc_day(t["created_at"]) for t in tasks)
    completed = Counter(_utc_day(t["completed_at"]) for t in tasks if t["completed"])
    days = built.rows("select * from {m}.asana__daily_metrics order by date_day")
    first, today = min(created), _today()
    assert [r["date_day"] for r in days] == [first + timedelta(n) for n in range((today - first).days + 1)]
    for row in days:
        day = row["date_day"]
        open_then = [t for t in tasks if _utc_day(t["created_at"]) <= day
                     and not (t["completed"] and _utc_day(t["completed_at"]) <= day)]
        assert (row["number_of_tasks_created"], row["number_of_tasks_completed"], row["number_of_tasks_open"]) == (
            created[day], completed[day], len(open_then)), day
        if open_then:
            mean = sum((day - _utc_day(t["created_at"])).days for t in open_then) / len(open_then)
            assert row["avg_days_open"] == pytest.approx(mean)


def test_assignment_history_and_cycle_time_come_from_stories(built: Built) -> None:
    store = built.sim.store
    got = {r["task_id"]: r for r in built.rows(
        "select task_id, first_assigned_at, last_assigned_at, number_of_comments, cycle_time_days from {m}.asana__task")}
    for gid, task in store.records["task"].items():
        stories = store.stories(task)
        assigned = [_ts(s["created_at"]) for s in stories if s["resource_subtype"] == "assigned"]
        row = got[gid]
        assert (row["first_assigned_at"], row["last_assigned_at"]) == ((min(assigned), max(assigned)) if assigned else (None, None))
        assert row["number_of_comments"] == sum(s["type"] == "comment" for s in stories)
        if task["completed"] and assigned:
            assert row["cycle_time_days"] == pytest.approx((_ts(task["completed_at"]) - min(assigned)).total_seconds() / 86400)
        else:
            assert row["cycle_time_days"] is None


def test_time_in_sections_ends_in_each_tasks_current_section(built: Built) -> None:
    store = built.sim.store
    current = {(r["task_id"], r["project_id"]): r["section_id"]
               for r in built.rows("select * from {m}.asana__task_section_time where is_current_section")}
    expected = {(t["gid"], m["project"]["gid"]): m["section"]["gid"]
                for t in store.all("task") for m in t["memberships"] if m["section"] is not None}
    assert current == expected
    stays = built.rows("select task_id, sum(number_of_stays) as stays from {m}.asana__task_section_time group by task_id")
    moves = {t["gid"]: sum(s["resource_subtype"] == "section_changed" for s in store.stories(t)) for t in store.all("task")}
    for row in stays:
        projects = sum(m["section"] is not None for m in store.records["task"][row["task_id"]]["memberships"])
        assert row["stays"] == moves[row["task_id"]] + projects


def _fields(label: str) -> Dict[str, str]:
    """A vega mark's accessible label ("open tasks: 3; assignee: Ana") as a dict."""
    return dict(part.split(": ", 1) for part in label.split("; ") if ": " in part)


def test_notebook_export_renders_its_charts_with_the_models_numbers(built: Built, tmp_path: Path) -> None:
    """`marimo export html` of the notebook, opened offline in headless Chromium."""
    from notebooks.render import CHROMIUM, export_html, render

    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (.ci/run installs Debian's chromium)")
    pytest.importorskip("playwright")
    if built.pipeline.destination.destination_type.endswith("duckdb"):
        with built.pipeline.sql_client() as client:
            source = ["--db", str(client.credentials.database)]
    else:
        source = ["--postgres", str(POSTGRES)]
    html = export_html(tmp_path / "charts.html", [*source, "--schema", built.schema])
    charts = {chart.title: chart.marks for chart in render(html)}
    assert sorted(charts) == sorted([
        "Burn-up: tasks created vs completed", "Open tasks per assignee", "Open tasks per project",
        "Distribution of days open", "Time in each section (days)"])

    store = built.sim.store
    tasks = store.all("task")
    open_by_assignee = Counter((t["assignee"] or {}).get("name", "(unassigned)") for t in tasks if not t["completed"])
    bars = [_fields(label) for label in charts["Open tasks per assignee"]]
    assert Counter({b["assignee"]: int(b["open_tasks"]) for b in bars}) == open_by_assignee
    open_by_project = sorted(
        (p["name"], n) for p in store.all("project")
        if (n := sum(not store.records["task"][g]["completed"] for g in store.project_tasks[p["gid"]])))
    bars = [_fields(label) for label in charts["Open tasks per project"]]
    assert sorted((b["project"], int(b["open_tasks"])) for b in bars) == open_by_project
    assert len(charts["Burn-up: tasks created vs completed"]) == 2  # created and completed
    assert sum(int(_fields(label)["tasks"]) for label in charts["Distribution of days open"]) == len(tasks)
    assert charts["Time in each section (days)"]


def test_custom_field_values_read_as_asana_shows_them_now(built: Built) -> None:
    """The field's name, the option chosen and the displayed value, as Asana answers now: after a
    field and one of its options were renamed, with no task of theirs changed."""
    truth = {}
    store = built.sim.store
    for task in store.all("task"):
        if task["gid"] in built.deleted:
            continue
        read = requests.get(built.sim.base_url + f"/tasks/{task['gid']}", timeout=10,
                            params={"opt_fields": "custom_fields.name,custom_fields.display_value,custom_fields.enum_value.name"},
                            headers={"Authorization": f"Bearer {TOKEN}"}).json()["data"]
        for field in read["custom_fields"]:
            truth[(task["gid"], field["gid"])] = (field["name"], field["display_value"], (field.get("enum_value") or {}).get("name"))
    got = {(r["task_id"], r["custom_field_id"]): (r["custom_field_name"], r["display_value"], r["enum_value"])
           for r in built.rows("SELECT * FROM {m}.asana__task_custom_field")}
    assert got == truth
    assert any(name.endswith("(renamed)") for name, _, _ in got.values())
    assert any(option == "Renamed option" for _, _, option in got.values())


def test_a_failing_data_test_is_one_line_naming_the_test(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """dbt's failure becomes the CLI's one `error:` line: which test, what it found, what to do."""
    from asana_app import cli
    from asana_app.analytics import AnalyticsError
    from dlt.helpers.dbt.exceptions import DBTNodeResult, DBTProcessingError

    failed = DBTNodeResult("unique_asana__task_task_id", "Got 1 result, configured to fail if != 0", 0.1, "fail")

    class Runner:
        def run(self, params: Any) -> List[DBTNodeResult]:
            return [DBTNodeResult("asana__task", "OK", 0.1, "success")]

        def test(self) -> List[DBTNodeResult]:
            raise DBTProcessingError("test", [failed], None)

    monkeypatch.setattr(dlt.dbt, "package", lambda *args, **kwargs: Runner())
    pipeline = dlt.pipeline(pipeline_name="asana_an_fail", pipelines_dir=str(tmp_path), destination="duckdb", dataset_name="d")
    with pytest.raises(AnalyticsError) as raised:
        build_models(pipeline)
    message = str(cli.root_cause(raised.value))
    assert "\n" not in message and "data tests failed" in message
    assert "unique_asana__task_task_id: Got 1 result" in message and "--analytics" in message
