"""Renames in the simulator, as Asana makes them: every write the API allows (sections, projects,
tags, tasks, custom fields, enum options) and a user's UI-only rename.

Each test checks the write's answer against the spec's response schema, the new name in later
reads of the object and of everything that refers to it (tasks, subtasks, stories, attachments,
export lines), the events in the project, tag and workspace streams, and that tasks which merely
refer to the renamed object keep their ``modified_at``. A story's text keeps the old name.
"""
from __future__ import annotations

import gzip
import json
from functools import lru_cache
from typing import Any, Callable, Iterator

import jsonschema
import pytest
import requests

from asana_sim import AsanaSim, SimConfig, spec
from tests.sim.sim_fixtures import Api

NEW = "Umbenannt ✏️ 新しい名前"


class Clock:
    """The simulator's clock, moved by hand: each write gets a later, known instant."""

    def __init__(self) -> None:
        self.now = 1_790_000_000.0  # after the generated data, as a real clock would be

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sim(clock: Clock) -> Iterator[AsanaSim]:
    """Seed 11 at this size generates every story kind the tests read (section changes,
    assignments, enum field changes, dependencies) plus tags, attachments and subtasks."""
    config = SimConfig(seed=11, tasks=120, projects=3, workspace_events=True, exports=True,
                       export_seconds=0)
    with AsanaSim(token="sim-token", config=config, clock=clock) as s:
        yield s


@pytest.fixture
def api(sim: AsanaSim) -> Api:
    return Api(sim)


@lru_cache(maxsize=None)
def _validator(method: str, path: str, status: int) -> jsonschema.Draft4Validator:
    return jsonschema.Draft4Validator(spec.to_jsonschema(spec.operation(method, path).response_schema(status)))


def _ok(resp: requests.Response, method: str, path: str, status: int = 200) -> dict[str, Any]:
    """The answer's data, once its status and its body's schema are Asana's."""
    assert resp.status_code == status, resp.text
    _validator(method, path, status).validate(resp.json())
    return resp.json()["data"]  # type: ignore[no-any-return]


def _put_task(api: Api, gid: str, name: str) -> dict[str, Any]:
    """``PUT /tasks/{gid}`` answering the fields read here (the full task carries a date field's
    ``date_time: null``, which Asana sends and its schema does not allow)."""
    resp = api.session.put(f"{api.sim.base_url}/tasks/{gid}", params={"opt_fields": "name,modified_at"},
                           json={"data": {"name": name}}, timeout=10)
    return _ok(resp, "PUT", "/tasks/{task_gid}")


def _error(resp: requests.Response, status: int) -> str:
    assert resp.status_code == status, resp.text
    return resp.json()["errors"][0]["message"]  # type: ignore[no-any-return]


class Streams:
    """Sync tokens for some event streams, taken before a write; ``since`` reads what came after."""

    def __init__(self, api: Api, *gids: str, workspace: str | None = None) -> None:
        self.api = api
        self.paths = {g: ("/events", {"resource": g}) for g in gids}
        if workspace is not None:
            self.paths[workspace] = (f"/workspaces/{workspace}/events", {})
        self.tokens = {}
        for gid, (path, params) in self.paths.items():
            first = api.get(path, **params)
            assert first.status_code == 412
            self.tokens[gid] = first.json()["sync"]

    def since(self, gid: str) -> list[dict[str, Any]]:
        path, params = self.paths[gid]
        resp = self.api.get(path, sync=self.tokens[gid], **params)
        body = resp.json()
        assert resp.status_code == 200 and body["has_more"] is False
        # EventResponse.parent's prose says it is null except on added/removed events, which its
        # schema (a plain object) cannot say: a null parent is checked as an absent one.
        checked = dict(body, data=[{k: v for k, v in e.items() if not (k == "parent" and v is None)}
                                   for e in body["data"]])
        spec_path = "/events" if path == "/events" else "/workspaces/{workspace_gid}/events"
        _validator("GET", spec_path, 200).validate(checked)
        return body["data"]  # type: ignore[no-any-return]


