"""Change capture by workspace events and search, and by per-project events (issue 13, item 4).

The rounds of `test_mirror.py` (subtask changes, moves, deletes of tasks, subtasks, stories and a
project, a run after every token expired, an idle run) in the two modes a paid workspace gets,
against the simulator over real HTTP: the warehouse equals the simulator after every round, each
workspace says its mode in one line, and an idle run makes exactly the requests the mode promises.
Polling (a free workspace) is what `test_mirror.py` runs.
"""

from pathlib import Path
from typing import Any, List

import dlt
import pytest
import requests

from asana_dlt import asana_source
from asana_dlt.settings import SEARCH_PARAMS, TASK_FIELDS
from asana_dlt.workspace_changes import ModifiedAtPaginator
from asana_dlt.helpers import create_client
from asana_dlt.rate_limit import RateLimiter
from asana_sim import AsanaSim, SimConfig
import tests.source.test_mirror as mirror
from tests.conftest import CORE

LINES = {"workspace": "change capture by workspace events and search", "project-events": "change capture by per-project events"}


def _run(pipeline: dlt.Pipeline, sim: AsanaSim, deletes: str = "hard", table_format: Any = None) -> None:
    source = asana_source(access_token=sim.token, base_url=sim.base_url, requests_per_minute=0, deletes=deletes)
    pipeline.run(source.with_resources(*CORE))


def _mode_lines(log: pytest.LogCaptureFixture) -> List[str]:
    return [r.getMessage() for r in log.records if "change capture by" in r.getMessage()]


@pytest.mark.parametrize("mode", ["workspace", "project-events"])
def test_the_mirror_holds_and_an_idle_run_costs_what_the_mode_promises(
    tmp_path: Path, dlt_log: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    config = mirror.tiny(True)
    config.search, config.workspace_events = True, mode == "workspace"
    monkeypatch.setattr(mirror, "run", _run)
    with AsanaSim(token=mirror.TOKEN, config=config) as sim:
        pipeline = mirror.new_pipeline(tmp_path)
        workspaces = len(sim.store.all("workspace"))
        orgs = sum(1 for w in sim.store.all("workspace") if w["is_organization"])
        for name in mirror.rounds(pipeline, sim, "hard"):  # asserts the mirror after every round
            lines = _mode_lines(dlt_log)
            assert len(lines) == workspaces and all(LINES[mode] in line for line in lines), lines
            paths = [r.path for r in sim.requests() if r.method == "GET"]
            if name == "subtasks" and mode == "workspace":  # no request per project at all
                assert not any(p == "/events" or p == "/tasks" or p.endswith("/sections") for p in paths), sorted(paths)
            if name == "idle":
                # Per workspace: projects, tags, users, one search, one workspace events request
                # (answered 402 in per-project events mode); teams of the organization; and in
                # per-project events mode one events request per project, no listing.
                projects = len(sim.store.all("project"))
                per_project = {"workspace": 0, "project-events": 1}[mode]
                assert len(paths) == 1 + 5 * workspaces + orgs + per_project * projects, sorted(paths)
                assert paths.count("/events") == per_project * projects
            dlt_log.clear()
            sim.reset_requests()
    assert name == "idle"


def test_search_pages_by_moving_modified_at_after() -> None:
    """More than 100 changed tasks: search has no offsets; the paginator moves `modified_at.after`
    to the last task's, a millisecond earlier, and every changed task arrives once."""
    with AsanaSim(token=mirror.TOKEN, config=SimConfig(seed=3, tasks=400, projects=2, search=True)) as sim:
        org = sim.store.all("workspace")[0]
        in_org = {t["gid"] for t in sim.store.all("task") if t["workspace"] is org}
        client = create_client(sim.token, sim.base_url, RateLimiter(requests_per_minute=0, max_concurrency=4), None)
        paginator = ModifiedAtPaginator("2000-01-01T00:00:00.000Z")
        params = {SEARCH_PARAMS[1]: "modified_at", SEARCH_PARAMS[2]: "true", "opt_fields": ",".join(TASK_FIELDS)}
        found: List[Any] = []
        for page in client.paginate(f"/workspaces/{org['gid']}/tasks/search", params=params, paginator=paginator):
            found.extend(page)
        assert {t["gid"] for t in found} == in_org and len(in_org) > 200
        searches = [r for r in sim.requests() if r.path.endswith("/search")]
        assert len(searches) >= 3 and all("limit" not in r.params and "offset" not in r.params for r in searches)


def test_workspace_events_are_402_unless_the_plan_has_them() -> None:
    with AsanaSim(token=mirror.TOKEN, config=SimConfig(seed=3, tasks=10, projects=2)) as sim:
        org = sim.store.all("workspace")[0]["gid"]
        api = requests.Session()
        api.headers["Authorization"] = f"Bearer {sim.token}"
        assert api.get(f"{sim.base_url}/workspaces/{org}/events").status_code == 402
        sim.config.workspace_events = True
        first = api.get(f"{sim.base_url}/workspaces/{org}/events")
        assert first.status_code == 412 and first.json()["sync"]
        task = next(t for t in sim.store.all("task") if t["workspace"]["gid"] == org)
        api.put(f"{sim.base_url}/tasks/{task['gid']}", json={"data": {"name": "x"}})
        body = api.get(f"{sim.base_url}/workspaces/{org}/events", params={"sync": first.json()["sync"]}).json()
        named = {e["resource"]["gid"] for e in body["data"]}
        assert task["gid"] in named and body["has_more"] is False


def test_search_has_its_own_limit_answered_429_with_retry_after() -> None:
    config = SimConfig(seed=3, tasks=10, projects=2, search=True, search_quota_per_minute=2)
    with AsanaSim(token=mirror.TOKEN, config=config) as sim:
        org = sim.store.all("workspace")[0]["gid"]
        api = requests.Session()
        api.headers["Authorization"] = f"Bearer {sim.token}"
        answers = [api.get(f"{sim.base_url}/workspaces/{org}/tasks/search") for _ in range(3)]
        assert [a.status_code for a in answers] == [200, 200, 429]
        assert int(answers[2].headers["Retry-After"]) >= 1
        assert api.get(f"{sim.base_url}/workspaces/{org}/projects").status_code == 200  # the general quota is apart
