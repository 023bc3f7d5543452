"""Write endpoints with Asana's side effects on ``modified_at``, stories and events.

Rules kept from Asana's documentation: any property or association change modifies a
task (``modified_at`` = now); adding a story modifies its task; a change to a subtask
does not modify its parent; completing a task sets ``completed_at``/``completed_by``.
A change Asana records in the task's history (name, assignee, dates, completion, a section
move, adding to or removing from a project) adds a system story holding the old and new
values, so the history always leads up to the task's current state. All changes happen under
the store lock.
"""
from __future__ import annotations

from typing import Any, Callable

from .clock import now_iso
from .errors import bad_request, not_found
from .reads import Raw, Req, Single, check_project_access, lookup
from .store import Record, Store
from .stories import make_story

SIMPLE_TASK_FIELDS = ("name", "notes", "due_on", "due_at", "start_on", "start_at",
                      "resource_subtype")


def _now(req: Req) -> str:
    return now_iso(req.sim.clock)


def _touch(req: Req, task: Record) -> None:
    task["modified_at"] = _now(req)


def _touch_on_move(req: Req, task: Record) -> None:
    """A move to or from a project or section: Asana documents that it leaves ``modified_at``
    alone (``documented_modified_at``); off, the simulator's older rule modifies the task."""
    if not req.cfg.documented_modified_at:
        _touch(req, task)


def user_ref(req: Req, value: Any) -> Record | None:
    """The user a write names (a gid or ``me``), or None for null; 404 for an unknown gid."""
    if value is None:
        return None
    if value == "me":
        return req.store.me
    return lookup(req, "user", str(value))


def _story(req: Req, task: Record, text: str, subtype: str, at: str | None = None,
           **changes: Any) -> Record:
    """A story by the token's user; a system story carries what it changed (``changes``)."""
    s: Store = req.store
    story = make_story(s.new_gid(), at or _now(req), s.me, subtype, text, task, "api", **changes)
    s.extra_stories[task["gid"]].append(story)
    req.sim.events.record(story, "added", req.sim.events.streams_for_task(task), parent=task)
    return story


def _add_to_project(req: Req, task: Record, project: Record, section: Record | None) -> None:
    s = req.store
    if project not in task["projects"]:
        if section is None and s.project_sections.get(project["gid"]):
            section = s.by_gid[s.project_sections[project["gid"]][0]]
        task["projects"].append(project)
        task["memberships"].append({"project": project, "section": section})
        s.project_tasks[project["gid"]].append(task["gid"])
        if section is not None:
            s.section_tasks[section["gid"]].append(task["gid"])
        req.sim.events.record(task, "added", req.sim.events.streams_for_task(task), parent=project)
        _story(req, task, f"added to {project['name']}", "added_to_project", project=project)
        return
    # Already in the project: Asana moves it to the given section (a "move" event).
    for m in task["memberships"]:
        if m["project"] is project and section is not None and m["section"] is not section:
            if m["section"] is not None and task["gid"] in s.section_tasks[m["section"]["gid"]]:
                s.section_tasks[m["section"]["gid"]].remove(task["gid"])
            old, m["section"] = m["section"], section
            s.section_tasks[section["gid"]].append(task["gid"])
            _story(req, task, f"moved this task to {section['name']}", "section_changed",
                   old_section=old, new_section=section)
            req.sim.events.record(task, "added", req.sim.events.streams_for_task(task),
                                  parent=section)


def _remove_from_project(req: Req, task: Record, project: Record) -> None:
    s = req.store
    streams = req.sim.events.streams_for_task(task)
    if project in task["projects"]:
        task["projects"].remove(project)
        for m in [m for m in task["memberships"] if m["project"] is project]:
            task["memberships"].remove(m)
            if m["section"] is not None and task["gid"] in s.section_tasks[m["section"]["gid"]]:
                s.section_tasks[m["section"]["gid"]].remove(task["gid"])
        if task["gid"] in s.project_tasks[project["gid"]]:
            s.project_tasks[project["gid"]].remove(task["gid"])
        _story(req, task, f"removed from {project['name']}", "removed_from_project", project=project)
    req.sim.events.record(task, "removed", streams, parent=project)