def _changed(resource_type: str, gid: str, name: str, field: str) -> dict[str, Any]:
    """The parts of a ``changed`` event a test compares: Asana's shape, parent null."""
    return {"resource": {"gid": gid, "resource_type": resource_type, "name": name}, "type": resource_type,
            "action": "changed", "parent": None, "change": {"field": field, "action": "changed"}}


def _shape(event: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k not in ("user", "created_at")}


def _find(items: list[dict[str, Any]], gid: str) -> dict[str, Any]:
    return next(i for i in items if i["gid"] == gid)


def _story_about(sim: AsanaSim, subtype: str, matches: Callable[[dict[str, Any], dict[str, Any]], bool]
                 ) -> tuple[dict[str, Any], dict[str, Any]]:
    """A (task, generated story) pair of that subtype for which ``matches(task, story)`` holds."""
    for task in sim.store.all("task"):
        for story in sim.store.stories(task):
            if story["resource_subtype"] == subtype and matches(task, story):
                return task, story
    raise AssertionError(f"the generator made no {subtype} story that fits; the test would be vacuous")


def _modified(api: Api, gids: list[str]) -> dict[str, str]:
    return {g: api.get(f"/tasks/{g}", opt_fields="modified_at").json()["data"]["modified_at"] for g in gids}


def _story(api: Api, task: str, story: str, fields: str) -> dict[str, Any]:
    return _find(api.all(f"/tasks/{task}/stories", opt_fields=fields), story)


# --- sections ----------------------------------------------------------------------------------

def test_a_renamed_section_shows_in_its_tasks_stories_and_the_project_stream(sim: AsanaSim, api: Api) -> None:
    task, story = _story_about(sim, "section_changed",
                               lambda t, st: sim.store.section_tasks.get(st["new_section"]["gid"]))
    section = story["new_section"]
    project, ws = section["project"]["gid"], section["project"]["workspace"]["gid"]
    in_section = list(sim.store.section_tasks[section["gid"]])
    before = _modified(api, in_section)
    old_text = _story(api, task["gid"], story["gid"], "text")["text"]
    assert section["name"] in old_text
    streams = Streams(api, project, workspace=ws)

    data = _ok(api.put(f"/sections/{section['gid']}", {"name": NEW}), "PUT", "/sections/{section_gid}")
    assert data["name"] == NEW and data["project"]["gid"] == project and set(data) >= {"created_at", "projects"}

    assert _find(api.all(f"/projects/{project}/sections"), section["gid"])["name"] == NEW
    listed = api.all(f"/sections/{section['gid']}/tasks", opt_fields="memberships.section.name,modified_at")
    assert {t["gid"] for t in listed} == set(in_section)
    for t in listed:
        assert {"section": {"gid": section["gid"], "resource_type": "section", "name": NEW}} in t["memberships"]
    assert _modified(api, in_section) == before  # Asana leaves tasks in a renamed section alone
    read = _story(api, task["gid"], story["gid"], "text,new_section.name")
    assert read == {"gid": story["gid"], "resource_type": "story", "text": old_text,
                    "new_section": {"gid": section["gid"], "resource_type": "section", "name": NEW}}

    expected = _changed("section", section["gid"], NEW, "name")
    assert [_shape(e) for e in streams.since(project)] == [expected]
    assert [_shape(e) for e in streams.since(ws)] == [expected]


