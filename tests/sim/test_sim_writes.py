"""Writes and their side effects as Asana documents them, plus events and determinism."""
from __future__ import annotations

import hashlib
import json

from asana_sim import AsanaSim, SimConfig
from asana_sim.data import generate
from tests.sim.sim_fixtures import Api, api, first_project_with_tasks, sim  # noqa: F401


def _task(api: Api, gid: str) -> dict:
    return api.get(f"/tasks/{gid}", opt_fields="modified_at,completed,completed_at,completed_by,"
                                               "name,projects,num_subtasks").json()["data"]


def _since_gids(api: Api, project: str, since: str) -> list[str]:
    return [t["gid"] for t in api.all("/tasks", project=project, modified_since=since)]


def test_put_moves_modified_at_and_task_appears_in_modified_since(sim: AsanaSim, api: Api) -> None:
    p = first_project_with_tasks(sim)["gid"]
    newest = max(t["modified_at"] for t in sim.store.all("task"))
    assert _since_gids(api, p, newest) == [g for g in sim.store.project_tasks[p]
                                           if sim.store.records["task"][g]["modified_at"] >= newest]
    gid = sim.store.project_tasks[p][0]
    before = _task(api, gid)["modified_at"]
    resp = api.put(f"/tasks/{gid}", {"name": "Umbenannt ✏️"})
    assert resp.status_code == 200
    data = resp.json()["data"]
    assert data["name"] == "Umbenannt ✏️" and data["modified_at"] > before
    assert "notes" in data  # writes answer with the full record
    assert _since_gids(api, p, data["modified_at"]) == [gid]
    assert gid in _since_gids(api, p, newest)


def test_story_post_bumps_the_task(sim: AsanaSim, api: Api) -> None:
    gid = first_project_with_tasks(sim)["gid"]
    gid = sim.store.project_tasks[gid][0]
    before_mod = _task(api, gid)["modified_at"]
    n_before = len(api.all(f"/tasks/{gid}/stories"))
    counts_before = sim.expected_counts()["stories"]
    resp = api.post(f"/tasks/{gid}/stories", {"text": "Kommentar 💬"})
    assert resp.status_code == 201
    story = resp.json()["data"]
    assert story["resource_type"] == "story" and story["text"] == "Kommentar 💬"
    assert _task(api, gid)["modified_at"] > before_mod
    stories = api.all(f"/tasks/{gid}/stories")
    assert len(stories) == n_before + 1 and stories[-1]["gid"] == story["gid"]
    assert sim.expected_counts()["stories"] == counts_before + 1


def test_subtask_change_does_not_bump_parent(sim: AsanaSim, api: Api) -> None:
    parent = sim.store.project_tasks[first_project_with_tasks(sim)["gid"]][0]
    parent_mod = _task(api, parent)["modified_at"]
    resp = api.post(f"/tasks/{parent}/subtasks", {"name": "Unteraufgabe"})
    assert resp.status_code == 201
    sub = resp.json()["data"]
    assert sub["parent"]["gid"] == parent
    api.put(f"/tasks/{sub['gid']}", {"notes": "changed"})
    api.post(f"/tasks/{sub['gid']}/stories", {"text": "on the subtask"})
    assert _task(api, parent)["modified_at"] == parent_mod
    assert _task(api, parent)["num_subtasks"] >= 1
    assert sub["gid"] in [t["gid"] for t in api.all(f"/tasks/{parent}/subtasks")]


def test_completing_sets_fields_and_adds_system_story(sim: AsanaSim, api: Api) -> None:
    gid = next(t["gid"] for t in sim.store.all("task") if not t["completed"])
    api.put(f"/tasks/{gid}", {"completed": True})
    t = _task(api, gid)
    assert t["completed"] is True and t["completed_at"] is not None
    assert t["completed_by"]["gid"] == sim.store.me["gid"]
    last = api.all(f"/tasks/{gid}/stories", opt_fields="type,resource_subtype,text")[-1]
    assert last["type"] == "system" and last["resource_subtype"] == "marked_complete"


