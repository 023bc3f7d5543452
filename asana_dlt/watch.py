"""Between the runs of a long-running process: which projects' events say something changed.

A run reads each project's (or workspace's) events from the token the last load stored and
stores the newer one with its own load. Between runs, a `Watcher` reads the same streams from
the same stored tokens and stores nothing: a change makes the caller start a run, which reads
the events again and loads them; nothing changed costs one events request, and no load.

A workspace with its own events (workspace mode) is one request. Otherwise each project is one,
and a big organization's projects cannot all be read every few seconds within the quota: each
project is read again after an interval that falls to the shortest when its events show a
change and doubles, up to the longest, while they do not, so the busiest projects are read
most often. The longest is what the watcher's share of the quota takes to read every project
once (at most `longest_s`); every watch spends at most its budget of requests.
"""

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Set

from .events import ProjectEvents, read_project_events, read_stream
from .helpers import AsanaClient

ReadProject = Callable[[Dict[str, Any], Optional[str]], Optional[ProjectEvents]]
ReadWorkspace = Callable[[str, Optional[str]], "tuple[int, Optional[ProjectEvents]]"]

WORKSPACE_PREFIX = "workspace:"  # a workspace's key among the due times


@dataclass
class Watched:
    """What one watch found.

    Attributes:
        projects: Projects whose events showed a change, or whose token expired.
        workspaces: Workspaces (workspace mode) whose events showed a change.
        requests: Requests made.
    """

    projects: Set[str] = field(default_factory=set)
    workspaces: Set[str] = field(default_factory=set)
    requests: int = 0

    def changed(self) -> bool:
        return bool(self.projects or self.workspaces)


class Watcher:
    """Reads events from the stored tokens, busiest projects first, within a budget per watch.

    Args:
        client: The session's client (its rate limiter paces these requests with the runs').
        shortest_s: How soon a project whose events showed a change is read again.
        longest_s: The longest a quiet project waits to be read again, however many projects;
            a few projects wait no longer than one round of reads at `reads_per_s`.
        reads_per_s: The reads per second the watcher may make (its share of the quota);
            None reads every project every `shortest_s`, as without a quota.
        clock: Monotonic time, injectable for tests.
        read_project: Reads a project's events from a token (Asana's, through `client`, unless given).
        read_workspace: Reads a workspace's events from a token (likewise).
    """

    def __init__(
        self,
        client: Optional[AsanaClient],
        shortest_s: float,
        longest_s: float,
        reads_per_s: Optional[float] = None,
        clock: Callable[[], float] = time.monotonic,
        read_project: Optional[ReadProject] = None,
        read_workspace: Optional[ReadWorkspace] = None,
    ) -> None:
        self.shortest_s, self.longest_s, self.reads_per_s, self.clock = shortest_s, longest_s, reads_per_s, clock
        self.read_project: ReadProject = read_project or (lambda project, sync: read_project_events(client, project, sync))  # type: ignore[arg-type]
        self.read_workspace: ReadWorkspace = read_workspace or (
            lambda gid, sync: read_stream(client, f"/workspaces/{gid}/events", {}, sync, f"GET /workspaces/{gid}/events")  # type: ignore[arg-type]
        )
        self._due: Dict[str, float] = {}
        self._interval: Dict[str, float] = {}

    def watch(
        self,
        stored: Dict[str, Dict[str, Dict[str, Any]]],
        projects: Dict[str, Dict[str, Any]],
        budget: int,
        busy: Optional[Set[str]] = frozenset(),
    ) -> Watched:
        """One look at the streams that are due, spending at most `budget` requests.

        Args:
            stored: The entries the last load stored (`state.stored_entries`).
            projects: The projects the last run listed, gid -> record.
            budget: Requests this watch may make.
            busy: Projects and workspaces whose events a run is loading now, left alone: read
                from the stored token they would show that run's changes again (None: every
                stream is being loaded).
        """
        found = Watched()
        if busy is None:
            return found
        now = self.clock()
        covered = {gid for gid, entry in stored["workspaces"].items() if entry.get("sync")}
        for gid in sorted(covered):
            if found.requests >= budget:
                return found
            if gid in busy or self._due.get(WORKSPACE_PREFIX + gid, 0.0) > now:
                continue
            found.requests += 1
            status, events = self.read_workspace(gid, stored["workspaces"][gid]["sync"])
            self._due[WORKSPACE_PREFIX + gid] = now + self.shortest_s
            if status != 200 or (events is not None and events.seen):  # a change, or a token to take again
                found.workspaces.add(gid)
        own = [p for p in projects.values() if _workspace(p) not in covered]
        # A quiet project waits at most as long as the watcher's share takes to read every project once.
        rounds = len(own) / self.reads_per_s if self.reads_per_s else 0.0
        longest = min(self.longest_s, max(self.shortest_s, rounds))
        waiting = [p for p in own if self._due.get(p["gid"], 0.0) <= now and p["gid"] not in busy]
        for project in sorted(waiting, key=lambda p: self._priority(p["gid"], now, longest))[: max(0, budget - found.requests)]:
            found.requests += 1
            entry = stored["projects"].get(project["gid"], {})
            events = self.read_project(project, entry.get("sync"))
            changed = events is not None and bool(events.seen or events.reconcile)
            if changed:
                found.projects.add(project["gid"])
            self._reschedule(project["gid"], changed, now, longest)
        return found

    def _priority(self, gid: str, now: float, longest: float) -> "tuple[int, float, float]":
        """Starved projects first (overdue by more than the longest wait: a busy organization
        never keeps a quiet project from being read), then the busiest (shortest interval),
        then the longest overdue."""
        due = self._due.get(gid, 0.0)
        return (0 if now - due > longest else 1, self._interval.get(gid, self.shortest_s), due)

    def _reschedule(self, gid: str, changed: bool, now: float, longest: float) -> None:
        interval = self._interval.get(gid, self.shortest_s)
        interval = self.shortest_s if changed else min(interval * 2, longest)
        self._interval[gid] = interval
        self._due[gid] = now + interval


def _workspace(project: Dict[str, Any]) -> str:
    return str((project.get("workspace") or {}).get("gid") or "")
