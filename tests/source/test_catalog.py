"""The catalog's tables end to end: every resource selected, over real HTTP, against asana_sim.

One small account loaded once per module (with the Enterprise audit log on), then: every table
equals the simulator's truth, every request is one Asana's OpenAPI description allows, an idle
run costs no per-task request, a changed task costs exactly its own, and plan-gated endpoints
warn once and let the rest load.
"""

import logging
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any, Dict, Iterator, List, Set, Tuple

import dlt
import pytest
import requests

from asana_dlt import asana_source, settings
from asana_sim import AsanaSim, SimConfig
from asana_sim import spec as sim_spec
from tests.conftest import cli_subprocess_env, rows

REPO = Path(__file__).resolve().parents[2]
TOKEN = "sim-token-for-catalog-tests"
CONFIG = SimConfig(seed=11, tasks=60, projects=4, enterprise=True)


def everything(sim: AsanaSim) -> Any:
    source = asana_source(access_token=sim.token, base_url=sim.base_url, requests_per_minute=0)
    return source.with_resources(*source.resources)


def new_pipeline(path: Path, name: str) -> dlt.Pipeline:
    return dlt.pipeline(
        pipeline_name=name,
        pipelines_dir=str(path / "pipelines"),
        destination=dlt.destinations.duckdb(str(path / f"{name}.duckdb")),
        dataset_name="asana_data",
    )


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tuple[AsanaSim, dlt.Pipeline, List[Any]]]:
    with AsanaSim(token=TOKEN, config=CONFIG) as sim:
        pipeline = new_pipeline(tmp_path_factory.mktemp("catalog"), "catalog")
        pipeline.run(everything(sim))
        yield sim, pipeline, sim.requests()


def gids(pipeline: dlt.Pipeline, table: str, column: str = "gid") -> Set[str]:
    return {r[0] for r in rows(pipeline, f"SELECT {column} FROM {table}")}


def truth(sim: AsanaSim) -> Dict[str, Set[str]]:
    """What each table must hold: read straight from the simulator's records."""
    store = sim.store
    me = store.me
    mine = [p for p in store.all("portfolio") if p["owner"] is me]  # a token lists its own portfolios
    tasks = store.records["task"]

    def of(kind: str) -> Set[str]:
        return {r["gid"] for r in store.all(kind)}

    return {
        "custom_fields": of("custom_field"),
        "custom_field_settings": of("custom_field_setting"),
        "project_memberships": of("project_membership"),
        "team_memberships": of("team_membership"),
        "workspace_memberships": of("workspace_membership"),
        "attachments": {a["gid"] for a in store.all("attachment") if a["parent"]["gid"] in tasks},
        "portfolios": {p["gid"] for p in mine},
        "portfolio_items": {f"{p['gid']}/{i['gid']}" for p in mine for i in p["_items"]},
        "portfolio_memberships": {m["gid"] for p in mine for m in p["_members"]},
        "goals": of("goal"),
        "goal_relationships": of("goal_relationship"),
        "status_updates": {
            u["gid"] for u in store.all("status_update")
            if u["parent"]["resource_type"] != "portfolio" or u["parent"]["owner"] is me
        },
        "time_periods": of("time_period"),
        "time_tracking_entries": of("time_tracking_entry"),
        "project_templates": of("project_template"),
        "task_templates": of("task_template"),
        "allocations": of("allocation"),
        "audit_log_events": of("audit_log_event"),
    }


def test_every_table_equals_the_simulators_truth(loaded: Tuple[AsanaSim, dlt.Pipeline, List[Any]]) -> None:
    sim, pipeline, _ = loaded
    expected = truth(sim)
    assert all(expected.values()), "the generator left a table empty: the check would be vacuous"
    found = {table: gids(pipeline, table) for table in expected if table != "portfolio_items"}
    found["portfolio_items"] = {f"{p}/{g}" for p, g in rows(pipeline, "SELECT portfolio__gid, gid FROM portfolio_items")}
    assert found == expected


