"""Writes to the objects tasks refer to: create and rename sections and tags, change projects,
custom fields and enum options.

Renames show through every read at once, because records hold the records they reference and
compacts are rendered when read (``store.py``); no task that refers to a renamed object is
modified (Asana leaves their ``modified_at`` alone). A project's own ``modified_at`` moves on a
change; sections, tags, custom fields and enum options have none.

Events, following Asana's webhooks guide (its list of resources and actions: section and tag
``added``/``changed``, project ``changed``) and its ``EventResponse`` schema (``parent`` only on
added/removed events, ``change.field`` on changed ones). Every event is also in its
workspace's stream.

- ``POST /projects/{gid}/sections``: ``{resource: section, action: added, parent: project}``.
- ``PUT /sections/{gid}``: ``{resource: section, action: changed, parent: null, change:
  {field: name, action: changed}}``. Both in the project's stream: events propagate from
  contained objects up to their containers, and a section is contained in its project.
- ``PUT /projects/{gid}``: one ``{resource: project, action: changed, parent: null, change:
  {field, action: changed}}`` per changed field, in the project's stream.
- ``POST /workspaces/{gid}/tags``: ``{resource: tag, action: added, parent: workspace}``;
  ``PUT /tags/{gid}``: ``{resource: tag, action: changed, parent: null, change: {field, ...}}``
  per field. In the tag's own stream (``GET /events?resource=<tag>``) and the workspace's, but
  in no project's: a tag is not contained in a project (its tasks may sit in any number of
  projects, or none), so nothing propagates it into one.
- ``PUT /custom_fields/{gid}``, ``PUT /enum_options/{gid}``: no event. Asana's guide names no
  event for these resources; a simulator that sent one Asana does not send would let a loader
  rely on it and miss renames against Asana, while one that sends none makes it re-read them.
"""
from __future__ import annotations

from typing import Any, Callable

from .bodies import checked_body
from .clock import now_iso
from .errors import bad_request
from .reads import Req, Single, check_project_access, lookup
from .store import Record
from .writes import user_ref

PROJECT_FIELDS = ("name", "notes", "archived", "color", "due_on", "due_date", "start_on",
                  "default_view", "public", "privacy_setting", "icon", "owner")
TAG_FIELDS = ("name", "color", "notes")
CUSTOM_FIELD_FIELDS = ("name", "description", "precision", "format", "currency_code", "custom_label",
                       "custom_label_position", "has_notifications_enabled")
ENUM_OPTION_FIELDS = ("name", "color", "enabled")


def _apply(req: Req, rec: Record, values: dict[str, Any]) -> list[str]:
    """Set the values that differ; a name goes through ``Store.rename``. The changed fields."""
    changed = []
    for field, value in values.items():
        old = rec.get(field)
        if old is value or (not isinstance(value, dict) and old == value):  # records: by identity
            continue
        if field == "name":
            req.store.rename(rec, value)
        else:
            rec[field] = value
        changed.append(field)
    return changed


def _non_empty_name(body: dict[str, Any]) -> None:
    if "name" in body and not body["name"]:
        raise bad_request("name: Cannot be an empty string.")


def _insert_at(req: Req, project: Record, body: dict[str, Any]) -> int:
    """Where a new section goes in its project's order: before or after a given section, else last."""
    order = req.store.project_sections[project["gid"]]
    before, after = body.get("insert_before"), body.get("insert_after")
    if before and after:
        raise bad_request("insert_before, insert_after: Cannot be provided together.")
    anchor = before or after
    if not anchor:
        return len(order)
    if anchor not in order:
        which = "insert_before" if before else "insert_after"
        raise bad_request(f"{which}: {anchor} is not a section of project {project['gid']}.")
    return order.index(anchor) + (0 if before else 1)


def post_section(req: Req) -> Single:
    """``POST /projects/{gid}/sections``: a named section, last unless placed; the project's
    ``modified_at`` stays (Asana's does not reflect sections added to it)."""
    body = checked_body(req, "POST", "/projects/{project_gid}/sections",
                        ("name", "insert_before", "insert_after"))
    if not body.get("name"):
        raise bad_request("name: Missing input")
    s = req.store
    with s.lock:
        project = lookup(req, "project", req.groups[0])
        check_project_access(req, project)
        at = _insert_at(req, project, body)
        section = s.add({"gid": s.new_gid(), "resource_type": "section", "name": body["name"],
                         "project": project, "projects": [project], "created_at": now_iso(req.sim.clock)})
        s.project_sections[project["gid"]].insert(at, section["gid"])
        req.sim.events.record(section, "added", {section["gid"], project["gid"]}, parent=project)
        return Single(section, 201)


