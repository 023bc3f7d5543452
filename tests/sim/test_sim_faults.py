"""Limits and injected faults, without sleeping: clocks are injected, rates set to 0 or 1."""
from __future__ import annotations

import pytest
import requests

from asana_sim import AsanaSim, SimConfig
from tests.sim.sim_fixtures import Api, api, sim  # noqa: F401
from tests.sim.test_sim_errors import FakeClock


def test_quota_rejects_request_n_plus_1_with_retry_after() -> None:
    clock = FakeClock()
    t0 = clock.now
    with AsanaSim(config=SimConfig(seed=1, tasks=10, projects=1, quota_per_minute=3),
                  clock=clock) as s:
        api = Api(s)

        def at(offset: float) -> requests.Response:
            clock.now = t0 + offset
            return api.get("/workspaces")

        assert [at(0).status_code, at(1).status_code, at(2).status_code] == [200, 200, 200]
        over = at(10)
        assert over.status_code == 429
        assert over.headers["Retry-After"] == "51"  # the request at +1 leaves the window at +61
        assert over.json()["errors"][0]["message"]
        assert at(10).headers["Retry-After"] == "52"
        # Rejected requests count: without that, the window at +61 would hold one request.
        late = at(61)
        assert late.status_code == 429 and late.headers["Retry-After"] == "9"
        assert at(70).status_code == 200
        # /_sim/* is never limited.
        assert requests.get(s.base_url.replace("/api/1.0", "/_sim/counts"), timeout=5).ok
        assert s.counters()["status"] == {200: 4, 429: 3}


def test_max_concurrent_zero_rejects_gets_only(sim: AsanaSim, api: Api) -> None:
    sim.config.max_concurrent = 0
    resp = api.get("/workspaces")
    assert resp.status_code == 429 and resp.headers["Retry-After"] == "1"
    task = sim.store.all("task")[0]["gid"]
    assert api.post(f"/tasks/{task}/stories", {"text": "writes are not GETs"}).status_code == 201
    sim.config.max_concurrent = 5
    assert api.get("/workspaces").status_code == 200


def test_error_rate_one_gives_5xx_and_zero_gives_none(sim: AsanaSim, api: Api) -> None:
    sim.config.error_rate = 1.0
    codes = {api.get("/workspaces").status_code for _ in range(30)}
    assert codes <= {500, 503} and codes == {500, 503}
    sim.config.error_rate = 0.0
    assert api.get("/workspaces").status_code == 200


def test_error_rate_is_seeded() -> None:
    def run() -> list[int]:
        with AsanaSim(config=SimConfig(seed=8, tasks=5, projects=1, error_rate=0.5)) as s:
            api = Api(s)
            return [api.get("/workspaces").status_code for _ in range(40)]
    first = run()
    assert first == run() and 200 in first and set(first) - {200}


def test_drop_rate_one_drops_connection(sim: AsanaSim, api: Api) -> None:
    sim.config.drop_rate = 1.0
    with pytest.raises(requests.ConnectionError):
        api.get("/workspaces")
    sim.config.drop_rate = 0.0
    assert api.get("/workspaces").status_code == 200
    assert [r.status for r in sim.requests()] == [0, 200]


def test_request_log_records_path_params_status(sim: AsanaSim, api: Api) -> None:
    org = sim.store.all("workspace")[0]["gid"]
    api.get("/projects", workspace=org, limit=2)
    api.get("/tasks")
    log = sim.requests()
    assert [(r.method, r.path, r.status) for r in log] == [("GET", "/projects", 200),
                                                           ("GET", "/tasks", 400)]
    assert log[0].params == {"workspace": org, "limit": "2"}
    assert all(r.duration_s >= 0 for r in log)
    over_http = requests.get(sim.base_url.replace("/api/1.0", "/_sim/requests"), timeout=5).json()
    assert [x["path"] for x in over_http] == ["/projects", "/tasks"]
    assert sim.counters() == {"requests": 2, "status": {200: 1, 400: 1}}
    requests.post(sim.base_url.replace("/api/1.0", "/_sim/reset"), timeout=5)
    assert sim.requests() == []
    sim.reset_requests()
    assert sim.counters() == {"requests": 0, "status": {}}


def test_throttle_burst_answers_429_for_exactly_its_length() -> None:
    import requests as http

    from asana_sim import AsanaSim, SimConfig

    with AsanaSim(token="t", config=SimConfig(throttle_burst_at=3, throttle_burst_length=2)) as sim:
        statuses = []
        for _ in range(6):
            r = http.get(f"{sim.base_url}/workspaces", headers={"Authorization": "Bearer t"}, timeout=10)
            statuses.append((r.status_code, r.headers.get("Retry-After")))
    assert statuses == [(200, None), (200, None), (429, "1"), (429, "1"), (200, None), (200, None)]
