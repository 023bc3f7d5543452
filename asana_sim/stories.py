"""Per-task stories, rebuilt on demand from an RNG seeded by (seed, task gid).

Storing millions of story dicts would cost gigabytes for the large benchmark sizes;
regenerating a task's handful of stories when asked is cheap and deterministic.

The system stories are the task's history and agree with the state it was generated in (kept
in ``task["_origin"]``, since writes may change the task later): the last ``assigned`` story
names the assignee, the last ``section_changed`` of each project ends in the task's section,
``marked_complete`` is at ``completed_at``, ``due_date_changed`` ends at ``due_on``. Writes add
their own stories (``writes.py``), so the history stays true after changes too. A story's text
names users, sections, projects and fields as they were named when it was written (their
generated names, ``Store.generated_name``), however often it is rebuilt after a rename, as
Asana never rewrites a story's text; its references (``assignee``, ``new_section``, ...)
show the current names.
"""
from __future__ import annotations

import random
from datetime import datetime
from typing import Any, NamedTuple

from .clock import fmt_ms
from .store import Record, Store

_COMMENTS = ["Sieht gut aus 👍", "了解しました。", "Can we ship this on Friday?", "Voilà — done.",
             "Блокер: ждём ответа", "LGTM", "See attached 📎"]

# Asana's "*Conditional*" story fields: each holds a value only on the stories it describes
# (``new_section`` on a section change, ...) and is null on every other story.
CONDITIONAL_FIELDS = (
    "assignee", "follower", "old_section", "new_section", "old_name", "new_name", "old_dates",
    "new_dates", "old_resource_subtype", "new_resource_subtype", "project", "tag", "task", "story",
    "custom_field", "old_text_value", "new_text_value", "old_number_value", "new_number_value",
    "old_enum_value", "new_enum_value", "old_date_value", "new_date_value", "old_people_value",
    "new_people_value", "old_multi_enum_values", "new_multi_enum_values", "old_approval_status",
    "new_approval_status", "duplicate_of", "duplicated_from", "dependency",
)


class Origin(NamedTuple):
    """What a generated task looked like when generated: its history leads up to this."""

    assignee: Record | None
    sections: tuple[tuple[Record, Record | None], ...]
    completed_at: str | None
    completed_by: Record | None
    due_on: str | None
    name: str
    custom_values: tuple[tuple[str, Any], ...]
    dependencies: tuple[Record, ...]


def origin_of(task: Record) -> Origin:
    """Snapshot of a freshly generated task (call once, at generation)."""
    return Origin(task["assignee"], tuple((m["project"], m["section"]) for m in task["memberships"]),
                  task["completed_at"], task["completed_by"], task["due_on"], task["name"],
                  tuple(task.get("_cf", {}).items()), tuple(task.get("dependencies", ())))


def story_gid(task_gid: str, index: int) -> str:
    """Generated story gids extend the task gid, so they never collide with created records."""
    return f"{task_gid}{index:04d}"


def make_story(gid: str, created_at: str, author: Record | None, subtype: str, text: str,
               target: Record, source: str, **changes: Any) -> Record:
    """A story record with every conditional field present: null unless ``changes`` sets it."""
    kind = "comment" if subtype == "comment_added" else "system"
    story: Record = {"gid": gid, "resource_type": "story", "created_at": created_at,
                     "created_by": author, "resource_subtype": subtype, "type": kind, "text": text,
                     "html_text": f"<body>{text}</body>", "is_pinned": False, "is_edited": False,
                     "source": source, "target": target, "num_likes": 0, "likes": [], "hearts": [],
                     "num_hearts": 0, "hearted": False, "liked": False}
    story.update(dict.fromkeys(CONDITIONAL_FIELDS))
    story.update(changes)
    return story


def dates(due_on: str | None) -> dict[str, Any]:
    """The ``old_dates``/``new_dates`` object of a date change."""
    return {"due_on": due_on, "due_at": None, "start_on": None}


# One change of the history: (epoch ms, order among changes of the same millisecond, subtype,
# text, author or None for "pick one", fields). An earlier step of a chain has order -1, a
# later one +1, so a tie in time never puts them out of order.
_Event = tuple[int, int, str, str, "Record | None", dict[str, Any]]


