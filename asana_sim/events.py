"""Event streams (``GET /events``, ``GET /workspaces/{gid}/events``) with expiring sync tokens.

Every write records events; each event lists the resources whose stream it belongs
to (the task, its projects, and for subtasks and stories the projects of the top-level
task; a section's project; a tag itself), which is how changes to subtasks and stories
bubble up to a project's events. Every event is also in its workspace's stream, which serves
up to 1,000 events a call (Asana's cap per sync token) and answers 402 unless the plan has it
(``workspace_events``). An event keeps references to its user, resource and parent and renders
them when read, so a renamed object shows its current name in events as everywhere else.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import threading
from typing import Any, Callable

from .clock import fmt_ms
from .errors import ApiError, not_found
from .reads import Raw, Req
from .store import Record, Store

SYNC_MSG = ("Sync token invalid or too old. If you are attempting to keep resources in sync, "
            "you must fetch the full dataset for this query now and use the new sync token for "
            "the next sync.")
PAGE = 100
WORKSPACE_PAGE = 1000
WORKSPACE_MSG = ("Workspace events are not available on this workspace's plan. This feature is only "
                 "available to premium workspaces.")


def _named(rec: Record | None) -> dict[str, Any] | None:
    """A named compact, rendered when the event is read: a renamed resource shows its current
    name, as every other compact reference does (a story's "name" is its text)."""
    if rec is None:
        return None
    return {"gid": rec["gid"], "resource_type": rec["resource_type"], "name": rec.get("name")
            if rec["resource_type"] != "story" else rec.get("text", "")}


def _rendered(event: dict[str, Any]) -> dict[str, Any]:
    return dict(event, user=_named(event["user"]), resource=_named(event["resource"]),
                parent=_named(event["parent"]))


class EventLog:
    """All events in order, plus the sync-token codec."""

    def __init__(self, store: Store, clock: Callable[[], float]) -> None:
        self.store = store
        self.clock = clock
        self._lock = threading.Lock()
        self._events: list[tuple[frozenset[str], dict[str, Any]]] = []
        self._secret = os.urandom(16)

    def streams_for_task(self, task: Record) -> set[str]:
        """The task, its ancestors, and every project of it or its top-level ancestor."""
        out = {task["gid"]}
        node: Record | None = task
        while node is not None:
            out.add(node["gid"])
            out.update(p["gid"] for p in node.get("projects", ()))
            node = node.get("parent")
        return out

    @staticmethod
    def workspace_of(rec: Record | None) -> Record | None:
        """The workspace a task, story, section or project lives in."""
        seen = 0
        while rec is not None and seen < 50:
            if rec.get("resource_type") == "workspace":
                return rec
            if isinstance(rec.get("workspace"), dict):
                return rec["workspace"]
            rec = next((rec[k] for k in ("project", "target", "parent") if isinstance(rec.get(k), dict)), None)
            seen += 1
        return None

    def record(self, resource: Record, action: str, streams: set[str],
               parent: Record | None = None, change: dict[str, Any] | None = None) -> None:
        """Append one event; ``streams`` are the resource gids that will see it, plus the
        workspace's stream."""
        ws = self.workspace_of(resource) or self.workspace_of(parent)
        if ws is not None:
            streams = set(streams) | {ws["gid"]}
        # References to the records themselves; ``fetch`` renders them (current names).
        event = {"user": self.store.me, "resource": resource, "type": resource["resource_type"],
                 "action": action, "parent": parent, "created_at": fmt_ms(int(self.clock() * 1000))}
        if change is not None:
            event["change"] = change
        with self._lock:
            self._events.append((frozenset(streams), event))

    def record_changes(self, resource: Record, fields: list[str], streams: set[str]) -> None:
        """One ``changed`` event per changed field, naming it in ``change``, as Asana reports a
        write that changed several properties; ``parent`` is null on them (Asana's
        ``EventResponse.parent`` is for added/removed events only)."""
        for f in fields:
            self.record(resource, "changed", streams, change={"field": f, "action": "changed"})

    def mark(self) -> int:
        """How many events were recorded so far: a position to count later events from."""
        with self._lock:
            return len(self._events)

    def count(self, resource: str, since: int = 0) -> int:
        """Events recorded at or after position ``since`` that ``resource``'s stream shows."""
        with self._lock:
            return sum(1 for streams, _ in self._events[since:] if resource in streams)

    def _token(self, resource: str, position: int) -> str:
        raw = json.dumps([resource, position, round(self.clock(), 3)], separators=(",", ":")).encode()
        sig = hmac.new(self._secret, raw, hashlib.sha256).hexdigest()[:16]
        return base64.urlsafe_b64encode(raw).decode().rstrip("=") + sig

    def _check(self, token: str, resource: str, ttl: float) -> int | None:
        try:
            body, sig = token[:-16], token[-16:]
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            if not hmac.compare_digest(sig, hmac.new(self._secret, raw, hashlib.sha256).hexdigest()[:16]):
                return None
            res, position, issued = json.loads(raw)
        except (ValueError, TypeError):
            return None
        if res != resource or self.clock() - issued >= ttl:
            return None
        return int(position)

    def fetch(self, resource: str, sync: str | None, ttl: float, page: int = PAGE) -> tuple[int, dict[str, Any]]:
        """(status, body): 412 with a fresh token, or up to ``page`` events and ``has_more``."""
        with self._lock:
            end = len(self._events)
            position = self._check(sync, resource, ttl) if sync else None
            if position is None:
                return 412, {"errors": [{"message": SYNC_MSG}], "sync": self._token(resource, end)}
            out: list[dict[str, Any]] = []
            i = position
            while i < end and len(out) < page:
                streams, event = self._events[i]
                if resource in streams:
                    out.append(_rendered(event))
                i += 1
            has_more = any(resource in s for s, _ in self._events[i:end])
            return 200, {"data": out, "sync": self._token(resource, i), "has_more": has_more}


def get_events(req: Req) -> Raw:
    """``GET /events?resource=&sync=``; the resource must be a task, project or tag we know
    (a tag's stream carries its own changes: Asana's webhooks guide lists tag events)."""
    gid = req.params["resource"]
    rec = req.store.by_gid.get(gid)
    if rec is None or rec["resource_type"] not in ("task", "project", "tag"):
        raise not_found("resource", gid)
    if rec["resource_type"] == "project" and gid in req.cfg.forbidden_projects:
        raise ApiError(403, f"project: Forbidden. You do not have access to {gid}.")
    status, body = req.sim.events.fetch(gid, req.params.get("sync"), req.cfg.sync_ttl_s)
    return Raw(body, status)


def get_workspace_events(req: Req) -> Raw:
    """``GET /workspaces/{gid}/events?sync=``: every event of the workspace, 1,000 a call."""
    if not req.cfg.workspace_events:
        raise ApiError(402, WORKSPACE_MSG)
    rec = req.store.by_gid.get(req.groups[0])
    if rec is None or rec["resource_type"] != "workspace":
        raise not_found("workspace", req.groups[0])
    status, body = req.sim.events.fetch(rec["gid"], req.params.get("sync"), req.cfg.sync_ttl_s, WORKSPACE_PAGE)
    return Raw(body, status)


EVENT_ROUTES: list[tuple[str, str, Callable[..., Any]]] = [
    ("GET", "/events", get_events),
    ("GET", "/workspaces/{workspace_gid}/events", get_workspace_events),
]