def test_a_new_section_is_placed_announced_and_takes_tasks(sim: AsanaSim, api: Api, clock: Clock) -> None:
    project = next(p for p in sim.store.all("project") if len(sim.store.project_sections[p["gid"]]) >= 2)
    gid, ws = project["gid"], project["workspace"]["gid"]
    order = list(sim.store.project_sections[gid])
    modified = api.get(f"/projects/{gid}", opt_fields="modified_at").json()["data"]["modified_at"]
    streams = Streams(api, gid, workspace=ws)
    clock.now += 60

    last = _ok(api.post(f"/projects/{gid}/sections", {"name": "Zuletzt"}),
               "POST", "/projects/{project_gid}/sections", 201)
    first = _ok(api.post(f"/projects/{gid}/sections", {"name": "Zuerst", "insert_before": order[0]}),
                "POST", "/projects/{project_gid}/sections", 201)
    second = _ok(api.post(f"/projects/{gid}/sections", {"name": "Danach", "insert_after": order[0]}),
                 "POST", "/projects/{project_gid}/sections", 201)
    assert last["project"] == {"gid": gid, "resource_type": "project", "name": project["name"]}
    assert last["created_at"] == "2026-09-21T14:14:20.000Z"
    listed = [s["gid"] for s in api.all(f"/projects/{gid}/sections")]
    assert listed == [first["gid"], order[0], second["gid"], *order[1:], last["gid"]]
    # Sections are associations: the project's modified_at does not reflect them, as on Asana.
    assert api.get(f"/projects/{gid}", opt_fields="modified_at").json()["data"]["modified_at"] == modified

    _ok(api.put(f"/sections/{last['gid']}", {"name": NEW}), "PUT", "/sections/{section_gid}")
    added = [_shape(e) for e in streams.since(gid)]
    parent = {"gid": gid, "resource_type": "project", "name": project["name"]}
    assert added[:3] == [{"resource": {"gid": s["gid"], "resource_type": "section", "name": name}, "type": "section",
                          "action": "added", "parent": parent}
                         for s, name in ((last, NEW), (first, "Zuerst"), (second, "Danach"))]  # names as of now
    assert added[3:] == [_changed("section", last["gid"], NEW, "name")]
    assert len(streams.since(ws)) == 4

    task = sim.store.project_tasks[gid][0]
    assert api.post(f"/tasks/{task}/addProject", {"project": gid, "section": last["gid"]}).status_code == 200
    assert [t["gid"] for t in api.all(f"/sections/{last['gid']}/tasks")] == [task]


def test_section_writes_refuse_what_asana_refuses(sim: AsanaSim, api: Api) -> None:
    p1, p2 = [p for p in sim.store.all("project") if sim.store.project_sections[p["gid"]]][:2]
    s1, s2 = sim.store.project_sections[p1["gid"]][0], sim.store.project_sections[p2["gid"]][0]
    sections = list(sim.store.project_sections[p1["gid"]])
    create = f"/projects/{p1['gid']}/sections"
    assert "name" in _error(api.post(create, {}), 400)
    assert "together" in _error(api.post(create, {"name": "x", "insert_before": s1, "insert_after": s1}), 400)
    assert s2 in _error(api.post(create, {"name": "x", "insert_before": s2}), 400)  # another project's
    assert "color" in _error(api.post(create, {"name": "x", "color": "dark-red"}), 400)  # not a section field
    assert "name" in _error(api.put(f"/sections/{s1}", {"name": ""}), 400)
    assert "insert_before" in _error(api.put(f"/sections/{s1}", {"insert_before": s1}), 400)  # only the name
    assert "Not a valid string" in _error(api.put(f"/sections/{s1}", {"name": 7}), 400)
    assert api.put("/sections/1", {"name": "x"}).status_code == 404
    assert api.post("/projects/1/sections", {"name": "x"}).status_code == 404
    sim.config.forbidden_projects = {p1["gid"]}
    assert api.put(f"/sections/{s1}", {"name": "x"}).status_code == 403
    assert api.post(create, {"name": "x"}).status_code == 403
    anonymous = requests.put(f"{sim.base_url}/sections/{s1}", json={"data": {"name": "x"}}, timeout=10)
    assert anonymous.status_code == 401
    assert sim.store.by_gid[s1]["name"] != "x" and sim.store.project_sections[p1["gid"]] == sections
    logged = [(r.method, r.status) for r in sim.requests() if r.path == f"/sections/{s1}"]
    assert logged == [("PUT", 400), ("PUT", 400), ("PUT", 400), ("PUT", 403), ("PUT", 401)]


# --- projects ----------------------------------------------------------------------------------

