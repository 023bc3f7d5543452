"""What a long-running process keeps between runs of the source (follow mode).

A scheduled run starts from nothing but dlt's state; a process that loads every few seconds can
keep more, and must, for an idle run to cost almost nothing: one client (one connection pool,
one rate limiter, so the quota holds across runs), and what each table listed whole held when
it was last written, so a table whose content did not change is not written again
(`unchanged.py`). What the next run needs to be right stays in dlt's state; a `Session` only
saves work, and a new process starts without one.
"""

import threading
from typing import Any, Dict, Hashable, Iterable, List, Optional, Set

Rows = List[Dict[str, Any]]


class Session:
    """Kept by a long-running caller and handed to each `asana_source(session=...)` it runs.

    Attributes:
        targets: The projects whose tasks the next run reads (their events said they changed);
            None reads every project as a scheduled run does. Set by the caller per run.
        full: The next run lists the tables that have no change events (users, teams, tags,
            the catalog's) as a scheduled run does; False keeps them as last written, for a run
            made because events showed a change. Set by the caller per run.
        projects: The projects the last run listed, gid -> record (for reading their events
            between runs).
        parts_per_run: How many parents' parts of each table listed per parent (a project's
            custom field settings, memberships, status updates) a full run lists; the others are
            the rows last listed, kept by the session, and the least recently listed go first, so
            every part is listed again within a few runs. None lists every part every full run
            (what a scheduled run does); a big organization's follow mode sets it, or its full
            runs would spend minutes of quota on tables that rarely change.
    """

    def __init__(self) -> None:
        self.targets: Optional[Set[str]] = None
        self.full = True
        self.projects: Dict[str, Dict[str, Any]] = {}
        self.requests_per_minute: float = 0.0  # the runs' quota, which the caller's own reads share
        self.parts_per_run: Optional[int] = None
        self._runs = 0  # committed runs, to tell which parts were listed longest ago
        self._held: Dict[str, Dict[str, Rows]] = {}  # table -> parent key -> rows last listed
        self._listed_run: Dict[str, Dict[str, int]] = {}  # table -> parent key -> run that listed it
        self._pending_held: Dict[str, "tuple[Dict[str, Rows], Set[str]]"] = {}
        self._due: Dict[str, "tuple[int, Set[str]]"] = {}  # table -> (run, parts it lists)
        self._lock = threading.Lock()
        self._client: Any = None
        self._client_key: Optional[Hashable] = None
        self._written: Dict[str, Dict[str, str]] = {}  # table -> parent key -> content fingerprint
        self._pending: Dict[str, Dict[str, str]] = {}

    def client(self, key: Hashable, create: Any) -> Any:
        """The client of earlier runs with the same settings, or a new one (`create()`)."""
        with self._lock:
            if self._client is None or self._client_key != key:
                self._client, self._client_key = create(), key
            return self._client

    def current_client(self) -> Any:
        """The client the runs share (None before the first run), for the caller's own reads."""
        with self._lock:
            return self._client

    def written(self, table: str) -> Dict[str, str]:
        """Fingerprints of what a table held when last written, per parent key (empty: never)."""
        with self._lock:
            return dict(self._written.get(table, {}))

    def wrote(self, table: str, fingerprints: Dict[str, str]) -> None:
        """A table's content this run, written or found unchanged; kept once the load commits."""
        with self._lock:
            self._pending[table] = dict(fingerprints)

    def due(self, table: str, key: str) -> bool:
        """Whether this run lists a parent's part of `table`: always when no rows are kept for it;
        else when it is among the `parts_per_run` parts listed longest ago (every one when None)."""
        with self._lock:
            held = self._held.get(table, {})
            if self.parts_per_run is None or key not in held:
                return True
            cached = self._due.get(table)
            if cached is None or cached[0] != self._runs:
                listed = self._listed_run.get(table, {})
                oldest = sorted(held, key=lambda k: (listed.get(k, -1), k))[: self.parts_per_run]
                cached = self._due[table] = (self._runs, set(oldest))
            return key in cached[1]

    def held(self, table: str, key: str) -> Optional[Rows]:
        """The rows of a parent's part as last listed (None when not kept)."""
        with self._lock:
            return self._held.get(table, {}).get(key)

    def hold(self, table: str, listed: Dict[str, Rows], keys: Iterable[str]) -> None:
        """Parts of a table this run (called per page of parents): the rows of those listed,
        among every parent seen (`keys`); kept once the load commits, parents gone dropped."""
        with self._lock:
            rows, seen = self._pending_held.setdefault(table, ({}, set()))
            rows.update(listed)
            seen.update(keys)

    def committed(self) -> None:
        """The run's load committed: its tables' content is what the destination now holds."""
        with self._lock:
            self._written.update(self._pending)
            self._pending = {}
            self._runs += 1
            for table, (listed, keys) in self._pending_held.items():
                held = {k: v for k, v in self._held.get(table, {}).items() if k in keys}
                held.update(listed)
                self._held[table] = held
                runs = {k: v for k, v in self._listed_run.get(table, {}).items() if k in keys}
                runs.update({k: self._runs for k in listed})
                self._listed_run[table] = runs
            self._pending_held = {}

    def abandoned(self) -> None:
        """The run failed: what it found is not what the destination holds."""
        with self._lock:
            self._pending = {}
            self._pending_held = {}
