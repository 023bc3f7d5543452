"""What a long-running process keeps between runs of the source (follow mode).

A scheduled run starts from nothing but dlt's state; a process that loads every few seconds can
keep more, and must, for an idle run to cost almost nothing: one client (one connection pool,
one rate limiter, so the quota holds across runs), and what each table listed whole held when
it was last written, so a table whose content did not change is not written again
(`unchanged.py`). What the next run needs to be right stays in dlt's state; a `Session` only
saves work, and a new process starts without one.
"""

import threading
from typing import Any, Dict, Hashable, Optional, Set


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
    """

    def __init__(self) -> None:
        self.targets: Optional[Set[str]] = None
        self.full = True
        self.projects: Dict[str, Dict[str, Any]] = {}
        self.requests_per_minute: float = 0.0  # the runs' quota, which the caller's own reads share
        self._lock = threading.Lock()
        self._client: Any = None
        self._client_key: Optional[Hashable] = None
        self._written: Dict[str, Dict[str, str]] = {}  # table -> parent key -> content fingerprint
        self._pending: Dict[str, Dict[str, str]] = {}
        self.last_run: Any = None  # the last run's collaborators (`context.SourceRun`), to report on

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

    def committed(self) -> None:
        """The run's load committed: its tables' content is what the destination now holds."""
        with self._lock:
            self._written.update(self._pending)
            self._pending = {}

    def abandoned(self) -> None:
        """The run failed: what it found is not what the destination holds."""
        with self._lock:
            self._pending = {}