def test_a_renamed_project_shows_everywhere_and_only_it_is_modified(sim: AsanaSim, api: Api, clock: Clock) -> None:
    project = next(p for p in sim.store.all("project") if p["workspace"]["is_organization"]
                   and not p["archived"] and sim.store.project_tasks[p["gid"]])
    gid, ws, old = project["gid"], project["workspace"]["gid"], project["name"]
    newcomer = next(t for t in sim.store.all("task") if t["parent"] is None and t["workspace"] is project["workspace"]
                    and all(p is not project for p in t["projects"]))
    assert api.post(f"/tasks/{newcomer['gid']}/addProject", {"project": gid}).status_code == 200
    story = api.all(f"/tasks/{newcomer['gid']}/stories", opt_fields="text,resource_subtype")[-1]
    assert story["resource_subtype"] == "added_to_project" and story["text"] == f"added to {old}"
    tasks = list(sim.store.project_tasks[gid])
    before = _modified(api, tasks)
    streams = Streams(api, gid, workspace=ws)
    clock.now += 60

    data = _ok(api.put(f"/projects/{gid}", {"name": NEW, "notes": "Neu", "archived": False}),
               "PUT", "/projects/{project_gid}")
    assert (data["name"], data["notes"], data["html_notes"]) == (NEW, "Neu", "<body>Neu</body>")
    assert data["modified_at"] == "2026-09-21T14:14:20.000Z"  # the project itself is modified

    ref = {"gid": gid, "resource_type": "project", "name": NEW}
    for t in api.all(f"/projects/{gid}/tasks", opt_fields="projects,memberships.project.name"):
        assert ref in t["projects"] and {"project": ref} in t["memberships"]
    assert _modified(api, tasks) == before
    assert all(s["project"] == ref for s in api.all(f"/projects/{gid}/sections", opt_fields="project"))
    assert _find(api.all(f"/workspaces/{ws}/projects"), gid)["name"] == NEW
    read = _story(api, newcomer["gid"], story["gid"], "text,project.name")
    assert read["text"] == f"added to {old}" and read["project"] == ref

    expected = [_changed("project", gid, NEW, "name"), _changed("project", gid, NEW, "notes")]
    assert [_shape(e) for e in streams.since(gid)] == expected  # archived did not change: no event
    assert [_shape(e) for e in streams.since(ws)] == expected


def test_project_writes_refuse_unknown_read_only_and_unmodelled_fields(sim: AsanaSim, api: Api) -> None:
    project = sim.store.all("project")[0]
    gid, name = project["gid"], project["name"]
    streams = Streams(api, gid)
    path = f"/projects/{gid}"
    assert "bogus" in _error(api.put(path, {"name": "x", "bogus": 1}), 400)
    assert "read-only" in _error(api.put(path, {"modified_at": "2020-01-01T00:00:00.000Z"}), 400)
    assert "team" in _error(api.put(path, {"team": "1"}), 400)  # declared, but not modelled here
    assert "color" in _error(api.put(path, {"color": "sky-blue"}), 400)
    assert "archived" in _error(api.put(path, {"archived": "yes"}), 400)
    assert "name" in _error(api.put(path, {"name": ""}), 400)
    assert api.put(path, {"owner": "1"}).status_code == 404
    assert api.put("/projects/1", {"name": "x"}).status_code == 404
    sim.config.forbidden_projects = {gid}
    assert api.put(path, {"name": "x"}).status_code == 403
    sim.config.forbidden_projects = set()
    assert project["name"] == name and streams.since(gid) == []
    owner = sim.store.all("user")[1]
    data = _ok(api.put(path, {"owner": owner["gid"], "due_on": "2027-01-31", "color": None}),
               "PUT", "/projects/{project_gid}")
    assert data["owner"] == {"gid": owner["gid"], "resource_type": "user", "name": owner["name"]}
    assert data["due_on"] == data["due_date"] == "2027-01-31" and data["color"] is None


# --- tags --------------------------------------------------------------------------------------