def test_add_and_remove_project_modify_task(sim: AsanaSim, api: Api) -> None:
    p1 = first_project_with_tasks(sim)
    p2 = next(p for p in sim.store.all("project")
              if p["workspace"] is p1["workspace"] and p is not p1)
    gid = next(g for g in sim.store.project_tasks[p1["gid"]]
               if g not in sim.store.project_tasks[p2["gid"]])
    m0 = _task(api, gid)["modified_at"]
    assert api.post(f"/tasks/{gid}/addProject", {"project": p2["gid"]}).json() == {"data": {}}
    m1 = _task(api, gid)["modified_at"]
    assert m1 > m0
    assert gid in [t["gid"] for t in api.all(f"/projects/{p2['gid']}/tasks")]
    assert api.post(f"/tasks/{gid}/removeProject", {"project": p2["gid"]}).status_code == 200
    assert _task(api, gid)["modified_at"] >= m1
    assert gid not in [t["gid"] for t in api.all(f"/projects/{p2['gid']}/tasks")]


def test_create_and_delete_task_and_project(sim: AsanaSim, api: Api) -> None:
    org = sim.store.all("workspace")[0]
    team = sim.store.all("team")[0]
    before = sim.expected_counts()
    proj = api.post("/projects", {"name": "Neues Projekt", "workspace": org["gid"],
                                  "team": team["gid"]})
    assert proj.status_code == 201
    pgid = proj.json()["data"]["gid"]
    task = api.post("/tasks", {"name": "Aufgabe", "projects": [pgid]}).json()["data"]
    assert [p["gid"] for p in task["projects"]] == [pgid]
    assert [t["gid"] for t in api.all("/tasks", project=pgid)] == [task["gid"]]
    after = sim.expected_counts()
    assert after["projects"] == before["projects"] + 1 and after["tasks"] == before["tasks"] + 1
    assert api.delete(f"/tasks/{task['gid']}").json() == {"data": {}}
    assert api.get(f"/tasks/{task['gid']}").status_code == 404
    assert api.delete(f"/projects/{pgid}").status_code == 200
    assert api.get(f"/projects/{pgid}").status_code == 404
    assert sim.expected_counts() == before


def test_events_412_then_changes_deletes_and_bubbling(sim: AsanaSim, api: Api) -> None:
    p = first_project_with_tasks(sim)["gid"]
    first = api.get("/events", resource=p)
    assert first.status_code == 412
    sync = first.json()["sync"]
    empty = api.get("/events", resource=p, sync=sync).json()
    assert empty["data"] == [] and empty["has_more"] is False
    top = sim.store.project_tasks[p][0]
    api.put(f"/tasks/{top}", {"name": "x"})
    sub = api.post(f"/tasks/{top}/subtasks", {"name": "s"}).json()["data"]["gid"]
    api.post(f"/tasks/{sub}/stories", {"text": "deep comment"})
    api.delete(f"/tasks/{top}")
    body = api.get("/events", resource=p, sync=empty["sync"]).json()
    seen = [(e["resource"]["resource_type"], e["resource"]["gid"], e["action"]) for e in body["data"]]
    assert ("task", top, "changed") in seen
    assert ("task", sub, "added") in seen
    assert any(kind == "story" and action == "added" for kind, _, action in seen)
    assert ("task", top, "deleted") in seen
    again = api.get("/events", resource=p, sync=body["sync"]).json()
    assert again["data"] == []
    assert api.get("/events", resource=p, sync="garbage").status_code == 412


def test_events_page_at_100_with_has_more(sim: AsanaSim, api: Api) -> None:
    p = first_project_with_tasks(sim)["gid"]
    sync = api.get("/events", resource=p).json()["sync"]
    gid = sim.store.project_tasks[p][0]
    for i in range(105):  # notes: a change without a history story (and its story event)
        api.put(f"/tasks/{gid}", {"notes": f"n{i}"})
    page = api.get("/events", resource=p, sync=sync).json()
    assert len(page["data"]) == 100 and page["has_more"] is True
    rest = api.get("/events", resource=p, sync=page["sync"]).json()
    assert len(rest["data"]) == 5 and rest["has_more"] is False


