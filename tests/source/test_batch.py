"""Asana's batch API: the simulator's `POST /batch`, the source's batched story listings, and
their error paths (a `responses` fake for what is sent, the simulator for the quota)."""

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any, Dict, Iterator, List

import dlt
import pytest
import requests
import responses

from asana_dlt import AsanaSourceError, asana_source
from asana_dlt.batch import Listing, each_listing
from asana_dlt.errors import AsanaAuthError, AsanaMalformedResponse
from asana_dlt.helpers import create_client
from asana_dlt.rate_limit import RateLimiter
from asana_dlt.settings import PAGE_SIZE, STORY_FIELDS
from asana_sim import AsanaSim, SimConfig
from tests.conftest import CORE, cli_subprocess_env, counts
from tests.source.fake_asana import BASE_URL, TOKEN, FakeAsana
from tests.source.test_e2e import new_pipeline, snapshot

REPO = Path(__file__).resolve().parents[2]
# ---- the simulator's endpoint ----------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def sim() -> Iterator[AsanaSim]:
    with AsanaSim(token="batch-token", config=SimConfig(tasks=30, projects=2), clock=Clock()) as running:
        yield running


def post(sim: AsanaSim, actions: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {sim.token}"}
    return requests.post(f"{sim.base_url}/batch", json={"data": {"actions": actions}}, headers=headers, timeout=10)


def stories_action(gid: str, **options: Any) -> Dict[str, Any]:
    return {"method": "get", "relative_path": f"/tasks/{gid}/stories", "options": options}


def test_sim_answers_each_action_like_its_direct_request_and_logs_one_record_per_action(sim: AsanaSim) -> None:
    sim.reset_requests()
    gids = list(sim.store.records["task"])[:3]
    response = post(sim, [stories_action(g, limit=2, fields=["text"]) for g in gids] + [stories_action("404404")])
    assert response.status_code == 200
    results = response.json()["data"]
    assert [r["status_code"] for r in results] == [200, 200, 200, 404]
    direct = requests.get(
        f"{sim.base_url}/tasks/{gids[0]}/stories",
        params={"limit": 2, "opt_fields": "text"},
        headers={"Authorization": f"Bearer {sim.token}"},
        timeout=10,
    ).json()
    assert results[0]["body"]["data"] == direct["data"]
    assert results[0]["body"]["next_page"]["offset"]  # a batch's result pages on like any listing
    logged = sim.requests()
    assert [(r.path, r.status) for r in logged[:4]] == [(f"/tasks/{g}/stories", 200) for g in gids] + [
        ("/tasks/404404/stories", 404)
    ]
    assert {r.batch for r in logged[:4]} == {logged[0].batch} and logged[0].batch > 0
    assert logged[4].batch == 0  # the direct request
    assert sim.http_requests() == 2


def test_sim_refuses_empty_oversized_nested_and_unbatchable(sim: AsanaSim) -> None:
    assert post(sim, []).status_code == 400
    gid = next(iter(sim.store.records["task"]))
    assert post(sim, [stories_action(gid)] * 11).status_code == 400
    mixed = post(sim, [{"method": "post", "relative_path": "/batch"}, {"method": "get", "relative_path": "/organization_exports/1"}, stories_action(gid)])
    assert [r["status_code"] for r in mixed.json()["data"]] == [400, 400, 200]
    unauthorized = requests.post(f"{sim.base_url}/batch", json={"data": {"actions": [stories_action(gid)]}}, timeout=10)
    assert unauthorized.status_code == 401


def test_sim_counts_every_action_against_quota_and_concurrency(sim: AsanaSim) -> None:
    gid = next(iter(sim.store.records["task"]))
    sim.config.quota_per_minute = 15
    try:
        assert post(sim, [stories_action(gid)] * 10).status_code == 200
        sim.reset_requests()
        refused = post(sim, [stories_action(gid)] * 6)  # 16 of 15: the whole batch, not the 6th action
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
        assert [r.status for r in sim.requests()] == [429] * 6  # each action counted as refused
        sim.clock.now += 61  # type: ignore[attr-defined]
    finally:
        sim.config.quota_per_minute = None
    sim.config.max_concurrent = 5
    try:
        assert post(sim, [stories_action(gid)] * 6).status_code == 429  # six GETs in flight at once
        assert post(sim, [stories_action(gid)] * 5).status_code == 200
    finally:
        sim.config.max_concurrent = None


# ---- the source's requests (responses) -------------------------------------------------------


@pytest.fixture
def fake() -> Iterator[FakeAsana]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield FakeAsana(rsps)


def load(pipeline: dlt.Pipeline, **kwargs: Any) -> Any:
    src = asana_source(access_token=TOKEN, base_url=BASE_URL, requests_per_minute=0, **kwargs)
    return pipeline.run(src.with_resources(*CORE))


def test_stories_of_a_task_page_go_ten_listings_to_a_batch(fake: FakeAsana, pipeline: dlt.Pipeline) -> None:
    project = fake.add_project("Launch")
    tasks = [fake.add_task([project], minute=i, stories=2) for i in range(12)]
    load(pipeline)

    assert [len(b) for b in fake.batches] == [10, 2]
    for action in fake.batches[0]:
        assert action["method"] == "get"
        assert action["options"] == {"limit": PAGE_SIZE, "fields": list(STORY_FIELDS)}
    asked = {a["relative_path"] for b in fake.batches for a in b}
    assert asked == {f"/tasks/{t}/stories" for t in tasks}
    assert not [c for c in fake.calls if c.path.endswith("/stories") and not c.batch]  # none direct
    assert counts(pipeline)["stories"] == 24


def test_batch_size_one_reads_without_the_batch_api(fake: FakeAsana, pipeline: dlt.Pipeline) -> None:
    project = fake.add_project("Launch")
    for i in range(3):
        fake.add_task([project], minute=i)
    load(pipeline, batch_size=1)
    assert fake.batches == []
    assert len([c for c in fake.calls if c.path.endswith("/stories")]) == 3


@pytest.mark.parametrize("value", [0, 11, "ten"])
def test_a_bad_batch_size_stops_before_any_request(fake: FakeAsana, value: Any) -> None:
    with pytest.raises(AsanaSourceError, match="batch_size.*from 1 to 10.*config.toml"):
        asana_source(access_token=TOKEN, base_url=BASE_URL, batch_size=value)
    assert fake.calls == []


def test_the_cli_names_a_bad_batch_size_in_one_line(tmp_path: Path) -> None:
    env = dict(cli_subprocess_env(tmp_path, "http://127.0.0.1:9/api/1.0", "t"), SOURCES__ASANA_DLT__BATCH_SIZE="11")
    done = subprocess.run(
        [sys.executable, str(REPO / "asana_dlt_pipeline.py")], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "error: batch_size = 11 is not a whole number from 1 to 10 (Asana's batch API takes at most 10 actions);"
        " fix batch_size under [sources.asana_dlt] in .dlt/config.toml."
    ]


@pytest.fixture
def client() -> Any:
    limiter = RateLimiter(requests_per_minute=0, max_concurrency=10, max_cost=10)
    return create_client(TOKEN, BASE_URL, limiter, batch_size=10)


def listings(*gids: str) -> List[Listing]:
    return [Listing(f"/tasks/{g}/stories", f"stories of task {g}") for g in gids]


def test_action_errors_are_handled_as_their_direct_requests(fake: FakeAsana, client: Any, dlt_log: Any) -> None:
    project = fake.add_project("P")
    kept, gone, flaky, long = (fake.add_task([project], minute=i, stories=s) for i, s in enumerate((1, 1, 1, 150)))
    fake.fail(rf"/tasks/{gone}/stories", 404)
    fake.fail(rf"/tasks/{flaky}/stories", 503)  # an action's 5xx: repeated as a direct (retrying) request
    got = dict((listing.path, records) for listing, records in each_listing(client, listings(kept, gone, flaky, long), STORY_FIELDS))

    assert [len(got[f"/tasks/{g}/stories"]) for g in (kept, gone, flaky, long)] == [1, 0, 1, 150]
    assert any("Skipping stories of task" in m and "no longer exists" in m for m in dlt_log.messages)
    direct = [(c.path, c.params.get("offset")) for c in fake.calls if not c.batch]
    assert direct == [(f"/tasks/{flaky}/stories", None), (f"/tasks/{long}/stories", "o100")]  # next_page goes on


def test_a_rejected_token_in_an_action_is_the_one_line_auth_error(fake: FakeAsana, client: Any) -> None:
    task = fake.add_task([fake.add_project("P")], minute=1)
    fake.fail(rf"/tasks/{task}/stories", 401)
    with pytest.raises(AsanaAuthError, match="rejected the access token.*secrets.toml"):
        list(each_listing(client, listings(task, task), STORY_FIELDS))


def test_malformed_batch_answers_are_one_clear_line(fake: FakeAsana, client: Any) -> None:
    task = fake.add_task([fake.add_project("P")], minute=1)
    fake.fail(rf"/tasks/{task}/stories", 200, body=json.dumps({"oops": []}))
    with pytest.raises(AsanaMalformedResponse, match="in a batch without a 'data' list.*batch_size = 1"):
        list(each_listing(client, listings(task, task), STORY_FIELDS))


def test_a_429_of_the_whole_batch_is_retried_by_dlts_session(fake: FakeAsana, client: Any) -> None:
    project = fake.add_project("P")
    tasks = [fake.add_task([project], minute=i) for i in range(3)]
    fake.fail("/batch", 429, times=2, headers={"Retry-After": "0"})
    got = [records for _, records in each_listing(client, listings(*tasks), STORY_FIELDS)]
    assert [len(r) for r in got] == [1, 1, 1]
    assert len(fake.batches) == 3  # two refused whole, the third answered
    assert not [c for c in fake.calls if not c.batch]  # nothing fell back to direct requests


def test_a_whole_batch_refused_otherwise_is_one_line(fake: FakeAsana, client: Any) -> None:
    fake.fail("/batch", 400)
    with pytest.raises(AsanaSourceError, match="refused a batch request \\(400.*batch_size = 1"):
        list(each_listing(client, listings("1", "2"), STORY_FIELDS))


def test_a_whole_batch_that_is_not_one_result_per_action_is_refused() -> None:
    with responses.RequestsMock() as rsps:
        rsps.add(responses.POST, BASE_URL + "/batch", json={"data": [{"status_code": 200}]})
        limiter = RateLimiter(requests_per_minute=0, max_concurrency=10, max_cost=10)
        with pytest.raises(AsanaMalformedResponse, match="one result per action.*batch_size = 1"):
            list(each_listing(create_client(TOKEN, BASE_URL, limiter, batch_size=10), listings("1", "2"), STORY_FIELDS))


# ---- end to end against the simulator --------------------------------------------------------


@pytest.fixture(scope="module")
def loads(tmp_path_factory: pytest.TempPathFactory) -> Dict[int, Dict[str, Any]]:
    """The same account loaded with batch_size 10 and 1."""
    out: Dict[int, Dict[str, Any]] = {}
    tmp = tmp_path_factory.mktemp("batch")
    for size in (10, 1):
        config = SimConfig(seed=3, tasks=150, projects=12, heavy_story_share=0.02)
        with AsanaSim(token="t", config=config) as sim:
            pipeline = new_pipeline(tmp, f"batch{size}")
            pipeline.run(asana_source(access_token=sim.token, base_url=sim.base_url, requests_per_minute=0, batch_size=size))
            out[size] = {"tables": snapshot(pipeline), "records": sim.requests(), "http": sim.http_requests()}
            out[size]["subtasks"] = {child for children in sim.store.subtasks.values() for child in children}
    return out


def test_batched_load_equals_unbatched_table_by_table(loads: Dict[int, Dict[str, Any]]) -> None:
    assert loads[10]["tables"].keys() == loads[1]["tables"].keys()
    for table, rows in loads[1]["tables"].items():
        assert loads[10]["tables"][table] == rows, table


def test_batched_load_makes_about_ten_times_fewer_story_http_requests(loads: Dict[int, Dict[str, Any]]) -> None:
    def story_http(records: List[Any]) -> int:
        stories = [r for r in records if r.path.endswith("/stories") and r.status == 200]
        return len({r.batch for r in stories if r.batch}) + sum(1 for r in stories if not r.batch)

    unbatched, batched = story_http(loads[1]["records"]), story_http(loads[10]["records"])
    assert unbatched >= 150
    # Ten to a batch for a page of 100 tasks; the few subtasks of one tree make smaller ones.
    sizes = Counter(r.batch for r in loads[10]["records"] if r.batch)
    assert max(sizes.values()) == 10 and sum(1 for n in sizes.values() if n == 10) >= 10
    assert batched * 5 <= unbatched, (batched, unbatched)
    assert loads[10]["http"] * 2 < loads[1]["http"]
    assert len(loads[10]["records"]) == len(loads[1]["records"])  # the quota's cost is the same


def test_a_full_load_reads_ten_projects_sections_per_batch(loads: Dict[int, Dict[str, Any]]) -> None:
    sections = [r for r in loads[10]["records"] if r.path.endswith("/sections")]
    assert len(sections) == 12 and all(r.batch for r in sections)
    assert sorted(Counter(r.batch for r in sections).values()) == [2, 10]
    assert len([r for r in loads[1]["records"] if r.path.endswith("/sections")]) == 12


def test_subtask_trees_are_listed_a_level_at_a_time_in_batches(loads: Dict[int, Dict[str, Any]]) -> None:
    def subtask_listings(records: List[Any]) -> List[Any]:
        return [r for r in records if r.path.endswith("/subtasks")]

    batched, direct = subtask_listings(loads[10]["records"]), subtask_listings(loads[1]["records"])
    # The same listings (the quota pays the same), but they rode in batch requests, subtasks of
    # subtasks included (a level's listings go together); the trees loaded equal (test above).
    assert sorted(r.path for r in batched) == sorted(r.path for r in direct) and len(direct) >= 10
    assert not any(r.batch for r in direct)
    # Groups are a project's trees (about a task in ten has subtasks here), so batches are small.
    sizes = Counter(r.batch for r in batched if r.batch)
    http = len(sizes) + sum(1 for r in batched if not r.batch)
    assert http < len(batched) and max(sizes.values()) >= 3, sizes
    nested = [r for r in batched if r.path.split("/")[2] in loads[10]["subtasks"]]
    assert any(r.batch for r in nested), "no subtask of a subtask was listed in a batch"