def test_tags_are_created_and_renamed_on_their_own_stream_not_the_projects(sim: AsanaSim, api: Api) -> None:
    tag_gid = next(g for g, ts in sim.store.tag_tasks.items() if ts)
    tag = sim.store.by_gid[tag_gid]
    ws = tag["workspace"]["gid"]
    tagged = list(sim.store.tag_tasks[tag_gid])
    projects = sorted({p["gid"] for g in tagged for p in sim.store.by_gid[g]["projects"]})
    before = _modified(api, tagged)
    streams = Streams(api, tag_gid, *projects, workspace=ws)

    body = {"name": "Neu 🏷️", "color": "light-blue", "followers": ["me"]}
    created = _ok(api.post(f"/workspaces/{ws}/tags", body),
                  "POST", "/workspaces/{workspace_gid}/tags", 201)
    me = sim.store.me
    assert created["workspace"]["gid"] == ws and created["followers"] == [
        {"gid": me["gid"], "resource_type": "user", "name": me["name"]}]
    assert _find(api.all(f"/workspaces/{ws}/tags"), created["gid"])["name"] == "Neu 🏷️"
    data = _ok(api.put(f"/tags/{tag_gid}", {"name": NEW, "notes": "n"}), "PUT", "/tags/{tag_gid}")
    assert (data["name"], data["notes"]) == (NEW, "n")

    ref = {"gid": tag_gid, "resource_type": "tag", "name": NEW}
    assert all(ref in t["tags"] for t in api.all("/tasks", tag=tag_gid, opt_fields="tags"))
    assert ref in api.get(f"/tasks/{tagged[0]}", opt_fields="tags").json()["data"]["tags"]
    assert _modified(api, tagged) == before
    assert _find(api.all("/tags", workspace=ws), tag_gid)["name"] == NEW

    changes = [_changed("tag", tag_gid, NEW, "name"), _changed("tag", tag_gid, NEW, "notes")]
    assert [_shape(e) for e in streams.since(tag_gid)] == changes
    added = {"resource": {"gid": created["gid"], "resource_type": "tag", "name": "Neu 🏷️"}, "type": "tag",
             "action": "added", "parent": {"gid": ws, "resource_type": "workspace", "name": tag["workspace"]["name"]}}
    assert [_shape(e) for e in streams.since(ws)] == [added, *changes]
    assert all(streams.since(p) == [] for p in projects)
    assert "followers" in _error(api.put(f"/tags/{tag_gid}", {"followers": []}), 400)  # read-only on update
    assert "color" in _error(api.post(f"/workspaces/{ws}/tags", {"name": "x", "color": "red"}), 400)


# --- custom fields and enum options ------------------------------------------------------------

def test_renamed_custom_fields_and_options_show_in_values_and_display_values(sim: AsanaSim, api: Api) -> None:
    task, story = _story_about(sim, "enum_custom_field_changed", lambda t, st: t["_cf"].get(st["custom_field"]["gid"])
                               is st["new_enum_value"])
    field, option = story["custom_field"], story["new_enum_value"]
    multi = next(cf for cf in sim.store.all("custom_field")
                 if cf["type"] == "multi_enum" and cf["workspace"] is field["workspace"])
    holder = next(t for t in sim.store.all("task") if len(t["_cf"].get(multi["gid"]) or ()) == 2)
    first, second = holder["_cf"][multi["gid"]]
    old_text = _story(api, task["gid"], story["gid"], "text")["text"]
    project, ws = task["projects"][0]["gid"], field["workspace"]["gid"]
    before = _modified(api, [task["gid"], holder["gid"]])
    streams = Streams(api, project, workspace=ws)

    data = _ok(api.put(f"/enum_options/{option['gid']}", {"name": NEW}), "PUT", "/enum_options/{enum_option_gid}")
    assert data == {"gid": option["gid"], "resource_type": "enum_option", "name": NEW, "color": option["color"],
                    "enabled": True}
    _ok(api.put(f"/enum_options/{first['gid']}", {"name": "Eins"}), "PUT", "/enum_options/{enum_option_gid}")
    data = _ok(api.put(f"/custom_fields/{field['gid']}", {"name": "Priorität", "description": "neu"}),
               "PUT", "/custom_fields/{custom_field_gid}")
    assert (data["name"], data["description"], data["type"]) == ("Priorität", "neu", "enum")
    assert _find(data["enum_options"], option["gid"])["name"] == NEW

    values = api.get(f"/tasks/{task['gid']}", opt_fields="custom_fields.name,custom_fields.enum_value.name,"
                                                         "custom_fields.display_value").json()["data"]
    assert _find(values["custom_fields"], field["gid"]) == {
        "gid": field["gid"], "resource_type": "custom_field", "name": "Priorität", "display_value": NEW,
        "enum_value": {"gid": option["gid"], "resource_type": "enum_option", "name": NEW}}
    shown = _find(api.get(f"/tasks/{holder['gid']}", opt_fields="custom_fields.display_value,"
                          "custom_fields.multi_enum_values.name").json()["data"]["custom_fields"], multi["gid"])
    assert shown["display_value"] == f"Eins, {second['name']}"
    assert [v["name"] for v in shown["multi_enum_values"]] == ["Eins", second["name"]]
    assert _modified(api, [task["gid"], holder["gid"]]) == before
    assert _find(api.all(f"/workspaces/{ws}/custom_fields"), field["gid"])["name"] == "Priorität"
    settings = api.all(f"/projects/{project}/custom_field_settings", opt_fields="custom_field.name")
    renamed = {"gid": field["gid"], "resource_type": "custom_field", "name": "Priorität"}
    assert renamed in [s["custom_field"] for s in settings]
    read = _story(api, task["gid"], story["gid"], "text,custom_field.name,new_enum_value.name")
    assert read["text"] == old_text
    assert read["custom_field"]["name"] == "Priorität" and read["new_enum_value"]["name"] == NEW
    # Asana's guide names no event for custom fields or enum options: none here either.
    assert streams.since(project) == [] and streams.since(ws) == []


