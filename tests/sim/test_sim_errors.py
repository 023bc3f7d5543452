"""Asana's error answers: status codes, envelopes and messages clients rely on."""
from __future__ import annotations

from typing import Any

import pytest
import requests

from asana_sim import AsanaSim, SimConfig
from asana_sim.reads import TASKS_FILTER_MSG
from tests.sim.sim_fixtures import Api, api, first_project_with_tasks, shared_api, shared_sim, sim  # noqa: F401


def _error(resp: requests.Response, status: int) -> str:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"errors"}
    assert len(body["errors"]) == 1 and isinstance(body["errors"][0]["message"], str)
    return body["errors"][0]["message"]


@pytest.mark.parametrize("limit", ["0", "101", "-1", "abc"])
def test_limit_out_of_range_is_400(shared_api: Api, limit: str) -> None:
    org = shared_api.sim.store.all("workspace")[0]["gid"]
    msg = _error(shared_api.get("/projects", workspace=org, limit=limit), 400)
    assert "limit" in msg
    assert shared_api.get("/projects", workspace=org, limit=100).status_code == 200
    assert shared_api.get("/projects", workspace=org, limit=1).status_code == 200


@pytest.mark.parametrize("header", [None, "Bearer nope", "sim-token", "Basic sim-token"])
def test_bad_token_is_401_envelope(shared_sim: AsanaSim, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    resp = requests.get(shared_sim.base_url + "/workspaces", headers=headers, timeout=10)
    assert resp.status_code == 401
    assert resp.json() == {"errors": [{"message": "Not Authorized"}]}


@pytest.mark.parametrize("params", [{}, {"workspace": "X"}, {"assignee": "me"},
                                    {"project": "P", "section": "S"}])
def test_tasks_without_exactly_one_filter_is_400(shared_api: Api, params: dict[str, str]) -> None:
    assert _error(shared_api.get("/tasks", **params), 400) == TASKS_FILTER_MSG


def test_unknown_opt_field_is_400_naming_it(shared_api: Api) -> None:
    p = first_project_with_tasks(shared_api.sim)["gid"]
    msg = _error(shared_api.get("/tasks", project=p, opt_fields="name,bogus_field"), 400)
    assert "bogus_field" in msg
    # A real field of another endpoint is still unknown here.
    assert "is_organization" in _error(shared_api.get("/tasks", project=p,
                                                      opt_fields="is_organization"), 400)


def test_unknown_query_parameter_is_400_naming_it(shared_api: Api) -> None:
    p = first_project_with_tasks(shared_api.sim)["gid"]
    assert "sort" in _error(shared_api.get(f"/projects/{p}/tasks", sort="name"), 400)
    # /workspaces/{gid}/users declares no limit in the spec.
    org = shared_api.sim.store.all("workspace")[0]["gid"]
    assert "limit" in _error(shared_api.get(f"/workspaces/{org}/users", limit=10), 400)


def test_unknown_gid_is_404(shared_api: Api) -> None:
    assert _error(shared_api.get("/tasks/999"), 404) == "task: Unknown object: 999"
    assert _error(shared_api.get("/projects/42/tasks"), 404) == "project: Unknown object: 42"


def test_missing_required_parameter_is_400(shared_api: Api) -> None:
    assert "parent" in _error(shared_api.get("/attachments"), 400)


def test_teams_of_plain_workspace_is_400(shared_api: Api) -> None:
    plain = shared_api.sim.store.all("workspace")[1]
    assert plain["is_organization"] is False
    assert "organization" in _error(shared_api.get(f"/workspaces/{plain['gid']}/teams"), 400)


class FakeClock:
    """A clock the test moves by hand, so expiry needs no sleeping."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_offset_expires_after_ttl_with_injected_clock() -> None:
    clock = FakeClock()
    with AsanaSim(config=SimConfig(seed=2, tasks=30, projects=2, offset_ttl_s=900), clock=clock) as s:
        api = Api(s)
        p = first_project_with_tasks(s)["gid"]
        first = api.get("/tasks", project=p, limit=2).json()
        offset = first["next_page"]["offset"]
        assert not offset.isdigit()
        clock.now += 899
        assert api.get("/tasks", project=p, limit=2, offset=offset).status_code == 200
        clock.now += 2
        msg = _error(api.get("/tasks", project=p, limit=2, offset=offset), 400)
        assert msg == "offset: Your pagination token has expired."


def test_offset_ttl_zero_expires_at_once(sim: AsanaSim, api: Api) -> None:
    sim.config.offset_ttl_s = 0
    p = first_project_with_tasks(sim)["gid"]
    offset = api.get(f"/projects/{p}/tasks", limit=1).json()["next_page"]["offset"]
    assert _error(api.get(f"/projects/{p}/tasks", limit=1, offset=offset), 400) == \
        "offset: Your pagination token has expired."


def test_forged_offset_is_400(shared_api: Api) -> None:
    p = first_project_with_tasks(shared_api.sim)["gid"]
    assert "offset" in _error(shared_api.get("/tasks", project=p, limit=2, offset="2"), 400)


def test_forbidden_project_is_403(sim: AsanaSim, api: Api) -> None:
    p = first_project_with_tasks(sim)["gid"]
    assert api.get("/tasks", project=p).status_code == 200
    sim.config.forbidden_projects.add(p)
    _error(api.get("/tasks", project=p), 403)
    _error(api.get(f"/projects/{p}"), 403)
    _error(api.get(f"/projects/{p}/tasks"), 403)
    _error(api.get(f"/projects/{p}/sections"), 403)
    other = next(x for x in sim.store.all("project") if x["gid"] != p)
    assert api.get(f"/projects/{other['gid']}").status_code == 200


def test_search_without_premium_is_402(sim: AsanaSim, api: Api) -> None:
    org = sim.store.all("workspace")[0]["gid"]
    assert "premium" in _error(api.get(f"/workspaces/{org}/tasks/search"), 402)  # off, like a free workspace
    sim.config.search = True
    assert api.get(f"/workspaces/{org}/tasks/search").status_code == 200
    sim.config.premium = False
    assert "premium" in _error(api.get(f"/workspaces/{org}/tasks/search"), 402)


def test_unpaginated_list_over_1000_is_400() -> None:
    with AsanaSim(config=SimConfig(seed=4, tasks=1100, projects=1)) as s:
        api = Api(s)
        p = s.store.all("project")[0]["gid"]
        assert len(s.store.project_tasks[p]) > 1000
        msg = _error(api.get("/tasks", project=p), 400)
        assert msg.startswith("The result is too large. You should use pagination")
        body: dict[str, Any] = api.get("/tasks", project=p, limit=100).json()
        assert len(body["data"]) == 100 and body["next_page"]


def test_list_without_limit_returns_everything_and_no_next_page(shared_api: Api) -> None:
    p = first_project_with_tasks(shared_api.sim)["gid"]
    body = shared_api.get("/tasks", project=p).json()
    assert "next_page" not in body
    assert [t["gid"] for t in body["data"]] == shared_api.sim.store.project_tasks[p]


def test_next_page_shape(shared_api: Api) -> None:
    p = first_project_with_tasks(shared_api.sim)["gid"]
    body = shared_api.get("/tasks", project=p, limit=1).json()
    nxt = body["next_page"]
    assert set(nxt) == {"offset", "path", "uri"}
    assert nxt["path"].startswith(f"/tasks?project={p}&limit=1&offset=")
    assert nxt["uri"] == shared_api.sim.base_url + nxt["path"]
    last = shared_api.get("/tasks", project=p, limit=100).json()
    assert last["next_page"] is None


def test_unknown_route_is_404(shared_api: Api) -> None:
    _error(shared_api.get("/nope"), 404)


def test_expire_offset_number_expires_exactly_that_offset() -> None:
    import requests as http

    from asana_sim import AsanaSim, SimConfig

    with AsanaSim(token="t", config=SimConfig(tasks=250, projects=1, expire_offset_number=2)) as sim:
        auth = {"Authorization": "Bearer t"}
        ws = http.get(f"{sim.base_url}/workspaces", headers=auth, timeout=10).json()["data"]
        project = None
        for w in ws:
            found = http.get(f"{sim.base_url}/workspaces/{w['gid']}/projects", headers=auth, timeout=10).json()["data"]
            project = project or (found[0] if found else None)
        first = http.get(f"{sim.base_url}/tasks", params={"project": project["gid"], "limit": 10}, headers=auth,
                         timeout=10).json()
        offset = first["next_page"]["offset"]
        params = {"project": project["gid"], "limit": 10, "offset": offset}
        answers = [http.get(f"{sim.base_url}/tasks", params=params, headers=auth, timeout=10) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 400, 200]
    assert "expired" in answers[1].json()["errors"][0]["message"]