def _history(store: Store, task: Record, origin: Origin, rng: random.Random,
             users: list[Record]) -> list[list[_Event]]:
    """Groups of system stories, most important first; a group is kept whole or dropped."""
    t0, t1 = task["_t0"], task["_t1"]
    named = store.generated_name  # a story's text keeps the names of when it was written
    done_ms = _ms(origin.completed_at)
    work_end = done_ms if done_ms is not None else t1
    groups: list[list[_Event]] = []
    if done_ms is not None:
        groups.append([(done_ms, 0, "marked_complete", "marked this task complete", origin.completed_by, {})])
    if origin.assignee is not None:
        last = rng.randint(t0, work_end)
        groups.append([(last, 0, "assigned", f"assigned to {named(origin.assignee)}", None,
                        {"assignee": origin.assignee})])
        if rng.random() < 0.3:
            before = rng.choice(users)
            groups.append([(rng.randint(t0, last), -1, "assigned", f"assigned to {named(before)}", None,
                            {"assignee": before})])
    elif rng.random() < 0.2:
        who = rng.choice(users)
        first = rng.randint(t0, t1)
        groups.append([(first, 0, "assigned", f"assigned to {named(who)}", None, {"assignee": who}),
                       (rng.randint(first, t1), 1, "unassigned", f"unassigned from {named(who)}", None, {})])
    for project, section in origin.sections:
        others = [store.by_gid[g] for g in store.project_sections.get(project["gid"], ())
                  if section is not None and g != section["gid"] and g in store.by_gid]
        if not others:
            continue
        came_from = rng.choice(others)
        moved = rng.randint(t0, t1)
        groups.append([(moved, 0, "section_changed", _moved(store, came_from, section, project), None,
                        {"old_section": came_from, "new_section": section})])
        earlier = [s for s in others if s is not came_from] + [section]
        if rng.random() < 0.4:
            start = rng.choice(earlier)
            groups.append([(rng.randint(t0, moved), -1, "section_changed", _moved(store, start, came_from, project),
                            None, {"old_section": start, "new_section": came_from})])
    if origin.due_on is not None:
        old = fmt_ms(rng.randint(t0, t1))[:10] if rng.random() < 0.5 else None
        groups.append([(rng.randint(t0, t1), 0, "due_date_changed", f"changed the due date to {origin.due_on}",
                        None, {"old_dates": dates(old), "new_dates": dates(origin.due_on)})])
    if rng.random() < 0.3:
        groups.append([(rng.randint(t0, t1), 0, "name_changed", f"changed the name to “{origin.name}”", None,
                        {"old_name": f"{origin.name} (draft)", "new_name": origin.name})])
    groups.extend(_custom_field_changes(store, origin, rng, t0, t1))
    for blocker in origin.dependencies:
        groups.append([(rng.randint(t0, t1), 0, "dependency_added", f"added a dependency on {named(blocker)}",
                        None, {"dependency": blocker})])
    return groups


def _custom_field_changes(store: Store, origin: Origin, rng: random.Random, t0: int,
                          t1: int) -> list[list[_Event]]:
    out: list[list[_Event]] = []
    named = store.generated_name
    for cf_gid, value in origin.custom_values:
        cf = store.by_gid.get(cf_gid)
        if cf is None or rng.random() < 0.5:
            continue
        at = rng.randint(t0, t1)
        if cf["type"] == "enum":
            old = rng.choice([None] + [o for o in cf["enum_options"] if o is not value])
            out.append([(at, 0, "enum_custom_field_changed", f"changed {named(cf)} to {named(value)}", None,
                         {"custom_field": cf, "old_enum_value": old, "new_enum_value": value})])
        elif cf["type"] == "text":
            out.append([(at, 0, "text_custom_field_changed", f"changed {named(cf)} to {value}", None,
                         {"custom_field": cf, "old_text_value": None, "new_text_value": value})])
    return out


def _moved(store: Store, old: Record, new: Record, project: Record) -> str:
    named = store.generated_name
    return f"moved this task from {named(old)} to {named(new)} in {named(project)}"


def _ms(stamp: str | None) -> int | None:
    if stamp is None:
        return None
    return int(round(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1000))


def generate_stories(store: Store, task: Record) -> list[Record]:
    """The generated stories of a task in creation order (oldest first, as Asana lists them).

    A task has ``story_counts[gid]`` of them: about half comments, the rest its history,
    most telling changes first (completion, assignment, section, due date, name, fields).
    """
    n = store.story_counts.get(task["gid"], 0)
    if n == 0 or "_origin" not in task:
        return []
    rng = random.Random(f"{store.seed}:{task['gid']}")
    users = list(store.records["user"].values())
    t0, t1 = task["_t0"], task["_t1"]
    n_system = sum(rng.random() >= 0.5 for _ in range(n))
    events: list[_Event] = []
    for group in _history(store, task, task["_origin"], rng, users):
        if len(events) + len(group) <= n_system:
            events.extend(group)
    for _ in range(n - len(events)):
        events.append((rng.randint(t0, t1), 0, "comment_added", rng.choice(_COMMENTS), None, {}))
    target = {"gid": task["gid"], "resource_type": "task", "name": task["name"],
              "resource_subtype": task["resource_subtype"]}
    out = []
    for i, (ms, _, subtype, text, author, changes) in enumerate(sorted(events, key=lambda e: (e[0], e[1]))):
        who = author if author is not None else users[rng.randrange(len(users))]
        out.append(make_story(story_gid(task["gid"], i), fmt_ms(ms), who, subtype, text, target, "web",
                              **changes))
    return out