def test_custom_field_and_option_writes_refuse_what_asana_refuses(sim: AsanaSim, api: Api) -> None:
    field = next(cf for cf in sim.store.all("custom_field") if cf["type"] == "enum")
    options = field["enum_options"]
    assert "read-only" in _error(api.put(f"/custom_fields/{field['gid']}", {"type": "text"}), 400)
    assert "enum_options" in _error(api.put(f"/custom_fields/{field['gid']}", {"enum_options": []}), 400)
    assert "name" in _error(api.put(f"/custom_fields/{field['gid']}", {"name": ""}), 400)
    assert api.put("/custom_fields/1", {"name": "x"}).status_code == 404
    for option in options[:-1]:
        data = _ok(api.put(f"/enum_options/{option['gid']}", {"enabled": False}),
                   "PUT", "/enum_options/{enum_option_gid}")
        assert data["enabled"] is False
    assert "enabled" in _error(api.put(f"/enum_options/{options[-1]['gid']}", {"enabled": False}), 400)
    assert options[-1]["enabled"] is True
    assert "bogus" in _error(api.put(f"/enum_options/{options[0]['gid']}", {"bogus": 1}), 400)
    assert api.put("/enum_options/1", {"name": "x"}).status_code == 404


# --- users ---------------------------------------------------------------------------------------

def test_a_user_renamed_in_the_ui_shows_everywhere_without_an_event(sim: AsanaSim, api: Api) -> None:
    people = [cf["gid"] for cf in sim.store.all("custom_field") if cf["type"] == "people"]
    holder, people_field = next((t, g) for t in sim.store.all("task") for g in people if t["_cf"].get(g))
    valued = {u["gid"] for u in holder["_cf"][people_field]}
    task, story = _story_about(sim, "assigned", lambda t, st: st["assignee"] is t["assignee"] and t["projects"]
                               and t["assignee"]["gid"] in valued)
    user, old = task["assignee"], task["assignee"]["name"]
    written, authored = _story_about(sim, "comment_added", lambda t, st: st["created_by"] is user)
    project, ws = task["projects"][0]["gid"], task["workspace"]["gid"]
    assigned = [t["gid"] for t in sim.store.all("task") if t["assignee"] is user] + [holder["gid"], written["gid"]]
    before = _modified(api, assigned)
    streams = Streams(api, project, workspace=ws)
    logged = len(sim.requests())

    sim.rename_user(user["gid"], NEW)

    assert len(sim.requests()) == logged  # not an API request
    assert _ok(api.get(f"/users/{user['gid']}"), "GET", "/users/{user_gid}")["name"] == NEW
    ref = {"gid": user["gid"], "resource_type": "user", "name": NEW}
    data = api.get(f"/tasks/{task['gid']}", opt_fields="assignee,followers").json()["data"]
    assert data["assignee"] == ref and ref in data["followers"]
    values = _find(api.get(f"/tasks/{holder['gid']}", opt_fields="custom_fields.display_value,"
                           "custom_fields.people_value").json()["data"]["custom_fields"], people_field)
    assert ref in values["people_value"] and NEW in values["display_value"].split(", ")
    read = _story(api, task["gid"], story["gid"], "text,assignee")
    assert read == {"gid": story["gid"], "resource_type": "story", "text": f"assigned to {old}", "assignee": ref}
    assert _story(api, written["gid"], authored["gid"], "created_by")["created_by"] == ref
    listed = api.all("/tasks", assignee=user["gid"], workspace=ws, opt_fields="assignee")
    assert listed and all(t["assignee"] == ref for t in listed)
    assert NEW in [u["name"] for u in api.get(f"/workspaces/{ws}/users").json()["data"]]
    assert _modified(api, assigned) == before
    assert streams.since(project) == [] and streams.since(ws) == []
    with pytest.raises(KeyError):
        sim.rename_user("1", "x")


