"""Full loads by Asana's resource export: the simulator's side, and the source against it.

Every wait is on a fake clock shared by the simulator and `asana_dlt.export.job` (its `_sleep`
advances it), so a five-minute job takes no time and nothing here sleeps.
"""

import gzip
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional

import dlt
import pytest
import requests

from asana_dlt import AsanaSourceError, asana_source
from asana_dlt import export as export_module
from asana_dlt import plan as plan_module
from asana_dlt.export import job as export_job
from asana_dlt.settings import EXPORT_MISSING_COLUMNS
from asana_sim import AsanaSim, SimConfig
from asana_sim.clock import fmt_ms
from bench.bounds import full_load_bound, requests_by_kind
from tests.conftest import CORE, rows
from tests.source.test_e2e import REPO, new_pipeline, snapshot

TOKEN = "sim-token-for-export-tests"
START = 1_790_000_000.0  # 2026-09-21: after the generated data, as a real clock would be


class FakeClock:
    """The simulator's clock and the source's waiting clock; `sleep` moves it and calls hooks."""

    def __init__(self) -> None:
        self.now = START
        self.sleeps: List[float] = []
        self.on_sleep: List[Callable[[], None]] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        for hook in self.on_sleep:
            hook()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(export_job, "_sleep", fake.sleep)
    monkeypatch.setattr(export_job, "_monotonic", fake)
    return fake


def make_sim(clock: Callable[[], float], **config: Any) -> AsanaSim:
    base = dict(seed=11, tasks=36, projects=2, exports=True, export_seconds=300.0)
    return AsanaSim(token=TOKEN, config=SimConfig(**{**base, **config}), clock=clock).start()


def once_its_job_runs(sim: AsanaSim, workspace_gid: str, action: Callable[[], None]) -> Callable[[], None]:
    """A sleep hook doing `action` once, after `workspace_gid`'s job (and its snapshot) exists.

    Both workspaces' jobs wait on the same clock, in either order: a hook that fired on the first
    sleep of any job could change the data before this workspace's snapshot was taken.
    """
    done: List[bool] = []

    def hook() -> None:
        if not done and any(job.workspace["gid"] == workspace_gid for job in list(sim.exports.jobs.values())):
            done.append(True)
            action()

    return hook


def run(pipeline: dlt.Pipeline, sim: AsanaSim, attachments: bool = False, core: bool = False, **kwargs: Any) -> Any:
    """One run; `core` leaves out the catalog's tables, which an export does not touch (faster)."""
    kwargs.setdefault("requests_per_minute", 0)  # the simulator sets no quota here
    source = asana_source(access_token=TOKEN, base_url=sim.base_url, **kwargs)
    if core:
        source = source.with_resources(*CORE, *(("attachments",) if attachments else ()))
    else:
        source.resources["attachments"].selected = attachments
    return pipeline.run(source)


def api(sim: AsanaSim) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {TOKEN}"
    return session


def org_gid(sim: AsanaSim) -> str:
    return next(w["gid"] for w in sim.store.all("workspace") if w["is_organization"])


def without_missing(snap: Dict[str, Any], pipeline: dlt.Pipeline) -> Dict[str, Any]:
    """The snapshot minus the columns an export cannot give (settings.EXPORT_MISSING_COLUMNS)."""
    out = dict(snap)
    schema = pipeline.default_schema
    for table, missing in EXPORT_MISSING_COLUMNS.items():
        if table not in out:
            continue
        cols = sorted(c for c in schema.get_table_columns(table) if not c.startswith("_dlt"))
        keep = [i for i, c in enumerate(cols) if c not in missing]
        out[table] = sorted((tuple(r[i] for i in keep) for r in out[table]), key=repr)
    return out


# --- the simulator ------------------------------------------------------------------------------