def test_values_and_links_match_the_records(loaded: Tuple[AsanaSim, dlt.Pipeline, List[Any]]) -> None:
    sim, pipeline, _ = loaded
    store = sim.store
    fields = {g: (n, t, w) for g, n, t, w in rows(pipeline, "SELECT gid, name, type, workspace__gid FROM custom_fields")}
    assert fields == {c["gid"]: (c["name"], c["type"], c["workspace"]["gid"]) for c in store.all("custom_field")}
    options = rows(pipeline, "SELECT count(*) FROM custom_fields__enum_options")[0][0]
    assert options == sum(len(c.get("enum_options", [])) for c in store.all("custom_field"))
    entries = set(rows(pipeline, "SELECT gid, task__gid, duration_minutes, entered_on::VARCHAR FROM time_tracking_entries"))
    assert entries == {
        (e["gid"], e["task"]["gid"], e["duration_minutes"], e["entered_on"]) for e in store.all("time_tracking_entry")
    }
    settings_rows = set(rows(pipeline, "SELECT gid, custom_field__gid, project__gid, is_important FROM custom_field_settings"))
    assert settings_rows == {
        (s["gid"], s["custom_field"]["gid"], s["project"]["gid"], s["is_important"]) for s in store.all("custom_field_setting")
    }
    updates = dict(rows(pipeline, "SELECT gid, parent__gid FROM status_updates"))
    assert {store.by_gid[p]["resource_type"] for p in updates.values()} == {"project", "portfolio", "goal"}
    assert all(store.by_gid[g]["parent"]["gid"] == p for g, p in updates.items())
    efforts = dict(rows(pipeline, "SELECT gid, effort__value FROM allocations"))
    assert efforts == {a["gid"]: a["effort"]["value"] for a in store.all("allocation")}
    dependencies = set(rows(pipeline, "SELECT t.gid, d.gid FROM tasks t JOIN tasks__dependencies d ON d._dlt_parent_id = t._dlt_id"))
    expected = {(t["gid"], d["gid"]) for t in store.all("task") for d in t.get("dependencies", ())}
    assert expected and dependencies == expected
    dependents = set(rows(pipeline, "SELECT t.gid, d.gid FROM tasks t JOIN tasks__dependents d ON d._dlt_parent_id = t._dlt_id"))
    assert dependents == {(d["gid"], t["gid"]) for t in store.all("task") for d in t.get("dependencies", ())}
    events = dict(rows(pipeline, "SELECT gid, actor__email FROM audit_log_events"))
    assert events == {e["gid"]: e["actor"]["email"] for e in store.all("audit_log_event")}


def test_every_request_is_one_the_openapi_description_allows(loaded: Tuple[AsanaSim, dlt.Pipeline, List[Any]]) -> None:
    _, _, log = loaded
    # A first run asks each workspace for a resource export (full_load="auto"); without the plan
    # Asana answers 402 and the paged load follows.
    probes = [r for r in log if r.path == "/exports/resource"]
    assert all(r.method == "POST" and r.status == 402 for r in probes), probes
    log = [r for r in log if r not in probes]
    # A project's first events request is answered 412 with its first sync token, as Asana does;
    # each workspace's search answers 402 (a free workspace: polling, workspace_changes.py).
    refused = [r for r in log if r.status == 402]
    assert all(r.path.endswith("/tasks/search") for r in refused), refused
    assert log and all(r.status in (200, 402) or (r.path, r.status) == ("/events", 412) for r in log), Counter(
        r.status for r in log
    )
    operations = [op for (method, _), op in sim_spec.operations().items() if method == "GET"]
    for request in log:
        matching = [op for op in operations if op.regex.match(request.path)]
        op = max(matching, key=lambda o: o.literal_segments)  # the most specific path, as routers do
        assert set(request.params) <= op.query_params | {"tag"}, (request.path, request.params)
        asked = set(filter(None, request.params.get("opt_fields", "").split(",")))
        assert asked <= op.opt_fields, (request.path, asked - op.opt_fields)
        if "limit" in request.params:
            assert request.params["limit"] == str(settings.PAGE_SIZE)


def _by_kind(log: List[Any]) -> Counter:
    return Counter("/".join(p for p in r.path.split("/") if not p.isdigit()) for r in log)


def test_idle_run_costs_no_per_task_request_and_a_change_costs_its_own(tmp_path: Path) -> None:
    with AsanaSim(token=TOKEN, config=CONFIG) as sim:
        pipeline = new_pipeline(tmp_path, "idle")
        pipeline.run(everything(sim))
        first = _by_kind(sim.requests())
        sim.reset_requests()
        pipeline.run(everything(sim))
        idle = _by_kind(sim.requests())
        audit = [r for r in sim.requests() if r.path.endswith("/audit_log_events")]

        task = next(t for t in sim.store.all("task") if t["parent"] is None and t["projects"])
        api = requests.Session()
        api.headers["Authorization"] = f"Bearer {TOKEN}"
        assert api.put(f"{sim.base_url}/tasks/{task['gid']}", json={"data": {"name": "changed"}}, timeout=10).ok
        sim.reset_requests()
        pipeline.run(everything(sim))
        per_task = [r for r in sim.requests() if r.path in ("/attachments", f"/tasks/{task['gid']}/time_tracking_entries")
                    or r.path.endswith("/time_tracking_entries")]

    tasks = len(sim.store.records["task"])
    assert first["/attachments"] == tasks and first["/tasks/time_tracking_entries"] == tasks
    assert idle["/attachments"] == 0 and idle["/tasks/time_tracking_entries"] == 0
    # One request per organization: from the newest event seen, ended by the short page even
    # though the stream offers a next page.
    assert [r.params.get("start_at") for r in audit] == [max(e["created_at"] for e in sim.store.all("audit_log_event"))]
    assert sorted((r.path, r.params.get("parent")) for r in per_task) == sorted(
        [("/attachments", task["gid"]), (f"/tasks/{task['gid']}/time_tracking_entries", None)]
    )
    # The listed-whole tables cost the same requests on every run.
    listed_whole = {k: v for k, v in first.items() if k not in ("/attachments", "/tasks/time_tracking_entries",
                                                                "/tasks", "/tasks/stories", "/tasks/subtasks",
                                                                "/exports/resource")}  # a first run's export probe
    assert {k: idle[k] for k in listed_whole} == listed_whole