def test_search_modified_at_after_sorted(sim: AsanaSim, api: Api) -> None:
    sim.config.search = True
    org = sim.store.all("workspace")[0]["gid"]
    gid = sim.store.project_tasks[first_project_with_tasks(sim)["gid"]][0]
    stamp = api.put(f"/tasks/{gid}", {"name": "gesucht"}).json()["data"]["modified_at"]
    hits = api.get(f"/workspaces/{org}/tasks/search", **{"modified_at.after": "2000-01-01T00:00:00Z"},
                   sort_by="modified_at", sort_ascending="false", limit=100,
                   opt_fields="modified_at").json()
    in_org = [t for t in sim.store.all("task") if t["workspace"]["gid"] == org]
    assert "next_page" not in hits and len(hits["data"]) == min(100, len(in_org)) > 1
    stamps = [h["modified_at"] for h in hits["data"]]
    assert stamps == sorted(stamps, reverse=True) and hits["data"][0]["gid"] == gid
    after = api.get(f"/workspaces/{org}/tasks/search", **{"modified_at.after": stamp}).json()
    assert after["data"] == []
    assert api.get(f"/workspaces/{org}/tasks/search", limit=101).status_code == 400


def _flat(value: object, top: bool = False) -> object:
    """References become gids so the digest covers every record exactly once."""
    if isinstance(value, dict):
        if "gid" in value and not top:
            return value["gid"]
        return {k: _flat(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_flat(v) for v in value]
    return value


def _digest(cfg: SimConfig) -> str:
    store = generate(cfg)
    h = hashlib.sha256()
    for kind, recs in store.records.items():
        for gid, rec in recs.items():
            h.update(json.dumps([kind, _flat(rec, top=True)], sort_keys=True).encode())
    for t in list(store.records["task"].values())[:50]:
        h.update(json.dumps([s["gid"] + s["created_at"] + s["text"] for s in store.stories(t)]).encode())
    return h.hexdigest()


def test_same_seed_same_data_other_seed_other_data() -> None:
    cfg = SimConfig(seed=9, tasks=80, projects=3)
    assert _digest(cfg) == _digest(SimConfig(seed=9, tasks=80, projects=3))
    assert _digest(cfg) != _digest(SimConfig(seed=10, tasks=80, projects=3))


def test_generated_data_looks_like_asana() -> None:
    store = generate(SimConfig(seed=1, tasks=300, projects=6))
    tasks = store.all("task")
    assert all(t["gid"].isdigit() for t in tasks)
    stamp = tasks[0]["created_at"]
    assert len(stamp) == 24 and stamp.endswith("Z") and stamp[19] == "."
    assert any(t["due_on"] is None for t in tasks) and any(t["assignee"] is None for t in tasks)
    assert all((t["completed_at"] is None) == (not t["completed"]) for t in tasks)
    assert any(t["parent"] is not None and t["parent"]["parent"] is not None for t in tasks)
    assert any(len(t["projects"]) > 1 for t in tasks)
    assert any(p["archived"] for p in store.all("project")) or len(store.all("project")) < 10
    assert any(ord(c) > 127 for t in tasks for c in t["name"])
    types = {c["type"] for c in store.all("custom_field")}
    assert types == {"text", "number", "enum", "multi_enum", "date", "people"}
    assert max(t["modified_at"] for t in tasks) < "2024-06-02"


def test_add_project_with_section_moves_task_between_sections(sim: AsanaSim, api: Api) -> None:
    p = first_project_with_tasks(sim)
    gid = sim.store.project_tasks[p["gid"]][0]
    current = next(m["section"]["gid"] for m in sim.store.records["task"][gid]["memberships"]
                   if m["project"] is p)
    target = next(g for g in sim.store.project_sections[p["gid"]] if g != current)
    sync = api.get("/events", resource=p["gid"]).json()["sync"]
    api.post(f"/tasks/{gid}/addProject", {"project": p["gid"], "section": target})
    assert gid in [t["gid"] for t in api.all(f"/sections/{target}/tasks")]
    assert gid not in [t["gid"] for t in api.all(f"/sections/{current}/tasks")]
    events = api.get("/events", resource=p["gid"], sync=sync).json()["data"]
    assert any(e["parent"] and e["parent"]["gid"] == target for e in events)


def test_users_me_and_replacing_config_on_a_running_sim(sim: AsanaSim, api: Api) -> None:
    me = api.get("/users/me").json()["data"]
    assert me["gid"] == sim.store.me["gid"]
    sim.config = SimConfig(seed=5, tasks=40, projects=3, error_rate=1.0)
    assert api.get("/users/me").status_code in (500, 503)