def test_sim_export_job_link_and_file(clock: FakeClock) -> None:
    sim = make_sim(clock, tasks=30, projects=2)
    try:
        s, ws = api(sim), org_gid(sim)
        request = {"workspace": ws, "export_request_parameters": [
            {"resource_type": "task", "fields": ["name", "modified_at", "stories.text", "attachments.name"]},
            {"resource_type": "team"}]}
        created = s.post(f"{sim.base_url}/exports/resource", json={"data": request})
        assert created.status_code == 201 and created.json()["data"]["status"] == "in_progress"
        job = created.json()["data"]["gid"]
        again = s.post(f"{sim.base_url}/exports/resource", json={"data": request})
        assert again.status_code == 403  # one running export per workspace
        clock.now += 299
        assert s.get(f"{sim.base_url}/jobs/{job}").json()["data"]["status"] == "in_progress"
        clock.now += 1
        done = s.get(f"{sim.base_url}/jobs/{job}").json()["data"]
        assert done["status"] == "succeeded"
        url = done["new_resource_export"]["download_url"]
        assert s.get(url).status_code == 400  # S3: a token beside the signature is refused
        lines = [json.loads(x) for x in gzip.decompress(requests.get(url).content).splitlines()]
        tasks = [x for x in lines if x["resource_type"] == "task"]
        truth = [t for t in sim.store.all("task") if t["workspace"]["gid"] == ws]
        assert {t["gid"] for t in tasks} == {t["gid"] for t in truth}  # subtasks as lines of their own
        assert set(tasks[0]) == {"gid", "resource_type", "name", "modified_at", "stories", "attachments"}
        assert all(set(st) == {"gid", "resource_type", "text"} for t in tasks for st in t["stories"])
        assert sum(len(t["stories"]) for t in tasks) == sum(len(sim.store.stories(t)) for t in truth)
        teams = [x for x in lines if x["resource_type"] == "team"]
        assert len(teams) == len(sim.store.all("team")) and all("members" in t for t in teams)
        clock.now += 301
        assert requests.get(url).status_code == 403  # the link expired
    finally:
        sim.stop()