def _apply_task_fields(req: Req, task: Record, body: dict[str, Any]) -> list[str]:
    changed = []
    for f in SIMPLE_TASK_FIELDS:
        if f in body and task.get(f) != body[f]:
            if f == "name":  # the store keeps the generated name for the generated stories' text
                req.store.rename(task, body[f])
            else:
                task[f] = body[f]
            if f == "notes":
                task["html_notes"] = f"<body>{body[f]}</body>"
            changed.append(f)
    if "assignee" in body:
        task["assignee"] = user_ref(req, body["assignee"])
        task["assignee_status"] = "inbox" if task["assignee"] else None
        changed.append("assignee")
    if "completed" in body and bool(body["completed"]) != task["completed"]:
        task["completed"] = bool(body["completed"])
        task["completed_at"] = _now(req) if task["completed"] else None
        task["completed_by"] = req.store.me if task["completed"] else None
        changed.append("completed")
    return changed


_HISTORY_FIELDS = ("name", "assignee", "completed", "due_on", "due_at", "start_on")


def _before(task: Record) -> dict[str, Any]:
    """The fields whose change Asana records as a system story, before a write."""
    return {f: task.get(f) for f in _HISTORY_FIELDS}


def _history_stories(req: Req, task: Record, before: dict[str, Any]) -> None:
    """The system stories Asana adds for what a write changed, with old and new values."""
    if task["name"] != before["name"] and before["name"]:
        _story(req, task, f"changed the name to “{task['name']}”", "name_changed",
               old_name=before["name"], new_name=task["name"])
    if task["assignee"] is not before["assignee"]:
        if task["assignee"] is not None:
            _story(req, task, f"assigned to {task['assignee']['name']}", "assigned", assignee=task["assignee"])
        else:
            _story(req, task, f"unassigned from {before['assignee']['name']}", "unassigned")
    if any(task[f] != before[f] for f in ("due_on", "due_at", "start_on")):
        only_due = task["start_on"] == before["start_on"]
        old = {"due_on": before["due_on"], "due_at": before["due_at"], "start_on": before["start_on"]}
        new = {"due_on": task["due_on"], "due_at": task["due_at"], "start_on": task["start_on"]}
        _story(req, task, f"changed the due date to {task['due_on'] or task['due_at']}",
               "due_date_changed" if only_due else "dates_changed", old_dates=old, new_dates=new)
    if task["completed"] != before["completed"]:
        if task["completed"]:
            _story(req, task, "marked this task complete", "marked_complete", at=task["completed_at"])
        else:
            _story(req, task, "marked this task incomplete", "marked_incomplete")


def _new_task(req: Req, body: dict[str, Any], parent: Record | None) -> Record:
    s = req.store
    projects = [lookup(req, "project", str(g)) for g in body.get("projects", []) or []]
    for p in projects:
        check_project_access(req, p)
    if parent is None and body.get("parent"):
        parent = lookup(req, "task", str(body["parent"]))
    if projects:
        ws = projects[0]["workspace"]
    elif parent is not None:
        ws = parent["workspace"]
    elif body.get("workspace"):
        ws = lookup(req, "workspace", str(body["workspace"]))
    else:
        raise bad_request("workspace: Missing input")
    now = _now(req)
    task: Record = {"gid": s.new_gid(), "resource_type": "task", "name": body.get("name", ""),
                    "resource_subtype": "default_task", "created_at": now, "modified_at": now,
                    "completed": False, "completed_at": None, "completed_by": None,
                    "assignee": None, "assignee_status": None, "due_on": None, "due_at": None,
                    "start_on": None, "start_at": None, "notes": "", "html_notes": "<body></body>",
                    "parent": parent, "projects": [], "memberships": [], "tags": [],
                    "followers": [s.me], "workspace": ws, "created_by": s.me, "num_likes": 0,
                    "likes": [], "hearts": [], "num_hearts": 0, "hearted": False, "liked": False,
                    "_cf": {}}
    created = _before(task)
    _apply_task_fields(req, task, body)
    task["modified_at"] = task["created_at"]
    s.add(task)
    task["permalink_url"] = f"https://app.asana.com/0/0/{task['gid']}"
    if parent is not None:
        s.subtasks[parent["gid"]].append(task["gid"])
    req.sim.events.record(task, "added", req.sim.events.streams_for_task(task), parent=parent)
    for p in projects:
        _add_to_project(req, task, p, None)
    _history_stories(req, task, dict(created, name=task["name"]))
    return task


def post_task(req: Req) -> Single:
    with req.store.lock:
        return Single(_new_task(req, req.body, None), 201)


