"""Between the runs of a long-running process: which projects' events say something changed.

A run reads each project's (or workspace's) events from the token the last load stored and
stores the newer one with its own load. Between runs, a `Watcher` reads the same streams from
the same stored tokens and stores nothing: a change makes the caller start a run, which reads
the events again and loads them; nothing changed costs one events request, and no load.

A workspace with its own events (workspace mode) is one request. Otherwise each project is one,
and a big organization's projects cannot all be read every few seconds within the quota: each
project is read again after an interval that falls to the shortest when its events show a
change and grows, up to the longest, while they do not: by a quarter for a project seen changing
once, more slowly the more changes it has shown lately. So the busiest projects are read most
often, and stay so between their edits. The longest is what the reads the busy projects leave
take to read every quiet project once (at most `longest_s`); every watch spends at most its
budget of requests.
"""

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Set

from .events import ProjectEvents, read_project_events, read_stream
from .helpers import AsanaClient
from .rate_limit import RateLimiter

ReadProject = Callable[[Dict[str, Any], Optional[str]], Optional[ProjectEvents]]
ReadWorkspace = Callable[[str, Optional[str]], "tuple[int, Optional[ProjectEvents]]"]

WORKSPACE_PREFIX = "workspace:"  # a workspace's key among the due times
# Share of the reads the busy projects leave that the quiet ones are planned for: the rest
# absorbs the bunching of their due times (at 80%, quiet projects waited ~15% longer in an
# offline run of the freshness bench's edits at 2,000 projects, with no clear gain for the busy ones).
QUIET_SLACK = 0.9
# How much longer a project that changed waits after each read that shows no change: a project
# edited every half minute stays read every 5-10 s (doubling put it back among the quiet after
# two empty reads, and the busiest projects waited as long as the rest).
QUIET_GROWTH = 1.25
# A project's changes seen, each weighing half as much an hour later: the more often it changes,
# the slower its interval grows (QUIET_GROWTH ** (1 / changes)). A project edited every minute
# stays read every few seconds between its edits; one edited once grows back as before.
CHANGES_HALF_LIFE_S = 3600.0


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
        client: The session's client (its rate limiter holds these requests and the runs' to the
            quota; with `reads_per_s`, a limiter of the watcher's own holds these to its share).
        shortest_s: How soon a project whose events showed a change is read again.
        longest_s: The longest a quiet project waits to be read again, however many projects;
            a few projects wait no longer than one round of reads at `reads_per_s`.
        reads_per_s: The reads per second the watcher may make (its share of the quota);
            None reads every project every `shortest_s`, as without a quota.
        clock: Monotonic time, injectable for tests.
        read_project: Reads a project's events from a token (Asana's, through `client`, unless given).
        read_workspace: Reads a workspace's events from a token (likewise).
        workers: Projects' events read at once (the client's limiter still paces them).
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
        workers: int = 1,
    ) -> None:
        self.shortest_s, self.longest_s, self.reads_per_s, self.clock = shortest_s, longest_s, reads_per_s, clock
        self.read_project: ReadProject = read_project or (lambda project, sync: read_project_events(client, project, sync))  # type: ignore[arg-type]
        self.read_workspace: ReadWorkspace = read_workspace or (
            lambda gid, sync: read_stream(client, f"/workspaces/{gid}/events", {}, sync, f"GET /workspaces/{gid}/events")  # type: ignore[arg-type]
        )
        self._due: Dict[str, float] = {}
        self._interval: Dict[str, float] = {}
        self._changes: Dict[str, "tuple[float, float]"] = {}  # gid -> (changes seen, decayed to when)
        self._quiet = longest_s  # the quiet projects' interval, as last planned
        # Reads side by side: one at a time, Asana's ~50 ms per request would cap them at ~20/s.
        self._reads = ThreadPoolExecutor(workers, thread_name_prefix="asana-dlt-events") if workers > 1 else None
        # Paced to their share, before the limiter they share with the runs: reads that took every
        # token as it came would starve a run's batch request, which needs ten at once.
        self._pace = RateLimiter(reads_per_s * 60, max_concurrency=workers) if reads_per_s and client else None

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
        longest = self._longest(own)
        waiting = [p for p in own if self._due.get(p["gid"], 0.0) <= now and p["gid"] not in busy]
        chosen = sorted(waiting, key=lambda p: self._priority(p["gid"], now))[: max(0, budget - found.requests)]
        read = lambda project: self._paced(project, stored["projects"].get(project["gid"], {}).get("sync"))  # noqa: E731
        for project, events in zip(chosen, self._reads.map(read, chosen) if self._reads else map(read, chosen)):
            found.requests += 1
            changed = events is not None and bool(events.seen or events.reconcile)
            if changed:
                found.projects.add(project["gid"])
            self._reschedule(project["gid"], changed, now, longest)
        return found

    def due_in(self, busy: Optional[Set[str]] = frozenset()) -> float:
        """Seconds until the next stream not in `busy` is due (0 if one is; at most the shortest
        interval): how long a reader may rest without making a busy project wait for it."""
        busy = busy or set()
        due = [at for key, at in self._due.items() if key.removeprefix(WORKSPACE_PREFIX) not in busy]
        return max(0.0, min([*due, self.clock() + self.shortest_s]) - self.clock())

    def _paced(self, project: Dict[str, Any], sync: Optional[str]) -> Optional[ProjectEvents]:
        if self._pace is None:
            return self.read_project(project, sync)
        self._pace.acquire()
        try:
            return self.read_project(project, sync)
        finally:
            self._pace.release()

    def close(self) -> None:
        """Ends the reading threads (a watch in progress finishes its reads)."""
        if self._reads is not None:
            self._reads.shutdown(wait=False, cancel_futures=True)

    def _longest(self, own: List[Dict[str, Any]]) -> float:
        """How long a quiet project may wait: what the reads the busy projects leave (those seen
        changing, each at its own interval) take to read the quiet ones once, at `QUIET_SLACK` of
        them (at least the shortest interval, at most `longest_s`)."""
        if not self.reads_per_s:
            return self.shortest_s
        hot = [self._interval[p["gid"]] for p in own if p["gid"] in self._changes and self._interval[p["gid"]] < self._quiet]
        left = (self.reads_per_s - sum(1 / interval for interval in hot)) * QUIET_SLACK
        rounds = (len(own) - len(hot)) / left if left > 0 else self.longest_s
        self._quiet = min(self.longest_s, max(self.shortest_s, rounds))
        return self._quiet

    def _priority(self, gid: str, now: float) -> "tuple[float, float]":
        """The most overdue for their own interval first, counting from a shortest interval before
        they were due: a busy project (read every few seconds) that is due goes before a quiet
        one (read every minute or two) until that one is late by about its own interval, so
        when the quota cannot keep up with every project the busiest still come first, and a
        quiet project's turn still comes."""
        due = self._due.get(gid, 0.0)
        return (-(now - due + self.shortest_s) / self._interval.get(gid, self.shortest_s), due)

    def _reschedule(self, gid: str, changed: bool, now: float, longest: float) -> None:
        """A change: read again after the shortest interval. None: a project never seen changing
        waits the longest; one that changed waits longer each time, by a quarter after one change
        and by less the more it has shown (`QUIET_GROWTH ** (1 / changes)`, each change weighing
        half as much an hour later), so a project edited every minute is not left among the
        quiet during a pause of a few minutes."""
        interval = self._interval.get(gid)
        seen, when = self._changes.get(gid, (0.0, now))
        seen *= 0.5 ** ((now - when) / CHANGES_HALF_LIFE_S)
        if changed:
            interval, seen = self.shortest_s, seen + 1
            self._changes[gid] = (seen, now)
        elif interval is None:
            interval = longest
        else:
            interval = min(interval * QUIET_GROWTH ** (1 / max(1.0, seen)), longest)
        self._interval[gid] = interval
        self._due[gid] = now + interval


def _workspace(project: Dict[str, Any]) -> str:
    return str((project.get("workspace") or {}).get("gid") or "")