def test_sim_export_plan_filters_fields_and_nesting(clock: FakeClock) -> None:
    sim = make_sim(clock, exports=False, export_seconds=0, tasks=30, projects=2)
    try:
        s, ws = api(sim), org_gid(sim)
        post = lambda entry: s.post(f"{sim.base_url}/exports/resource",  # noqa: E731
                                    json={"data": {"workspace": ws, "export_request_parameters": [entry]}})
        assert post({"resource_type": "task"}).status_code == 402
        sim.config.exports = True
        assert "nope" in post({"resource_type": "task", "fields": ["nope"]}).json()["errors"][0]["message"]
        truth = sorted(t["modified_at"] for t in sim.store.all("task") if t["workspace"]["gid"] == ws)
        middle = truth[len(truth) // 2]
        sim.config.export_nested_subtasks = True
        job = post({"resource_type": "task", "fields": ["modified_at"],
                    "filters": {"modified_at.after": middle}}).json()["data"]
        url = job["new_resource_export"]["download_url"]
        lines = [json.loads(x) for x in gzip.decompress(requests.get(url).content).splitlines()]

        def flat(items: List[Dict[str, Any]]) -> Iterator[Dict[str, Any]]:
            for item in items:
                yield item
                yield from flat(item.get("subtasks", []))

        got = sorted(t["modified_at"] for t in flat(lines) if "modified_at" in t)
        assert got == [m for m in truth if m > middle]
        assert all(t.get("parent") is None for t in lines)  # top-level lines only, subtasks nested
    finally:
        sim.stop()


# --- the source ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def paged(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Any]:
    """A paged full load of the workspace every export test loads, with attachments."""
    tmp = tmp_path_factory.mktemp("paged")
    sim = make_sim(lambda: START)
    try:
        pipeline = new_pipeline(tmp, "paged")
        run(pipeline, sim, attachments=True, full_load="api")
        return {"snapshot": without_missing(snapshot(pipeline), pipeline), "requests": len(sim.requests())}
    finally:
        sim.stop()


@pytest.mark.parametrize("nested", [False, True], ids=["subtask-lines", "nested-subtasks"])
def test_export_full_load_equals_the_paged_full_load(
    tmp_path: Path, clock: FakeClock, paged: Dict[str, Any], nested: bool, dlt_log: Any
) -> None:
    sim = make_sim(clock, export_nested_subtasks=nested)
    try:
        pipeline = new_pipeline(tmp_path, "by_export")
        run(pipeline, sim, attachments=True, full_load="auto")
        assert without_missing(snapshot(pipeline), pipeline) == paged["snapshot"]
        paths = Counter(r.path for r in sim.requests())
        assert paths["/exports/resource"] == 2  # one job per workspace
        assert not [p for p in paths if p.startswith("/tasks")]  # no listing, no stories per task
        assert not [p for p in paths if p == "/attachments"]
        assert sum(paths.values()) < paged["requests"] / 2
        # Besides the export's own requests, exactly the listings a complete load needs: one per
        # workspace (and page) for the small tables, one sections and one events request per project.
        made, floor = requests_by_kind(paths.elements()), full_load_bound(sim.store)
        for kind in ("workspaces", "projects", "tags", "teams", "users", "sections", "events"):
            assert made[kind] == floor[kind], kind
        assert made["sections"] == made["events"] == len(sim.store.records["project"])
        # The token never reached the file host: every download carried no Authorization.
        assert sim.exports.downloads and all(d["status"] == 200 and not d["authorization"]
                                             for d in sim.exports.downloads)
        # Polling backed off from seconds to a minute (two workspaces' waits interleave).
        assert set(clock.sleeps) <= {2.0, 4.0, 8.0, 16.0, 32.0, 60.0} and clock.sleeps[0] == 2.0
        assert 60.0 in clock.sleeps and len(clock.sleeps) <= 2 * 9
        assert re.search(r"Asana export of workspace '.+' \(\d+\): in_progress, \dm\d\ds elapsed", dlt_log.text)
        # The next run starts each project at the export's created_at.
        cursors = pipeline.state["sources"]["asana"]["resources"]["tasks"]["projects"]
        assert {c["modified_since"] for c in cursors.values()} == {
            fmt_ms(int(j.created_s * 1000)) for j in sim.exports.jobs.values()}
    finally:
        sim.stop()


def _fell_back(pipeline: dlt.Pipeline, sim: AsanaSim, log: Any, why: str, paged: Dict[str, Any]) -> None:
    lines = [r.getMessage() for r in log.records if "through the paged API" in r.getMessage()]
    assert lines and all(why in line for line in lines), lines
    assert len(lines) == 2  # one line per workspace, not per project
    got = without_missing(snapshot(pipeline), pipeline)
    assert {"tasks", "stories", "attachments"} <= set(got)
    assert got == {table: data for table, data in paged["snapshot"].items() if table in got}
    assert any(r.path.endswith("/stories") for r in sim.requests())


def test_falls_back_without_the_plan(tmp_path: Path, clock: FakeClock, paged: Dict[str, Any], dlt_log: Any) -> None:
    sim = make_sim(clock, exports=False)
    try:
        pipeline = new_pipeline(tmp_path, "no_plan")
        run(pipeline, sim, attachments=True, core=True)
        _fell_back(pipeline, sim, dlt_log, "plan has no resource exports (Enterprise+ or the Compliance add-on) (402:", paged)
    finally:
        sim.stop()


def test_falls_back_while_another_export_runs(
    tmp_path: Path, clock: FakeClock, paged: Dict[str, Any], dlt_log: Any
) -> None:
    sim = make_sim(clock)
    try:
        s = api(sim)
        for ws in sim.store.all("workspace"):  # someone else's exports, unknown to this pipeline
            body = {"workspace": ws["gid"], "export_request_parameters": [{"resource_type": "team"}]}
            assert s.post(f"{sim.base_url}/exports/resource", json={"data": body}).status_code == 201
        pipeline = new_pipeline(tmp_path, "busy")
        run(pipeline, sim, attachments=True, core=True)
        _fell_back(pipeline, sim, dlt_log, "another export of this workspace is running (Asana allows one at a time) (403:", paged)
    finally:
        sim.stop()


def test_falls_back_on_a_failed_job(tmp_path: Path, clock: FakeClock, paged: Dict[str, Any], dlt_log: Any) -> None:
    sim = make_sim(clock, export_fail=True)
    try:
        pipeline = new_pipeline(tmp_path, "failed")
        run(pipeline, sim, attachments=True, core=True)
        _fell_back(pipeline, sim, dlt_log, "failed", paged)
    finally:
        sim.stop()


def test_falls_back_on_the_time_limit(tmp_path: Path, clock: FakeClock, paged: Dict[str, Any], dlt_log: Any) -> None:
    sim = make_sim(clock, export_seconds=3 * 3600)
    try:
        pipeline = new_pipeline(tmp_path, "slow")
        run(pipeline, sim, attachments=True, core=True, export_timeout_minutes=10)
        _fell_back(pipeline, sim, dlt_log, "did not finish within 10 minutes", paged)
        assert sum(clock.sleeps) <= 2 * 10 * 60  # two workspaces, each waited at most its limit
    finally:
        sim.stop()


def test_export_mode_stops_with_one_line(tmp_path: Path, clock: FakeClock) -> None:
    sim = make_sim(clock, exports=False)
    try:
        pipeline = new_pipeline(tmp_path, "forced")
        with pytest.raises(Exception) as info:
            run(pipeline, sim, full_load="export")
        assert "full_load = \"auto\"" in str(info.value) and "402" in str(info.value)
        with pytest.raises(Exception, match="full_load must be one of auto, export, api"):
            run(new_pipeline(tmp_path, "bad"), sim, full_load="sometimes")
    finally:
        sim.stop()


def test_changes_during_the_job_arrive_with_the_next_run(tmp_path: Path, clock: FakeClock) -> None:
    sim = make_sim(clock)
    try:
        s = api(sim)
        task = next(t for t in sim.store.all("task") if t["parent"] is None and t["workspace"]["is_organization"])
        changed: List[str] = []

        def change() -> None:  # while the job runs, after its snapshot was taken
            changed.append(task["gid"])
            assert s.put(f"{sim.base_url}/tasks/{task['gid']}", json={"data": {"name": "Renamed mid-export"}}).ok
            assert s.post(f"{sim.base_url}/tasks/{task['gid']}/stories", json={"data": {"text": "mid"}}).ok

        clock.on_sleep.append(once_its_job_runs(sim, task["workspace"]["gid"], change))
        pipeline = new_pipeline(tmp_path, "continuity")
        run(pipeline, sim, core=True)
        assert changed
        name = rows(pipeline, f"SELECT name FROM asana_data.tasks WHERE gid = '{task['gid']}'")[0][0]
        assert name != "Renamed mid-export"  # the export's snapshot predates the change
        sim.reset_requests()
        run(pipeline, sim, core=True)
        assert rows(pipeline, f"SELECT name FROM asana_data.tasks WHERE gid = '{task['gid']}'") == [("Renamed mid-export",)]
        texts = rows(pipeline, f"SELECT text FROM asana_data.stories WHERE target__gid = '{task['gid']}'")
        assert ("mid",) in texts and len(texts) == len(sim.store.stories(task))
        # Nothing loaded twice: only the changed task's stories were read again.
        assert [r.path for r in sim.requests() if r.path.endswith("/stories")] == [f"/tasks/{task['gid']}/stories"]
        assert rows(pipeline, "SELECT count(*) FROM asana_data.tasks")[0][0] == sim.expected_counts()["tasks"]
    finally:
        sim.stop()


def test_kill_9_while_waiting_then_one_rerun_completes(tmp_path: Path) -> None:
    # Real processes and the real clock: the job runs "forever" until the run waiting for it is
    # killed, then finishes; the rerun must pick up that job, not meet the 403 of a new request.
    sim = AsanaSim(token=TOKEN, config=SimConfig(seed=11, tasks=36, projects=2, exports=True,
                                                 export_seconds=10**9)).start()
    try:
        env = dict(os.environ, SOURCES__ASANA_DLT__ACCESS_TOKEN=TOKEN, SOURCES__ASANA_DLT__BASE_URL=sim.base_url,
                   DLT_DATA_DIR=str(tmp_path / "dlt"), PYTHONPATH=str(REPO),
                   SOURCES__ASANA_DLT__REQUESTS_PER_MINUTE="0")
        cmd = [sys.executable, str(REPO / "asana_dlt_pipeline.py"), "--progress", "none", "--full-load", "export"]
        jobs = export_module.JobFile(str(tmp_path / "dlt" / "pipelines" / "asana" / export_module.JOBS_FILE))
        victim = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while len(jobs._read()) < 2 and victim.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)  # waiting for a condition, not for time to pass
        assert victim.poll() is None, "the run ended before it could be killed"
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        sim.config.export_seconds = 0  # the jobs finish while nobody waits
        sim.reset_requests()
        finished = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert finished.returncode == 0, finished.stderr[-2000:]
        paths = Counter(r.path for r in sim.requests())
        assert paths["/exports/resource"] == 0 and paths["/_export"] == 2  # resumed, not refused
        assert len(sim.exports.jobs) == 2 and not jobs._read()  # done jobs are forgotten
        pipeline = dlt.attach("asana", pipelines_dir=str(tmp_path / "dlt" / "pipelines"))
        assert rows(pipeline, "SELECT count(*) FROM asana_data.tasks")[0][0] == sim.expected_counts()["tasks"]
        assert rows(pipeline, "SELECT count(*) FROM asana_data.stories")[0][0] == sim.expected_counts()["stories"]
    finally:
        sim.stop()


