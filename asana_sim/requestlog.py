"""In-memory log of API requests, the ground truth for tests and benchmarks."""
from __future__ import annotations

import threading
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class RequestRecord:
    """One API request as the server saw it.

    ``path`` has no ``/api/1.0`` prefix; ``status`` is 0 when the connection was dropped.
    """

    method: str
    path: str
    params: dict[str, str]
    status: int
    duration_s: float
    started_s: float = 0.0
    """`time.perf_counter()` when the request arrived: lets benchmarks see concurrency over time."""
    batch: int = 0
    """The number of the `POST /batch` HTTP request that carried this action; 0 for a direct request."""


class RequestLog:
    """Append-only, thread-safe; cheap enough for ~100k benchmark requests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[RequestRecord] = []
        self._status: Counter[int] = Counter()

    def add(self, rec: RequestRecord) -> None:
        with self._lock:
            self._items.append(rec)
            self._status[rec.status] += 1

    def items(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._items)

    def reset(self) -> None:
        with self._lock:
            self._items.clear()
            self._status.clear()

    def counters(self) -> dict[str, Any]:
        with self._lock:
            return {"requests": len(self._items), "status": dict(self._status)}

    def http_requests(self) -> int:
        """HTTP requests the server answered: direct ones plus one per batch (whose actions are
        logged one record each)."""
        with self._lock:
            return http_requests(self._items)

    def as_json(self) -> list[dict[str, Any]]:
        return [asdict(r) for r in self.items()]


def http_requests(records: list[RequestRecord]) -> int:
    """HTTP requests behind these records: each direct one, and each batch once."""
    batches = {r.batch for r in records if r.batch}
    return sum(1 for r in records if not r.batch) + len(batches)
