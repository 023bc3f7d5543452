"""Every read endpoint's answers validate against the 200 schema of Asana's OpenAPI file.

Each endpoint is called without opt_fields (compact), with every non-dotted field of its
``opt_fields`` enum, and with dotted paths; the body must match the spec's response
schema (refs inlined, ``nullable`` honoured) and contain exactly the requested keys.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

import jsonschema
import pytest

from asana_sim import spec
from tests.sim.sim_fixtures import Api, first_project_with_tasks, oas, shared_api, shared_sim  # noqa: F401


@lru_cache(maxsize=None)
def _validator(method: str, path: str) -> jsonschema.Draft4Validator:
    schema = spec.operation(method, path).response_schema(200)
    return jsonschema.Draft4Validator(spec.to_jsonschema(schema))


def _targets(sim: Any) -> dict[str, str]:
    store = sim.store
    org, plain = store.all("workspace")
    proj = first_project_with_tasks(sim)
    task = next(t for t in store.all("task") if store.subtasks.get(t["gid"])
                and store.story_counts.get(t["gid"]))
    att = store.all("attachment")[0]
    tagged = next(g for g, ts in store.tag_tasks.items() if ts)
    section = next(g for g in store.project_sections[proj["gid"]] if store.section_tasks.get(g))
    team = store.all("team")[0]
    portfolio = next(p for p in store.all("portfolio") if p["owner"] is store.me and p["workspace"] is org)
    goal = next(g for g in store.all("goal") if g["workspace"] is org)
    updated = next(u["parent"] for u in store.all("status_update") if u["parent"]["resource_type"] == "project")
    tracked = store.all("time_tracking_entry")[0]["task"]
    templated = store.all("task_template")[0]["project"]
    return {"org": org["gid"], "plain": plain["gid"], "project": proj["gid"], "task": task["gid"],
            "attachment_parent": att["parent"]["gid"], "tag": tagged, "section": section,
            "team": team["gid"], "user": store.me["gid"], "portfolio": portfolio["gid"], "goal": goal["gid"],
            "updated_project": updated["gid"], "tracked_task": tracked["gid"], "templated": templated["gid"]}


# (spec path, concrete path template, query params)
ENDPOINTS = [
    ("/workspaces", "/workspaces", {}),
    ("/workspaces/{workspace_gid}", "/workspaces/{org}", {}),
    ("/workspaces/{workspace_gid}/projects", "/workspaces/{org}/projects", {"limit": 5}),
    ("/projects", "/projects", {"workspace": "{org}", "archived": "false", "limit": 5}),
    ("/projects/{project_gid}", "/projects/{project}", {}),
    ("/projects/{project_gid}/sections", "/projects/{project}/sections", {"limit": 10}),
    ("/workspaces/{workspace_gid}/tags", "/workspaces/{org}/tags", {"limit": 10}),
    ("/tags", "/tags", {"workspace": "{org}"}),
    ("/tasks", "/tasks", {"project": "{project}", "limit": 20}),
    ("/tasks", "/tasks", {"section": "{section}", "limit": 20}),
    ("/tasks", "/tasks", {"tag": "{tag}", "limit": 20}),
    ("/tasks", "/tasks", {"assignee": "{user}", "workspace": "{org}", "limit": 20}),
    ("/projects/{project_gid}/tasks", "/projects/{project}/tasks", {"limit": 20}),
    ("/sections/{section_gid}/tasks", "/sections/{section}/tasks", {"limit": 20}),
    ("/tasks/{task_gid}", "/tasks/{task}", {}),
    ("/tasks/{task_gid}/subtasks", "/tasks/{task}/subtasks", {"limit": 20}),
    ("/tasks/{task_gid}/stories", "/tasks/{task}/stories", {"limit": 20}),
    ("/workspaces/{workspace_gid}/teams", "/workspaces/{org}/teams", {"limit": 20}),
    ("/users", "/users", {"workspace": "{org}", "limit": 7}),
    ("/workspaces/{workspace_gid}/users", "/workspaces/{org}/users", {}),
    ("/workspaces/{workspace_gid}/custom_fields", "/workspaces/{org}/custom_fields", {"limit": 20}),
    ("/projects/{project_gid}/custom_field_settings", "/projects/{project}/custom_field_settings",
     {"limit": 20}),
    ("/projects/{project_gid}/project_memberships", "/projects/{project}/project_memberships",
     {"limit": 20}),
    ("/teams/{team_gid}/team_memberships", "/teams/{team}/team_memberships", {"limit": 20}),
    ("/attachments", "/attachments", {"parent": "{attachment_parent}"}),
    ("/portfolios", "/portfolios", {"workspace": "{org}", "owner": "{user}"}),
    ("/workspaces/{workspace_gid}/tasks/search", "/workspaces/{org}/tasks/search",
     {"sort_by": "modified_at", "limit": 10}),
    # The catalog's endpoints (asana_sim/catalog_reads.py).
    ("/workspaces/{workspace_gid}/workspace_memberships", "/workspaces/{org}/workspace_memberships",
     {"limit": 100}),
    ("/portfolios/{portfolio_gid}/items", "/portfolios/{portfolio}/items", {"limit": 100}),
    ("/portfolios/{portfolio_gid}/portfolio_memberships", "/portfolios/{portfolio}/portfolio_memberships",
     {"limit": 100}),
    ("/goals", "/goals", {"workspace": "{org}", "limit": 100}),
    ("/goal_relationships", "/goal_relationships", {"supported_goal": "{goal}", "limit": 100}),
    ("/status_updates", "/status_updates", {"parent": "{updated_project}", "limit": 100}),
    ("/status_updates", "/status_updates", {"parent": "{portfolio}", "limit": 100}),
    ("/status_updates", "/status_updates", {"parent": "{goal}", "limit": 100}),
    ("/time_periods", "/time_periods", {"workspace": "{org}", "limit": 100}),
    ("/tasks/{task_gid}/time_tracking_entries", "/tasks/{tracked_task}/time_tracking_entries",
     {"limit": 100}),
    ("/project_templates", "/project_templates", {"workspace": "{org}", "limit": 100}),
    ("/task_templates", "/task_templates", {"project": "{templated}", "limit": 100}),
    ("/allocations", "/allocations", {"workspace": "{org}", "limit": 100}),
]
IDS = [f"{e[1]}?{','.join(e[2])}" for e in ENDPOINTS]


def _call(api: Api, spec_path: str, concrete: str, params: dict[str, Any],
          opt_fields: str | None) -> dict[str, Any]:
    t = _targets(api.sim)
    q = {k: str(v).format(**t) for k, v in params.items()}
    if opt_fields is not None:
        q["opt_fields"] = opt_fields
    resp = api.get(concrete.format(**t), **q)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    _validator("GET", spec_path).validate(body)
    data = body["data"]
    assert data, f"{concrete} returned no data; the check would be vacuous"
    return body


@pytest.mark.parametrize("spec_path,concrete,params", ENDPOINTS, ids=IDS)
def test_compact_validates(shared_api: Api, spec_path: str, concrete: str,
                           params: dict[str, Any]) -> None:
    body = _call(shared_api, spec_path, concrete, params, None)
    items = body["data"] if isinstance(body["data"], list) else [body["data"]]
    for item in items:
        kind = item["resource_type"]
        assert set(item) <= set(spec.compact_fields(kind)), item
        assert {"gid", "resource_type"} <= set(item)


@pytest.mark.parametrize("spec_path,concrete,params", ENDPOINTS, ids=IDS)
def test_all_top_level_fields_validate(shared_api: Api, spec_path: str, concrete: str,
                                       params: dict[str, Any]) -> None:
    allowed = spec.operation("GET", spec_path).opt_fields
    top = sorted(f for f in allowed if "." not in f)
    body = _call(shared_api, spec_path, concrete, params, ",".join(top))
    items = body["data"] if isinstance(body["data"], list) else [body["data"]]
    for item in items:
        assert set(item) == set(top) | {"gid", "resource_type"}


@pytest.mark.parametrize("spec_path,concrete,params", ENDPOINTS, ids=IDS)
def test_all_fields_including_dotted_validate(shared_api: Api, spec_path: str, concrete: str,
                                              params: dict[str, Any]) -> None:
    allowed = spec.operation("GET", spec_path).opt_fields
    _call(shared_api, spec_path, concrete, params, ",".join(sorted(allowed)))


def test_dotted_paths_project_nested_objects(shared_api: Api) -> None:
    t = _targets(shared_api.sim)
    body = shared_api.get(f"/projects/{t['project']}/tasks", limit=50,
                          opt_fields="assignee.name,memberships.section.name,"
                                     "custom_fields.enum_value.name,parent").json()
    tasks = body["data"]
    assert any(x["assignee"] for x in tasks)
    for x in tasks:
        assert set(x) == {"gid", "resource_type", "assignee", "memberships", "custom_fields",
                          "parent"}
        if x["assignee"] is not None:
            assert set(x["assignee"]) == {"gid", "resource_type", "name"}
        for m in x["memberships"]:
            assert set(m) == {"section"}
            assert set(m["section"]) == {"gid", "resource_type", "name"}
        for cf in x["custom_fields"]:
            assert set(cf) == {"gid", "resource_type", "enum_value"}
            if cf["enum_value"] is not None:
                assert set(cf["enum_value"]) == {"gid", "resource_type", "name"}
        assert x["parent"] is None


def test_named_object_without_subfields_is_compact(shared_api: Api) -> None:
    t = _targets(shared_api.sim)
    task = shared_api.get(f"/tasks/{t['task']}", opt_fields="workspace,projects").json()["data"]
    assert set(task["workspace"]) == {"gid", "resource_type", "name"}
    assert task["workspace"]["resource_type"] == "workspace"


def test_events_validate(shared_sim: Any) -> None:
    """Events are checked in a write test too; here the 412 body matches its schema."""
    t = _targets(shared_sim)
    api = Api(shared_sim)
    resp = api.get("/events", resource=t["project"])
    assert resp.status_code == 412
    schema = spec.operation("GET", "/events").response_schema(412)
    jsonschema.Draft4Validator(spec.to_jsonschema(schema)).validate(resp.json())
    assert resp.json()["sync"]


def test_audit_log_validates_and_is_enterprise_only(shared_sim: Any) -> None:
    """The audit log has no opt_fields: events come whole, and only to Enterprise accounts."""
    t = _targets(shared_sim)
    api = Api(shared_sim)
    path = f"/workspaces/{t['org']}/audit_log_events"
    body = api.get(path, limit=100).json()
    _validator("GET", "/workspaces/{workspace_gid}/audit_log_events").validate(body)
    assert body["data"] and {"gid", "created_at", "event_type", "actor", "resource", "context"} <= set(body["data"][0])
    later = api.get(path, limit=100, start_at=body["data"][-1]["created_at"]).json()
    assert [e["gid"] for e in later["data"]] == [body["data"][-1]["gid"]]  # start_at is inclusive
    # A stream, as Asana's: a next page past the end, answered empty, with a next page again.
    past = api.session.get(later["next_page"]["uri"], timeout=10).json()
    assert past["data"] == [] and past["next_page"]["offset"]


@pytest.mark.parametrize("enterprise,premium,status", [(False, True, 403), (False, False, 402)])
def test_plan_gates(enterprise: bool, premium: bool, status: int) -> None:
    from asana_sim import AsanaSim, SimConfig

    with AsanaSim(token="t", config=SimConfig(seed=2, tasks=5, projects=2, premium=premium,
                                              enterprise=enterprise)) as sim:
        api = Api(sim)
        org = sim.store.all("workspace")[0]["gid"]
        assert api.get(f"/workspaces/{org}/audit_log_events").status_code == status
        premium_only = api.get("/goals", workspace=org).status_code, api.get("/portfolios", workspace=org).status_code
        assert premium_only == ((200, 200) if premium else (402, 402))
        assert api.get(f"/workspaces/{org}/custom_fields").status_code == 200
