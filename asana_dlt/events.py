"""Asana's events: one read loop for a project's and a workspace's stream, and what they say.

A project's `modified_since` listing shows its top-level tasks only, and never what was deleted.
Events (`GET /events?resource=<project>&sync=<token>`, or a whole workspace's with
`GET /workspaces/{gid}/events`) show the rest: they bubble up from tasks, subtasks and stories to
the projects of the top-level task, so one request reveals changed and new subtasks at any
depth, stories added or deleted, tasks deleted, moved between sections or added to and removed
from projects. Without a usable token Asana answers 412 with a fresh one; the project must then
be compared in full with Asana (`changes.py`).

Each project's events are read at most once per run, whoever asks first (its tasks, its
sections deciding whether to list them again, or an export job that must know every token
before it starts): `ProjectEventsCache`.
"""

import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Optional, Set, Tuple

from requests import Response

from .errors import AsanaMalformedResponse, SkipObject, named
from .helpers import AsanaClient, body_of
from .settings import EVENTS_PARAMS
from .state import SourceState


@dataclass
class ProjectEvents:
    """What one project's (or workspace's) events since the stored token say, or why they could not be read."""

    sync: Optional[str] = None
    reconcile: Optional[str] = None  # why the project must be reconciled; None: the events are complete
    tasks: Set[str] = field(default_factory=set)  # tasks and subtasks to read again
    deleted: Set[str] = field(default_factory=set)
    story_tasks: Set[str] = field(default_factory=set)  # tasks whose stories were added or changed
    deleted_stories: Dict[str, Set[str]] = field(default_factory=dict)  # task gid -> story gids
    known: Optional[Dict[str, str]] = None  # when reconciling: modified_at per loaded top-level task
    seen: int = 0  # events read: none means nothing in the project changed
    sections: Set[str] = field(default_factory=set)  # projects whose sections (or the project) changed
    changed_sections: Set[str] = field(default_factory=set)  # sections changed, their project unnamed

    def take(self, event: Dict[str, Any]) -> None:
        """Sorts one event; later events of a gid override earlier ones (deleted, then undeleted)."""
        resource = event.get("resource") or {}
        gid, kind, action = resource.get("gid"), event.get("type") or resource.get("resource_type"), event.get("action")
        parent = (event.get("parent") or {}).get("gid")
        if not gid:
            return
        self.seen += 1
        if kind == "section":  # a rename names no parent: only added and removed events do
            if parent:
                self.sections.add(parent)
            else:
                self.changed_sections.add(gid)
        elif kind == "project":
            self.sections.add(gid)
        if kind == "task":
            self._task(gid, action, event)
        elif kind == "story" and parent:
            if action == "deleted":
                self.deleted_stories.setdefault(parent, set()).add(gid)
            else:
                self.story_tasks.add(parent)
            self.tasks.add(parent)

    def _task(self, gid: str, action: Optional[str], event: Dict[str, Any]) -> None:
        if action == "deleted":
            self.deleted.add(gid)
            self.tasks.discard(gid)
            return
        self.deleted.discard(gid)
        self.tasks.add(gid)
        if action in ("added", "removed") and (event.get("parent") or {}).get("resource_type") in ("project", "section"):
            # Asana adds a story for a move, whose own event a project may not see (the task
            # just left it), while the task's modified_at stays as it was.
            self.story_tasks.add(gid)


def events_body(response: Response, what: str) -> Dict[str, Any]:
    """The decoded body of an events answer, which must carry a sync token.

    Why: every events endpoint (project and workspace) hands out the token change capture
    resumes from; an answer without one is not Asana's (a proxy, a wrong base_url), and
    storing nothing is safer than losing the position.
    """
    body = body_of(response)
    if not isinstance(body, dict) or not body.get("sync"):
        raise AsanaMalformedResponse(
            f"Asana answered {what} without a sync token; nothing was loaded."
            " Check base_url (it must end in /api/1.0) and retry."
        )
    return body


def read_stream(
    client: AsanaClient, path: str, params: Dict[str, str], sync: Optional[str], what: str
) -> Tuple[int, Optional[ProjectEvents]]:
    """Every event of one stream since `sync`, page after page (`has_more`).

    Returns:
        (200, the events and the newest token); (412, only the fresh token Asana handed out for
        a missing or expired one); or (Asana's refusal 402/403/404, None).
    """
    found, token = ProjectEvents(), sync
    while True:
        try:
            response = client.call(path, params={**params, **({EVENTS_PARAMS[1]: token} if token else {})}, accept=(412,))
        except SkipObject as exc:
            return exc.status, None
        body = events_body(response, what)
        if response.status_code == 412:
            return 412, ProjectEvents(sync=body["sync"])
        for event in body.get("data") or []:
            found.take(event)
        token = found.sync = body["sync"]
        if not body.get("has_more"):
            return 200, found


def read_project_events(client: AsanaClient, project: Dict[str, Any], sync: Optional[str]) -> Optional[ProjectEvents]:
    """All events of a project since `sync`; None when the project is out of reach (its listing
    is skipped with a warning as well)."""
    path, params = "/events", {EVENTS_PARAMS[0]: project["gid"]}
    status, events = read_stream(client, path, params, sync, f"GET /events for project {named(project)}")
    if events is not None and status == 412:
        events.reconcile = "its sync token expired" if sync else "it has no sync token yet"
    if events is not None and events.changed_sections:  # in the project's own stream: its sections
        events.sections.add(project["gid"])
    return events


class ProjectEventsCache:
    """Each project's events, read at most once per run, and the events the run took for it.

    Two steps, because reading needs only the client (any thread may prefetch) while taking
    may need the warehouse, which only dlt's threads reach (`changes.ChangeCapture.begin`).
    """

    def __init__(self, client: AsanaClient, state: SourceState) -> None:
        self.client, self.state = client, state
        self._lock = threading.Lock()
        self._locks: Dict[str, threading.Lock] = {}
        self._read: Dict[str, Optional[ProjectEvents]] = {}
        self._taken: Dict[str, ProjectEvents] = {}
        self._taking: Dict[str, threading.Lock] = {}

    def _project_lock(self, gid: str) -> threading.Lock:
        with self._lock:
            return self._locks.setdefault(gid, threading.Lock())

    def read(self, project: Dict[str, Any]) -> Optional[ProjectEvents]:
        """The project's events since its stored token (None: out of reach), requested once."""
        gid = project["gid"]
        with self._project_lock(gid):
            if gid not in self._read:
                sync = self.state.previous_project(gid).get("sync")
                self._read[gid] = read_project_events(self.client, project, sync)
            return self._read[gid]

    def take(self, project: Dict[str, Any], obtain: Callable[[], ProjectEvents]) -> ProjectEvents:
        """The events this run takes for the project: `obtain`ed by the first caller, then kept."""
        gid = project["gid"]
        with self._lock:
            taking = self._taking.setdefault(gid, threading.Lock())
        with taking:
            with self._lock:
                if gid in self._taken:
                    return self._taken[gid]
            events = obtain()
            with self._lock:
                self._taken[gid] = events
            return events

    def taken(self, gid: str) -> Optional[ProjectEvents]:
        """The events the run took for a project, if it took them yet."""
        with self._lock:
            return self._taken.get(gid)