def post_subtask(req: Req) -> Single:
    """Creating a subtask leaves the parent's ``modified_at`` alone (subtasks are separate)."""
    with req.store.lock:
        parent = lookup(req, "task", req.groups[0])
        return Single(_new_task(req, req.body, parent), 201)


def put_task(req: Req) -> Single:
    with req.store.lock:
        task = lookup(req, "task", req.groups[0])
        before = _before(task)
        changed = _apply_task_fields(req, task, req.body)
        if changed:
            _touch(req, task)
            req.sim.events.record_changes(task, changed, req.sim.events.streams_for_task(task))
            _history_stories(req, task, before)
        return Single(task)


def delete_task(req: Req) -> Raw:
    """Deleting a task deletes its subtasks too, as Asana's trash does."""
    with req.store.lock:
        task = lookup(req, "task", req.groups[0])
        _delete_task(req, task)
        return Raw({"data": {}})


def _delete_task(req: Req, task: Record) -> None:
    s = req.store
    for sub_gid in list(s.subtasks.get(task["gid"], [])):
        sub = s.records["task"].get(sub_gid)
        if sub is not None:
            _delete_task(req, sub)
    req.sim.events.record(task, "deleted", req.sim.events.streams_for_task(task))
    for p in task["projects"]:
        if task["gid"] in s.project_tasks[p["gid"]]:
            s.project_tasks[p["gid"]].remove(task["gid"])
    for m in task["memberships"]:
        if m["section"] is not None and task["gid"] in s.section_tasks[m["section"]["gid"]]:
            s.section_tasks[m["section"]["gid"]].remove(task["gid"])
    for tag in task["tags"]:
        if task["gid"] in s.tag_tasks[tag["gid"]]:
            s.tag_tasks[tag["gid"]].remove(task["gid"])
    if task["parent"] is not None and task["gid"] in s.subtasks[task["parent"]["gid"]]:
        s.subtasks[task["parent"]["gid"]].remove(task["gid"])
    s.subtasks.pop(task["gid"], None)
    del s.records["task"][task["gid"]]
    del s.by_gid[task["gid"]]
    for att in [a for a in s.records["attachment"].values() if a["parent"] is task]:
        del s.records["attachment"][att["gid"]]
        del s.by_gid[att["gid"]]


def post_story(req: Req) -> Single:
    """A comment; it modifies the task, as Asana documents."""
    text = req.body.get("text") or req.body.get("html_text")
    if not text:
        raise bad_request("text: Missing input")
    with req.store.lock:
        task = lookup(req, "task", req.groups[0])
        story = _story(req, task, str(text), "comment_added")
        _touch(req, task)
        return Single(story, 201)


def _find_story(s: Store, gid: str) -> Record | None:
    """A written story, or a generated one (whose gid is its task's gid plus four digits)."""
    for stories in s.extra_stories.values():
        for story in stories:
            if story["gid"] == gid:
                return story
    task = s.records["task"].get(gid[:-4])
    return next((st for st in s.stories(task) if st["gid"] == gid), None) if task else None


def delete_story(req: Req) -> Raw:
    """Deleting a story (a comment) records a ``deleted`` story event whose parent is the task;
    it leaves the task's ``modified_at`` alone."""
    s = req.store
    with s.lock:
        story = _find_story(s, req.groups[0])
        if story is None:
            raise not_found("story", req.groups[0])
        task = s.records["task"][story["target"]["gid"]]
        extra = s.extra_stories.get(task["gid"], [])
        if story in extra:
            extra.remove(story)
        else:
            s.deleted_stories.add(story["gid"])
        req.sim.events.record(story, "deleted", req.sim.events.streams_for_task(task), parent=task)
        return Raw({"data": {}})


def _task_and_project(req: Req) -> tuple:
    """The task and the project an addProject/removeProject names; call under the store lock."""
    if "project" not in req.body:
        raise bad_request("project: Missing input")
    task = lookup(req, "task", req.groups[0])
    project = lookup(req, "project", str(req.body["project"]))
    check_project_access(req, project)
    return task, project


def add_project(req: Req) -> Raw:
    with req.store.lock:
        task, project = _task_and_project(req)
        section = lookup(req, "section", str(req.body["section"])) if req.body.get("section") else None
        if section is not None and section["project"] is not project:
            raise bad_request("section: Section is not in the given project")
        _add_to_project(req, task, project, section)
        _touch_on_move(req, task)
        return Raw({"data": {}})