# --- request building, offline (responses) -------------------------------------------------------


def test_the_job_request_and_the_download_as_asana_and_s3_see_them(clock: FakeClock) -> None:
    import responses

    from asana_dlt.helpers import create_client
    from asana_dlt.rate_limit import RateLimiter

    base, link = "https://app.asana.com/api/1.0", "https://s3.example/export.jsonl.gz?X-Amz-Signature=abc"
    line = {"gid": "7", "resource_type": "task", "name": "T", "modified_at": "2024-05-01T00:00:00.000Z",
            "stories": [{"gid": "71", "resource_type": "story", "text": "hi"}], "attachments": []}
    export = {"gid": "9", "resource_type": "export_request", "created_at": "2026-01-01T00:00:00.000Z",
              "completed_at": None, "download_url": None}
    running = {"gid": "5", "resource_type": "job", "status": "in_progress", "new_resource_export": export}
    done = dict(running, status="succeeded", new_resource_export=dict(export, download_url=link))
    with responses.RequestsMock() as rsps:
        rsps.post(f"{base}/exports/resource", json={"data": running}, status=201)
        rsps.get(f"{base}/jobs/5", json={"data": done})
        rsps.get(link, body=gzip.compress(json.dumps(line).encode() + b"\n"), stream=True)
        client = create_client("secret-token", base, RateLimiter(requests_per_minute=0, max_concurrency=2))
        loads = export_module.FullLoads(client, "auto", 3600, modified_after="2024-01-01T00:00:00.000Z")
        outcome = loads.for_project({"gid": "1", "workspace": {"gid": "42", "name": "W"}}, full_load=True)
        assert outcome is not None and outcome.created_at == export["created_at"]
        pages = list(outcome.pages)
        post, poll, download = rsps.calls
    body = json.loads(post.request.body)["data"]
    assert body["workspace"] == "42"
    assert body["export_request_parameters"] == [{"resource_type": "task", "fields": export_module.export_fields(),
                                                  "filters": {"modified_at.after": "2024-01-01T00:00:00.000Z"}}]
    assert "stories.text" in body["export_request_parameters"][0]["fields"]
    assert "attachments.view_url" not in body["export_request_parameters"][0]["fields"]
    assert post.request.headers["Authorization"] == "Bearer secret-token"
    assert "opt_fields=" in poll.request.url and poll.request.headers["Authorization"] == "Bearer secret-token"
    assert "Authorization" not in download.request.headers  # the token never goes to the file host
    assert "secret-token" not in str(download.request.headers) + download.request.url
    assert pages == [[{"gid": "7", "resource_type": "task", "name": "T", "modified_at": line["modified_at"]}]]
    assert export_module.exported_children(pages[0], "stories") == line["stories"]
    assert clock.sleeps == [2.0]


