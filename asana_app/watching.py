"""Follow mode's eyes: Asana's events read on a thread of their own, while cycles load.

A watch that waits for the cycle before it, and a cycle that waits for the watch, add their times
to every edit's way into the warehouse: at 2,000 projects one watch sweep of every project's
events takes over a minute of quota, and an edit seen at its start waited for its end. Here the
sweep never stops (paced to its share of the quota, so the cycles keep the rest), each change is
handed over within about a second, and the next cycle starts as soon as the one before it has
committed.
"""

import threading
from typing import Any, Callable, Dict, Optional, Set

from asana_dlt.helpers import AsanaClient
from asana_dlt.watch import Watched, Watcher

Stored = Dict[str, Dict[str, Dict[str, Any]]]

# Events reads in flight at once: one at a time, Asana's ~50 ms per request allows under 20/s,
# the share a paid quota plans for; four keep up, and the watcher's own pace holds them to it.
READERS = 4
# The shortest rest between watches that found nothing more due: a watch sorts every project,
# so a reader does not spin while the next one falls due.
MIN_REST_S = 0.2


def watch_rate(requests_per_minute: float, share: float) -> Optional[float]:
    """Reads per second the watches plan for: their share of the quota (None: no quota, no limit).

    Why a share: the cycles' requests wait in the same limiter, and a plan at the whole quota
    would leave every quiet project overdue, so none would be read on time and the busiest
    would lose their turn to the starved."""
    return requests_per_minute / 60 * share if requests_per_minute else None


def reads_per_watch(reads_per_s: Optional[float]) -> int:
    """Reads one watch makes before what it found is handed over: about a second's worth."""
    return max(1, int(reads_per_s)) if reads_per_s else 1_000_000


class Watching:
    """A daemon thread that reads events from the tokens the last load stored, leaving alone the
    streams a cycle is loading, and keeps what changed until the follower takes it.

    Args:
        client: The client the cycles use (its limiter holds both to the quota).
        interval_s: How soon a changed project is read again; how long the thread rests when
            nothing is due.
        longest_s: The longest a quiet project waits to be read.
        requests_per_minute: The quota (0: none).
        share: The share of the quota the watches plan for (`watch_rate`).
        wake: Set when a change was found or a read failed, so the follower need not poll.
        beat: Called after each watch with the requests it made (the heartbeat).
        stopped: Set when following is to end: no more reads, so the cycle in progress has the
            whole quota to finish.
    """

    def __init__(
        self,
        client: AsanaClient,
        interval_s: float,
        longest_s: float,
        requests_per_minute: float,
        share: float,
        wake: threading.Event,
        beat: Callable[[int], None],
        stopped: Optional[threading.Event] = None,
    ) -> None:
        rate = watch_rate(requests_per_minute, share)
        self.watcher = Watcher(client, interval_s, longest_s, reads_per_s=rate, workers=READERS)
        self.interval_s, self.budget, self.wake, self.beat = interval_s, reads_per_watch(rate), wake, beat
        self._lock = threading.Lock()
        self._stored: Stored = {"projects": {}, "workspaces": {}}
        self._projects: Dict[str, Dict[str, Any]] = {}
        self._busy: Optional[Set[str]] = set()
        self._found = Watched()
        self._failure: Optional[Exception] = None
        self._stopping = threading.Event()
        self.stopped = stopped or threading.Event()
        self._thread = threading.Thread(target=self._run, name="asana-dlt-watch", daemon=True)

    def start(self) -> "Watching":
        """Starts reading, from the tokens given to `loaded`."""
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=60)
        self.watcher.close()

    def loading(self, busy: Optional[Set[str]]) -> None:
        """A cycle starts: the projects and workspaces whose events it loads (None: all). What a
        watch found of them since the last take, the cycle loads: it is not handed over again."""
        with self._lock:
            self._busy = None if busy is None else set(busy)
            if busy is None:
                self._found = Watched(requests=self._found.requests)
            else:
                self._found.projects -= busy
                self._found.workspaces -= busy

    def loaded(self, stored: Stored, projects: Dict[str, Dict[str, Any]]) -> None:
        """A cycle committed (or failed): read on from the tokens the destination now holds."""
        with self._lock:
            self._stored, self._projects, self._busy = stored, dict(projects), set()

    def take(self) -> "tuple[Watched, Optional[Exception]]":
        """What changed since the last take, and a read's failure (each handed over once)."""
        with self._lock:
            found, failure = self._found, self._failure
            self._found, self._failure = Watched(), None
        return found, failure

    def _run(self) -> None:
        while not self._stopping.is_set() and not self.stopped.is_set():
            with self._lock:
                stored, projects, busy = self._stored, self._projects, self._busy
            try:
                found = self.watcher.watch(stored, projects, self.budget, busy)
            except Exception as exc:  # the follower decides: a rejected token ends following
                with self._lock:
                    self._failure = exc
                self.wake.set()
                self._stopping.wait(self.interval_s)
                continue
            with self._lock:
                found = not_yet_loaded(found, stored, self._stored, self._busy)
                self._found.projects |= found.projects
                self._found.workspaces |= found.workspaces
                self._found.requests += found.requests
            if found.changed():
                self.wake.set()
            self.beat(found.requests)
            if found.requests < self.budget:  # nothing more is due: rest until the next stream is
                self._stopping.wait(max(MIN_REST_S, self.watcher.due_in(busy)) if busy is not None else self.interval_s)


def not_yet_loaded(found: Watched, read_from: Stored, stored: Stored, busy: Optional[Set[str]]) -> Watched:
    """What a watch found, less what a cycle that started or committed meanwhile covers: a stream
    it is loading, or one read from a token it has since replaced (that read saw the changes
    the cycle loaded). Handed over, they started cycles that loaded nothing: by hand, at 20
    projects, a cycle for one project right after the full cycle that had loaded its change."""
    def fresh(kind: str, gids: Set[str]) -> Set[str]:
        if busy is None:
            return set()
        return {gid for gid in gids if gid not in busy
                and stored[kind].get(gid, {}).get("sync") == read_from[kind].get(gid, {}).get("sync")}

    return Watched(fresh("projects", found.projects), fresh("workspaces", found.workspaces), found.requests)