def test_plan_gated_endpoints_warn_once_each_and_the_rest_loads(tmp_path: Path, dlt_log: pytest.LogCaptureFixture) -> None:
    config = SimConfig(seed=11, tasks=20, projects=3, premium=False)
    with AsanaSim(token=TOKEN, config=config) as sim:
        pipeline = new_pipeline(tmp_path, "gated")
        pipeline.run(everything(sim))
        # (the export probe of a first run, full_load="auto", is answered 402 too: not a catalog table,
        # and so is each workspace's task search: polling, a free workspace's change capture)
        refused = Counter(r.path.split("/")[-1] for r in sim.requests() if r.status == 402 and r.path != "/exports/resource"
                          and not r.path.endswith("/tasks/search"))
    warnings = [r.getMessage() for r in dlt_log.records if r.levelno == logging.WARNING and "Not loading" in r.getMessage()]
    named = Counter(w.split()[2].rstrip(":") for w in warnings)
    assert named == Counter({t: 1 for t in ("portfolios", "goals", "allocations", "time_tracking_entries", "audit_log_events")})
    assert any("Enterprise" in w for w in warnings if "audit_log_events" in w)
    assert any("Advanced" in w for w in warnings if "allocations" in w)
    # Asked once per workspace (the audit log: per organization), not once per task or goal.
    assert refused == Counter({"portfolios": 2, "goals": 2, "allocations": 2, "time_tracking_entries": 2,
                               "audit_log_events": 1}), refused
    tables = set(pipeline.default_schema.data_table_names(seen_data_only=True))
    assert {"tasks", "custom_fields", "status_updates", "time_periods", "workspace_memberships"} <= tables
    assert not tables & {"portfolios", "goals", "allocations", "audit_log_events"}


def test_cli_exits_0_when_a_plan_gated_table_is_selected(tmp_path: Path) -> None:
    with AsanaSim(token=TOKEN, config=SimConfig(seed=2, tasks=5, projects=2, premium=False)) as sim:
        env = cli_subprocess_env(tmp_path, sim.base_url, TOKEN)
        cmd = [sys.executable, str(REPO / "asana_dlt_pipeline.py"), "--progress", "none",
               "--resources", "workspaces,goals,custom_fields"]
        done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    gated = [line for line in done.stderr.splitlines() if "Not loading goals" in line]
    assert len(gated) == 1 and "paid plan" in gated[0]
    assert "custom_fields" in done.stdout


def test_audit_log_without_enterprise_and_a_forbidden_project(tmp_path: Path, dlt_log: pytest.LogCaptureFixture) -> None:
    """403 means "needs Enterprise" only for the audit log; elsewhere it skips that one object."""
    with AsanaSim(token=TOKEN, config=SimConfig(seed=2, tasks=10, projects=3)) as sim:
        forbidden = sim.store.all("project")[0]
        sim.config.forbidden_projects = {forbidden["gid"]}
        pipeline = new_pipeline(tmp_path, "no_enterprise")
        pipeline.run(everything(sim).with_resources("workspaces", "projects", "project_memberships", "audit_log_events"))
        memberships = {m["gid"] for m in sim.store.all("project_membership") if m["parent"] is not forbidden}
    messages = [r.getMessage() for r in dlt_log.records if r.levelno == logging.WARNING]
    gated = [m for m in messages if m.startswith("Not loading")]
    assert len(gated) == 1 and gated[0].startswith("Not loading audit_log_events: Asana answered 403") and "Enterprise" in gated[0]
    assert any("Skipping project_memberships of project" in m and forbidden["gid"] in m for m in messages)
    assert gids(pipeline, "project_memberships") == memberships