# --- tasks others refer to -----------------------------------------------------------------------

def test_renamed_parents_blockers_and_attachment_parents_show_in_what_refers_to_them(sim: AsanaSim, api: Api) -> None:
    dependent, story = _story_about(sim, "dependency_added",
                                    lambda t, st: any(d is st["dependency"] for d in t.get("dependencies", ())))
    blocker, old = story["dependency"], story["dependency"]["name"]
    parent = next(t for t in sim.store.all("task") if sim.store.subtasks.get(t["gid"]) and t is not blocker
                  and t is not dependent and t["projects"])
    subtasks = list(sim.store.subtasks[parent["gid"]])
    taken = {blocker["gid"], dependent["gid"], parent["gid"], *subtasks}
    attached = next(a["parent"] for a in sim.store.all("attachment") if a["parent"]["gid"] not in taken)
    before = _modified(api, [dependent["gid"], *subtasks])
    watched = sorted({p["gid"] for t in (blocker, parent, dependent) for p in t["projects"]})
    streams = Streams(api, *watched)

    for task, name in ((blocker, NEW), (parent, "Elternteil"), (attached, "Anhang hier")):
        assert _put_task(api, task["gid"], name)["name"] == name

    deps = api.get(f"/tasks/{dependent['gid']}", opt_fields="dependencies").json()["data"]["dependencies"]
    assert {"gid": blocker["gid"], "resource_type": "task", "name": NEW,
            "resource_subtype": blocker["resource_subtype"]} in deps
    read = _story(api, dependent["gid"], story["gid"], "text,dependency.name")
    assert read["text"] == f"added a dependency on {old}" and read["dependency"]["name"] == NEW
    for sub in api.all(f"/tasks/{parent['gid']}/subtasks", opt_fields="parent.name"):
        assert sub["parent"] == {"gid": parent["gid"], "resource_type": "task", "name": "Elternteil"}
    assert api.get(f"/tasks/{subtasks[0]}", opt_fields="parent.name").json()["data"]["parent"]["name"] == "Elternteil"
    assert all(a["parent"]["name"] == "Anhang hier" for a in api.get("/attachments", parent=attached["gid"],
                                                                      opt_fields="parent.name").json()["data"])
    stories = api.all(f"/tasks/{parent['gid']}/stories", opt_fields="target")
    assert stories and all(st["target"]["name"] == "Elternteil" for st in stories)
    assert _modified(api, [dependent["gid"], *subtasks]) == before  # only the renamed tasks are modified
    renamed = {blocker["gid"], parent["gid"], attached["gid"]}
    for p in watched:
        events = streams.since(p)
        assert {e["resource"]["gid"] for e in events if e["type"] == "task"} <= renamed
        assert dependent["gid"] not in {e["resource"]["gid"] for e in events}


# --- every read at once: the export file, batch, kept stories, limits ---------------------------

