"""The simulator's system stories are a true history: they lead up to each task's state.

Analytics read assignment times, section stints and completion from stories, so a story
that contradicts the task (a last `assigned` naming someone else) would make them wrong.
"""
from __future__ import annotations

from typing import Any

from asana_sim import SimConfig
from asana_sim.data import generate
from asana_sim.store import Record
from tests.sim.sim_fixtures import Api, api, first_project_with_tasks, sim  # noqa: F401


def _gid(ref: Any) -> Any:
    return ref["gid"] if ref else None


def _check_history(task: Record, stories: list[Record]) -> None:
    stamps = [s["created_at"] for s in stories]
    assert stamps == sorted(stamps)
    assert all(task["created_at"] <= t <= task["modified_at"] for t in stamps)
    assignment = [s for s in stories if s["resource_subtype"] in ("assigned", "unassigned")]
    if assignment:
        last = assignment[-1]
        expected = _gid(last["assignee"]) if last["resource_subtype"] == "assigned" else None
        assert _gid(task["assignee"]) == expected
    for membership in task["memberships"]:
        section = membership["section"]
        moves = [s for s in stories if s["resource_subtype"] == "section_changed"
                 and s["new_section"]["project"] is membership["project"]]
        for before, after in zip(moves, moves[1:]):
            assert after["old_section"] is before["new_section"]
        if moves:
            assert moves[-1]["new_section"] is section
    done = [s for s in stories if s["resource_subtype"] in ("marked_complete", "marked_incomplete")]
    if done:
        assert (done[-1]["resource_subtype"] == "marked_complete") == task["completed"]
        if task["completed"]:
            assert done[-1]["created_at"] == task["completed_at"]
    due = [s for s in stories if s["resource_subtype"] in ("due_date_changed", "dates_changed")]
    if due:
        assert due[-1]["new_dates"]["due_on"] == task["due_on"]
    for s in stories:
        assert (s["type"] == "comment") == (s["resource_subtype"] == "comment_added")


def test_generated_history_leads_to_each_tasks_state() -> None:
    store = generate(SimConfig(seed=3, tasks=400, projects=6))
    kinds: set[str] = set()
    for task in store.all("task"):
        stories = store.stories(task)
        assert len(stories) == store.story_counts[task["gid"]]
        _check_history(task, stories)
        kinds |= {s["resource_subtype"] for s in stories}
    assert {"assigned", "section_changed", "marked_complete", "due_date_changed", "comment_added"} <= kinds


def test_writes_add_history_stories_that_agree_with_the_task(sim: Any, api: Api) -> None:
    p = first_project_with_tasks(sim)
    gid = next(g for g in sim.store.project_tasks[p["gid"]] if not sim.store.records["task"][g]["completed"])
    task = sim.store.records["task"][gid]
    current = next(m["section"] for m in task["memberships"] if m["project"] is p)
    target = next(g for g in sim.store.project_sections[p["gid"]] if g != current["gid"])
    someone = next(u for u in sim.store.all("user") if u is not task["assignee"])
    api.put(f"/tasks/{gid}", {"assignee": someone["gid"], "due_on": "2031-02-03", "name": "Neu"})
    api.post(f"/tasks/{gid}/addProject", {"project": p["gid"], "section": target})
    api.put(f"/tasks/{gid}", {"completed": True})
    stories = api.all(f"/tasks/{gid}/stories", opt_fields="resource_subtype,created_at,assignee,"
                      "old_section,new_section,new_dates.due_on,old_name,new_name")
    subtypes = [s["resource_subtype"] for s in stories[-5:]]
    assert subtypes == ["name_changed", "assigned", "due_date_changed", "section_changed", "marked_complete"]
    named, assigned, due, moved, done = stories[-5:]
    assert assigned["assignee"]["gid"] == someone["gid"]
    assert due["new_dates"]["due_on"] == "2031-02-03"
    assert moved["old_section"]["gid"] == current["gid"] and moved["new_section"]["gid"] == target
    assert done["created_at"] == task["completed_at"]
    assert named["new_name"] == "Neu"
    assert stories[0]["assignee"] is None or stories[0]["resource_subtype"] == "assigned"
    _check_history(task, sim.store.stories(task))


def test_every_kind_of_history_story_validates_against_asanas_schema(sim: Any, api: Api) -> None:
    """All stories of every task, with every field of the opt_fields enum (dotted ones too)."""
    import jsonschema

    from asana_sim import spec

    path = "/tasks/{task_gid}/stories"
    validator = jsonschema.Draft4Validator(spec.to_jsonschema(spec.operation("GET", path).response_schema(200)))
    everything = ",".join(sorted(spec.operation("GET", path).opt_fields))
    seen: set[str] = set()
    for task in sim.store.all("task"):
        body = api.get(f"/tasks/{task['gid']}/stories", opt_fields=everything, limit=100).json()
        validator.validate(body)
        seen |= {s["resource_subtype"] for s in body["data"]}
    assert {"assigned", "section_changed", "marked_complete", "comment_added"} <= seen