def put_section(req: Req) -> Single:
    """``PUT /sections/{gid}``: only the name can change (Asana's updateSection); the tasks in the
    section are not modified."""
    body = checked_body(req, "PUT", "/sections/{section_gid}", ("name",))
    _non_empty_name(body)
    with req.store.lock:
        section = lookup(req, "section", req.groups[0])
        check_project_access(req, section["project"])
        changed = _apply(req, section, body)
        req.sim.events.record_changes(section, changed, {section["gid"], section["project"]["gid"]})
        return Single(section)


def put_project(req: Req) -> Single:
    """``PUT /projects/{gid}``: the given fields change and the project is modified; ``due_on``
    and its deprecated twin ``due_date`` stay equal, ``html_notes`` follows ``notes``."""
    body = checked_body(req, "PUT", "/projects/{project_gid}", PROJECT_FIELDS)
    _non_empty_name(body)
    with req.store.lock:
        project = lookup(req, "project", req.groups[0])
        check_project_access(req, project)
        values = dict(body)
        if "owner" in values:
            values["owner"] = user_ref(req, values["owner"])
        changed = _apply(req, project, values)
        if "due_on" in changed or "due_date" in changed:
            project["due_on"] = project["due_date"] = values.get("due_on", values.get("due_date"))
        if "notes" in changed:
            project["html_notes"] = f"<body>{project['notes']}</body>"
        if changed:
            project["modified_at"] = now_iso(req.sim.clock)
        req.sim.events.record_changes(project, changed, {project["gid"]})
        return Single(project)


def post_tag(req: Req) -> Single:
    """``POST /workspaces/{gid}/tags``: a tag of that workspace (it can never move)."""
    body = checked_body(req, "POST", "/workspaces/{workspace_gid}/tags", TAG_FIELDS + ("followers",))
    s = req.store
    with s.lock:
        ws = lookup(req, "workspace", req.groups[0])
        followers = [user_ref(req, g) for g in body.get("followers") or ()]
        gid = s.new_gid()
        tag = s.add({"gid": gid, "resource_type": "tag", "name": body.get("name", ""),
                     "color": body.get("color"), "notes": body.get("notes", ""), "workspace": ws,
                     "created_at": now_iso(req.sim.clock), "followers": followers,
                     "permalink_url": f"https://app.asana.com/0/{gid}/list"})
        req.sim.events.record(tag, "added", {gid}, parent=ws)
        return Single(tag, 201)


def put_tag(req: Req) -> Single:
    """``PUT /tags/{gid}``: the tagged tasks are not modified."""
    body = checked_body(req, "PUT", "/tags/{tag_gid}", TAG_FIELDS)
    _non_empty_name(body)
    with req.store.lock:
        tag = lookup(req, "tag", req.groups[0])
        req.sim.events.record_changes(tag, _apply(req, tag, body), {tag["gid"]})
        return Single(tag)


def put_custom_field(req: Req) -> Single:
    """``PUT /custom_fields/{gid}``: its ``type`` is read-only and its ``enum_options`` change
    through ``PUT /enum_options/{gid}``, as Asana documents; no event (module docstring)."""
    body = checked_body(req, "PUT", "/custom_fields/{custom_field_gid}", CUSTOM_FIELD_FIELDS)
    _non_empty_name(body)
    with req.store.lock:
        field = lookup(req, "custom_field", req.groups[0])
        _apply(req, field, body)
        return Single(field)


def put_enum_option(req: Req) -> Single:
    """``PUT /enum_options/{gid}``: an enum field keeps at least one enabled option, as Asana
    requires; tasks holding the option show its new name and display value; no event."""
    body = checked_body(req, "PUT", "/enum_options/{enum_option_gid}", ENUM_OPTION_FIELDS)
    _non_empty_name(body)
    s = req.store
    with s.lock:
        option = lookup(req, "enum_option", req.groups[0])
        if body.get("enabled") is False:
            field = next((f for f in s.records["custom_field"].values()
                          if any(o is option for o in f.get("enum_options", ()))), None)
            others = [o for o in (field or {}).get("enum_options", ()) if o is not option and o["enabled"]]
            if field is not None and not others:
                raise bad_request("enabled: An enum custom field requires at least one enabled enum option.")
        _apply(req, option, body)
        return Single(option)


OBJECT_WRITE_ROUTES: list[tuple[str, str, Callable[..., Any]]] = [
    ("POST", "/projects/{project_gid}/sections", post_section),
    ("PUT", "/sections/{section_gid}", put_section),
    ("PUT", "/projects/{project_gid}", put_project),
    ("POST", "/workspaces/{workspace_gid}/tags", post_tag),
    ("PUT", "/tags/{tag_gid}", put_tag),
    ("PUT", "/custom_fields/{custom_field_gid}", put_custom_field),
    ("PUT", "/enum_options/{enum_option_gid}", put_enum_option),
]