def remove_project(req: Req) -> Raw:
    with req.store.lock:
        task, project = _task_and_project(req)
        _remove_from_project(req, task, project)
        _touch_on_move(req, task)
        return Raw({"data": {}})


def post_project(req: Req) -> Single:
    """In an organization a project needs a team, as Asana requires."""
    b, s = req.body, req.store
    with s.lock:
        team = lookup(req, "team", str(b["team"])) if b.get("team") else None
        if b.get("workspace"):
            ws = lookup(req, "workspace", str(b["workspace"]))
        elif team is not None:
            ws = team["organization"]
        else:
            raise bad_request("workspace: Missing input")
        if ws["is_organization"] and team is None:
            raise bad_request("team: Missing input")
        now = _now(req)
        cfs = [c for c in s.records["custom_field"].values() if c["workspace"] is ws]
        p: Record = {"gid": s.new_gid(), "resource_type": "project", "name": b.get("name", ""),
                     "archived": bool(b.get("archived", False)), "color": b.get("color"),
                     "created_at": now, "modified_at": now, "notes": b.get("notes", ""),
                     "html_notes": f"<body>{b.get('notes', '')}</body>", "owner": s.me,
                     "team": team, "workspace": ws, "members": [s.me], "followers": [s.me],
                     "due_on": b.get("due_on"), "due_date": b.get("due_on"), "start_on": None,
                     "default_view": b.get("default_view", "list"), "completed": False,
                     "completed_at": None, "completed_by": None, "public": True,
                     "privacy_setting": "public_to_workspace", "current_status": None,
                     "current_status_update": None, "icon": "list", "custom_field_settings": [],
                     "custom_fields": cfs}
        s.add(p)
        p["permalink_url"] = f"https://app.asana.com/0/{p['gid']}/{p['gid']}"
        for i, cf in enumerate(cfs):
            p["custom_field_settings"].append(s.add({
                "gid": s.new_gid(), "resource_type": "custom_field_setting", "custom_field": cf,
                "project": p, "parent": p, "is_important": i < 2}))
        s.add({"gid": s.new_gid(), "resource_type": "project_membership", "parent": p,
               "member": s.me, "user": s.me, "project": p, "access_level": "admin",
               "write_access": "full_write", "resource_subtype": "project_membership"})
        req.sim.events.record(p, "added", {p["gid"]}, parent=ws)
        return Single(p, 201)


def delete_project(req: Req) -> Raw:
    """Tasks only in this project go with it; multi-homed tasks just lose the association."""
    s = req.store
    with s.lock:
        p = lookup(req, "project", req.groups[0])
        check_project_access(req, p)
        for gid in list(s.project_tasks.get(p["gid"], [])):
            task = s.records["task"].get(gid)
            if task is None:
                continue
            if len(task["projects"]) == 1:
                _delete_task(req, task)
            else:
                _remove_from_project(req, task, p)
                _touch_on_move(req, task)
        req.sim.events.record(p, "deleted", {p["gid"]})
        for sec_gid in s.project_sections.pop(p["gid"], []):
            s.records["section"].pop(sec_gid, None)
            s.by_gid.pop(sec_gid, None)
            s.section_tasks.pop(sec_gid, None)
        for kind in ("custom_field_setting", "project_membership"):
            for rec in [r for r in s.records[kind].values() if r["parent"] is p]:
                del s.records[kind][rec["gid"]]
                s.by_gid.pop(rec["gid"], None)
        s.project_tasks.pop(p["gid"], None)
        del s.records["project"][p["gid"]]
        del s.by_gid[p["gid"]]
        return Raw({"data": {}})


WRITE_ROUTES: list[tuple[str, str, Callable[..., Any]]] = [
    ("POST", "/tasks", post_task),
    ("PUT", "/tasks/{task_gid}", put_task),
    ("DELETE", "/tasks/{task_gid}", delete_task),
    ("POST", "/tasks/{task_gid}/stories", post_story),
    ("DELETE", "/stories/{story_gid}", delete_story),
    ("POST", "/tasks/{task_gid}/addProject", add_project),
    ("POST", "/tasks/{task_gid}/removeProject", remove_project),
    ("POST", "/tasks/{task_gid}/subtasks", post_subtask),
    ("POST", "/projects", post_project),
    ("DELETE", "/projects/{project_gid}", delete_project),
]