def test_a_task_deleted_during_the_job_is_gone_after_the_next_run(tmp_path: Path, clock: FakeClock) -> None:
    sim = make_sim(clock)
    try:
        s = api(sim)
        task = next(t for t in sim.store.all("task") if t["parent"] is None and t["workspace"]["is_organization"])
        deleted: List[str] = []

        def delete() -> None:  # while the job runs: the snapshot still holds the task
            deleted.append(task["gid"])
            assert s.delete(f"{sim.base_url}/tasks/{task['gid']}").ok

        clock.on_sleep.append(once_its_job_runs(sim, task["workspace"]["gid"], delete))
        pipeline = new_pipeline(tmp_path, "deleted_mid_export")
        run(pipeline, sim, core=True)
        assert deleted and rows(pipeline, f"SELECT count(*) FROM asana_data.tasks WHERE gid = '{task['gid']}'") == [(1,)]
        run(pipeline, sim, core=True)  # the project's events (token taken before the job) name the delete
        assert rows(pipeline, f"SELECT count(*) FROM asana_data.tasks WHERE gid = '{task['gid']}'") == [(0,)]
        assert rows(pipeline, "SELECT count(*) FROM asana_data.tasks")[0][0] == sim.expected_counts()["tasks"]
        assert rows(pipeline, "SELECT count(*) FROM asana_data.stories")[0][0] == sim.expected_counts()["stories"]
    finally:
        sim.stop()


