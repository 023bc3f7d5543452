"""The official Asana SDK (v5), pointed at the simulator, pages through it and agrees.

This proves the wire format (envelope, ``next_page``, offsets, auth) is what Asana's
own client expects, and that SDK, raw API and ``expected_counts`` tell the same story.
"""
from __future__ import annotations

from typing import Any

import asana
import pytest

from asana_sim import AsanaSim, SimConfig
from tests.sim.sim_fixtures import Api


@pytest.fixture(scope="module")
def sdk_sim() -> Any:
    with AsanaSim(token="sdk-token", config=SimConfig(seed=11, tasks=120, projects=4)) as sim:
        yield sim


def _client(sim: AsanaSim) -> asana.ApiClient:
    cfg = asana.Configuration()
    cfg.host = sim.base_url
    cfg.access_token = sim.token
    return asana.ApiClient(cfg)


def _walk_sdk(sim: AsanaSim) -> dict[str, set[str]]:
    client = _client(sim)
    ws_api, proj_api = asana.WorkspacesApi(client), asana.ProjectsApi(client)
    task_api, story_api = asana.TasksApi(client), asana.StoriesApi(client)
    seen: dict[str, set[str]] = {"workspaces": set(), "projects": set(), "tasks": set(),
                                 "stories": set()}
    for ws in ws_api.get_workspaces({"limit": 100}):
        seen["workspaces"].add(ws["gid"])
        for p in proj_api.get_projects_for_workspace(ws["gid"], {"limit": 100}):
            seen["projects"].add(p["gid"])
            todo = [t["gid"] for t in task_api.get_tasks_for_project(p["gid"], {"limit": 37})]
            while todo:
                gid = todo.pop()
                if gid in seen["tasks"]:
                    continue
                seen["tasks"].add(gid)
                todo += [t["gid"] for t in task_api.get_subtasks_for_task(gid, {"limit": 100})]
                for s in story_api.get_stories_for_task(gid, {"limit": 100}):
                    seen["stories"].add(s["gid"])
    return seen


def _walk_raw(sim: AsanaSim) -> dict[str, set[str]]:
    api = Api(sim)
    seen: dict[str, set[str]] = {"workspaces": set(), "projects": set(), "tasks": set(),
                                 "stories": set()}
    for ws in api.all("/workspaces"):
        seen["workspaces"].add(ws["gid"])
        for p in api.all("/projects", workspace=ws["gid"]):
            seen["projects"].add(p["gid"])
            todo = [t["gid"] for t in api.all("/tasks", project=p["gid"], limit=50)]
            while todo:
                gid = todo.pop()
                if gid in seen["tasks"]:
                    continue
                seen["tasks"].add(gid)
                todo += [t["gid"] for t in api.all(f"/tasks/{gid}/subtasks")]
                seen["stories"] |= {s["gid"] for s in api.all(f"/tasks/{gid}/stories")}
    return seen


def test_sdk_raw_and_expected_counts_agree(sdk_sim: AsanaSim) -> None:
    sdk = _walk_sdk(sdk_sim)
    raw = _walk_raw(sdk_sim)
    expected = sdk_sim.expected_counts()
    assert sdk == raw
    for key in ("workspaces", "projects", "tasks", "stories"):
        assert len(sdk[key]) == expected[key], key
    assert expected["tasks"] > 120  # subtasks exist on top of the top-level tasks
    assert expected["stories"] > expected["tasks"]  # ~3 stories per task on average


def test_sdk_pages_with_small_limit(sdk_sim: AsanaSim) -> None:
    """A 7-item page size must need several requests and still see every task once."""
    sdk_sim.reset_requests()
    project = next(p for p in sdk_sim.store.all("project")
                   if len(sdk_sim.store.project_tasks[p["gid"]]) > 7)
    client = _client(sdk_sim)
    got = [t["gid"] for t in asana.TasksApi(client).get_tasks_for_project(project["gid"], {"limit": 7})]
    assert got == sdk_sim.store.project_tasks[project["gid"]]
    calls = [r for r in sdk_sim.requests() if r.path == f"/projects/{project['gid']}/tasks"]
    assert len(calls) == -(-len(got) // 7)
    assert all(r.status == 200 for r in calls)
    assert "offset" in calls[-1].params


def test_sdk_sees_api_errors(sdk_sim: AsanaSim) -> None:
    cfg = asana.Configuration()
    cfg.host = sdk_sim.base_url
    cfg.access_token = "wrong"
    with pytest.raises(asana.rest.ApiException) as exc:
        list(asana.WorkspacesApi(asana.ApiClient(cfg)).get_workspaces({}))
    assert exc.value.status == 401