def test_export_lines_carry_the_current_names(sim: AsanaSim, api: Api) -> None:
    _, story = _story_about(sim, "section_changed", lambda t, st: st["new_section"] is t["memberships"][0]["section"])
    section = story["new_section"]
    task = story["target"]["gid"]
    full = sim.store.by_gid[task]
    project = full["projects"][0]
    tag = next(t for t in sim.store.all("tag")
               if sim.store.tag_tasks.get(t["gid"]) and t["workspace"] is full["workspace"])
    author = story["created_by"]
    api.put(f"/sections/{section['gid']}", {"name": "Spalte neu"})
    api.put(f"/projects/{project['gid']}", {"name": "Projekt neu"})
    api.put(f"/tags/{tag['gid']}", {"name": "Etikett neu"})
    sim.rename_user(author["gid"], "Autorin neu")
    old_text = story["text"]

    ws = full["workspace"]["gid"]
    fields = ["name", "memberships.section.name", "memberships.project.name", "projects.name", "tags.name",
              "stories.text", "stories.created_by.name", "stories.new_section.name"]
    job = api.post("/exports/resource", {"workspace": ws, "export_request_parameters": [
        {"resource_type": "task", "fields": fields}]}).json()["data"]
    done = api.get(f"/jobs/{job['gid']}").json()["data"]
    assert done["status"] == "succeeded"
    lines = [json.loads(x) for x in gzip.decompress(requests.get(done["new_resource_export"]["download_url"],
                                                                 timeout=10).content).splitlines()]
    line = _find(lines, task)
    assert {"project": {"gid": project["gid"], "resource_type": "project", "name": "Projekt neu"},
            "section": {"gid": section["gid"], "resource_type": "section", "name": "Spalte neu"}} in line["memberships"]
    exported = _find(line["stories"], story["gid"])
    assert exported["text"] == old_text and exported["new_section"]["name"] == "Spalte neu"
    assert exported["created_by"]["name"] == "Autorin neu"
    tagged = [x for x in lines if x["gid"] in sim.store.tag_tasks[tag["gid"]]]
    ref = {"gid": tag["gid"], "resource_type": "tag", "name": "Etikett neu"}
    assert tagged and all(ref in x["tags"] for x in tagged)


def test_renames_travel_in_a_batch_and_count_against_the_quota(sim: AsanaSim, api: Api, clock: Clock) -> None:
    section = sim.store.all("section")[0]
    tag = sim.store.all("tag")[0]
    actions = [{"method": "put", "relative_path": f"/sections/{section['gid']}", "data": {"name": "Aus dem Stapel"}},
               {"method": "put", "relative_path": f"/tags/{tag['gid']}", "data": {"name": "Stapel"}},
               {"method": "put", "relative_path": f"/tags/{tag['gid']}", "data": {"bogus": 1}}]
    answers = api.post("/batch", {"actions": actions}).json()["data"]
    assert [a["status_code"] for a in answers] == [200, 200, 400]
    assert answers[0]["body"]["data"]["name"] == "Aus dem Stapel" and tag["name"] == "Stapel"
    assert [(r.method, r.path, r.status) for r in sim.requests() if r.batch] == [
        ("PUT", f"/sections/{section['gid']}", 200), ("PUT", f"/tags/{tag['gid']}", 200),
        ("PUT", f"/tags/{tag['gid']}", 400)]

    sim.config.quota_per_minute = 1  # the window counts from now: one more write fits
    assert api.put(f"/tags/{tag['gid']}", {"name": "erlaubt"}).status_code == 200
    over = api.put(f"/tags/{tag['gid']}", {"name": "zu viel"})
    assert over.status_code == 429 and over.headers["Retry-After"]
    assert tag["name"] == "erlaubt"


def test_kept_generated_stories_keep_their_text_through_renames(clock: Clock) -> None:
    config = SimConfig(seed=11, tasks=120, projects=3, keep_generated_stories=True)
    with AsanaSim(config=config, clock=clock) as sim:
        api = Api(sim)
        task, story = _story_about(sim, "assigned", lambda t, st: st["assignee"] is t["assignee"])
        old_text = story["text"]
        sim.rename_user(task["assignee"]["gid"], NEW)
        _put_task(api, task["gid"], "Aufgabe neu")  # a new name: the kept stories are made again
        read = _story(api, task["gid"], story["gid"], "text,assignee.name,target.name")
        assert read["text"] == old_text != f"assigned to {NEW}"
        assert read["assignee"]["name"] == NEW and read["target"]["name"] == "Aufgabe neu"