def test_every_sync_token_precedes_the_job_so_deletes_during_it_are_caught(
    tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One extract worker: each project's `tasks` call starts only after the one before has had
    # its job done, which is when a project's own events request would come too late.
    monkeypatch.setenv("EXTRACT__WORKERS", "1")
    sim = make_sim(clock, projects=3)
    try:
        s, org = api(sim), org_gid(sim)
        projects = [p for p in sim.store.all("project") if p["workspace"]["gid"] == org]
        victims = [next(t for t in sim.store.all("task") if t["parent"] is None and p in t["projects"]) for p in projects]
        deleted: List[str] = []

        def delete() -> None:  # while the job runs: its file (snapshot at the start) still holds them
            for task in victims:
                deleted.append(task["gid"])
                assert s.delete(f"{sim.base_url}/tasks/{task['gid']}").ok

        clock.on_sleep.append(once_its_job_runs(sim, org, delete))
        pipeline = new_pipeline(tmp_path, "tokens_first")
        run(pipeline, sim, core=True)
        log = sim.requests()
        posts = [i for i, r in enumerate(log) if r.path == "/exports/resource"]  # in the order jobs were made
        post = posts[[j.workspace["gid"] for j in sim.exports.jobs.values()].index(org)]
        gids = {p["gid"] for p in projects}
        events = [i for i, r in enumerate(log) if r.path == "/events" and r.params.get("resource") in gids]
        assert len(events) == len(projects) and max(events) < post  # every token before the job
        gone = ",".join(f"'{gid}'" for gid in deleted)
        assert len(projects) > 1 and rows(pipeline, f"SELECT count(*) FROM asana_data.tasks WHERE gid IN ({gone})") == [(len(victims),)]
        run(pipeline, sim, core=True)
        assert rows(pipeline, f"SELECT count(*) FROM asana_data.tasks WHERE gid IN ({gone})") == [(0,)]
        assert rows(pipeline, "SELECT count(*) FROM asana_data.tasks")[0][0] == sim.expected_counts()["tasks"]
    finally:
        sim.stop()


# --- workspace mode, resumed jobs' tokens, reconciliation by export ----------------------------------


def _org_tasks(sim: AsanaSim, n: int) -> List[Dict[str, Any]]:
    return [t for t in sim.store.all("task") if t["parent"] is None and t["workspace"]["is_organization"]][:n]


def _count(pipeline: dlt.Pipeline, gid: str) -> int:
    return rows(pipeline, f"SELECT count(*) FROM asana_data.tasks WHERE gid = '{gid}'")[0][0]


def _name(pipeline: dlt.Pipeline, gid: str) -> str:
    return rows(pipeline, f"SELECT name FROM asana_data.tasks WHERE gid = '{gid}'")[0][0]


def test_workspace_mode_takes_one_token_before_the_job(tmp_path: Path, clock: FakeClock) -> None:
    # Enterprise+: exports, workspace events and search. The export path reads no project's events:
    # the workspace's one token, taken before its job, is what the next run's change capture uses.
    sim = make_sim(clock, workspace_events=True, search=True)
    try:
        s = api(sim)
        doomed, renamed = _org_tasks(sim, 2)
        done: List[str] = []

        def change() -> None:  # while the job runs: its file (snapshot at the start) predates both
            done.append("x")
            assert s.delete(f"{sim.base_url}/tasks/{doomed['gid']}").ok
            assert s.put(f"{sim.base_url}/tasks/{renamed['gid']}", json={"data": {"name": "Renamed mid-job"}}).ok

        clock.on_sleep.append(once_its_job_runs(sim, doomed["workspace"]["gid"], change))
        pipeline = new_pipeline(tmp_path, "workspace_mode")
        run(pipeline, sim, core=True)
        log = sim.requests()
        assert done and not [r for r in log if r.path == "/events"]  # no project's own token
        # One workspace events request per workspace, before that workspace's job.
        posts = [i for i, r in enumerate(log) if r.path == "/exports/resource"]
        post_of = dict(zip((j.workspace["gid"] for j in sim.exports.jobs.values()), posts))
        for ws in sim.store.all("workspace"):
            events = [i for i, r in enumerate(log) if r.path == f"/workspaces/{ws['gid']}/events"]
            assert len(events) == 1 and events[0] < post_of[ws["gid"]], ws["gid"]
        assert _count(pipeline, doomed["gid"]) == 1 and _name(pipeline, renamed["gid"]) != "Renamed mid-job"
        sim.reset_requests()
        run(pipeline, sim, core=True)  # workspace mode: the workspace's events and search, no project's
        paths = [r.path for r in sim.requests()]
        assert not [p for p in paths if p in ("/events", "/tasks")], sorted(paths)
        assert _count(pipeline, doomed["gid"]) == 0 and _name(pipeline, renamed["gid"]) == "Renamed mid-job"
        assert rows(pipeline, "SELECT count(*) FROM asana_data.tasks")[0][0] == sim.expected_counts()["tasks"]
        assert rows(pipeline, "SELECT count(*) FROM asana_data.stories")[0][0] == sim.expected_counts()["stories"]
    finally:
        sim.stop()


class Killed(Exception):
    """Stands for kill -9 while waiting: the run dies, its state uncommitted, the job file kept."""


@pytest.mark.parametrize("mode", ["polling", "workspace"])
def test_a_resumed_job_keeps_the_tokens_from_before_it(tmp_path: Path, clock: FakeClock, mode: str) -> None:
    # A job started by a killed run; a task deleted and one renamed before the rerun resumes it. The
    # rerun loads the job's file (which still holds both as they were); its next run must see both
    # changes, which only the tokens (and search point) from before the job can show.
    plan = {"workspace_events": True, "search": True} if mode == "workspace" else {}
    sim = make_sim(clock, **plan)
    try:
        s, org = api(sim), org_gid(sim)
        doomed, renamed = _org_tasks(sim, 2)

        def die() -> None:
            raise Killed()

        clock.on_sleep.append(die)
        pipeline = new_pipeline(tmp_path, f"resumed_{mode}")
        with pytest.raises(Exception, match="Killed"):
            run(pipeline, sim, core=True, workspaces=[org])
        jobs = export_module.JobFile(os.path.join(pipeline.working_dir, export_module.JOBS_FILE))
        kept = jobs._read()[org]
        projects = {p["gid"] for p in sim.store.all("project") if p["workspace"]["gid"] == org}
        assert kept["job"] in sim.exports.jobs
        assert set(kept["sync"]) == ({"workspace"} if mode == "workspace" else projects)  # only what is needed
        clock.on_sleep.clear()
        assert s.delete(f"{sim.base_url}/tasks/{doomed['gid']}").ok
        assert s.put(f"{sim.base_url}/tasks/{renamed['gid']}", json={"data": {"name": "Renamed while dead"}}).ok
        clock.now += 300  # the job finished while nobody waited
        sim.reset_requests()
        run(pipeline, sim, core=True, workspaces=[org])
        paths = Counter(r.path for r in sim.requests())
        assert paths["/exports/resource"] == 0 and paths["/_export"] == 1  # resumed
        assert paths["/events"] == 0  # the kept tokens stand in for this run's 412s
        assert _count(pipeline, doomed["gid"]) == 1 and _name(pipeline, renamed["gid"]) != "Renamed while dead"
        assert not jobs._read()
        run(pipeline, sim, core=True, workspaces=[org])
        assert _count(pipeline, doomed["gid"]) == 0 and _name(pipeline, renamed["gid"]) == "Renamed while dead"
        loaded = rows(pipeline, "SELECT count(*) FROM asana_data.tasks")[0][0]
        assert loaded == sum(1 for t in sim.store.all("task") if t["workspace"]["gid"] == org)
    finally:
        sim.stop()


def test_reconciliation_by_export_keeps_the_mirror(
    tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The mirror's changes (tests/source/test_mirror.py: subtasks renamed and added at two levels, a move
    # between sections, completion, reassignment, comments, a task with its subtask tree deleted)
    # made during a pause that expires every token: each workspace is reconciled by one export
    # instead of listing its projects, and the warehouse equals the simulator after it.
    import tests.source.test_mirror as mirror

    monkeypatch.setattr(plan_module, "EXPORT_RECONCILE_MIN_REQUESTS", 0)  # a tiny workspace qualifies
    config = mirror.tiny(True)
    config.exports, config.export_seconds = True, 300.0
    sim = AsanaSim(token=mirror.TOKEN, config=config, clock=clock).start()

    def load() -> None:
        source = asana_source(access_token=mirror.TOKEN, base_url=sim.base_url, requests_per_minute=0)
        pipeline.run(source.with_resources(*CORE))

    try:
        pipeline, changes, picked = mirror.new_pipeline(tmp_path), mirror.Api(sim), mirror._pick(sim)
        load()
        mirror.assert_mirror(pipeline, sim, "full load")
        mirror.round_subtasks(changes, sim, picked)
        changes.send("DELETE", f"/tasks/{picked['deep'][1]['gid']}")
        mirror.round_after_expiry(changes, sim, picked)
        sim.config.sync_ttl_s = 0  # every token the next run presents has expired
        sim.reset_requests()
        load()
        sim.config.sync_ttl_s = 86400.0
        mirror.assert_mirror(pipeline, sim, "reconciled by export")
        paths = Counter(r.path for r in sim.requests())
        assert paths["/exports/resource"] == len(sim.store.all("workspace")) and paths["/_export"] == 2
        assert not [p for p in paths if p == "/tasks" or p.endswith("/subtasks")], sorted(paths)
        confirmed = [p for p in paths if re.fullmatch(r"/tasks/\d+", p)]
        assert len(confirmed) == 2, confirmed  # the two deleted top-level tasks, read once (404)
        stories = [p for p in paths if p.endswith("/stories")]
        assert not stories, stories  # the changed tasks' stories came in the file
        sim.reset_requests()
        load()
        mirror.assert_mirror(pipeline, sim, "idle")
        assert not [r for r in sim.requests() if r.path.endswith(("/stories", "/subtasks"))], "an idle run reloaded"
    finally:
        sim.stop()


@pytest.mark.parametrize("why", ["few requests", "big workspace", "quick at the quota"])
def test_a_small_reconciliation_lists_its_projects(
    tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch, why: str
) -> None:
    # Listing is cheaper below EXPORT_RECONCILE_MIN_REQUESTS (a job, its polls and its file), when
    # the workspace's file is bigger than what listing the due projects reads, and when the quota
    # serves the listing sooner than a job would finish.
    from asana_dlt.warehouse import Warehouse

    quota = 6000 if why == "quick at the quota" else 0
    if why != "few requests":
        monkeypatch.setattr(plan_module, "EXPORT_RECONCILE_MIN_REQUESTS", 0)
        monkeypatch.setattr(Warehouse, "workspace_tasks", lambda self, gid: 10**6 if why == "big workspace" else 0)
    sim = make_sim(clock, subtask_share=0.0)
    try:
        pipeline = new_pipeline(tmp_path, "small_check")
        run(pipeline, sim, core=True)
        sim.config.sync_ttl_s = 0
        sim.reset_requests()
        run(pipeline, sim, core=True, requests_per_minute=quota)
        paths = Counter(r.path for r in sim.requests())
        assert paths["/exports/resource"] == 0 and paths["/tasks"] == len(sim.store.all("project"))
        assert rows(pipeline, "SELECT count(*) FROM asana_data.tasks")[0][0] == sim.expected_counts()["tasks"]
    finally:
        sim.stop()


def test_the_file_is_cut_into_pages_lazily() -> None:
    # Memory stays flat in the file's size: rows_of never reads more than a page of lines ahead.
    pulled: List[int] = []

    def lines() -> Iterator[Dict[str, Any]]:
        for i in range(3 * export_module.EXPORT_PAGE_SIZE + 7):
            pulled.append(i)
            yield {"gid": str(i), "resource_type": "task", "modified_at": "2026-01-01T00:00:00.000Z",
                   "stories": [{"gid": f"s{i}"}], "attachments": []}

    sizes = []
    for page in export_module.rows_of(lines()):
        assert len(pulled) == sum(sizes) + len(page)  # nothing read beyond this page's last line
        sizes.append(len(page))
    assert sizes == [export_module.EXPORT_PAGE_SIZE] * 3 + [7]
