"""Event streams (``GET /events``): placeholder until sync tokens land."""
from __future__ import annotations

from typing import Any, Callable

from .store import Store

EVENT_ROUTES: list[tuple[str, str, Callable[..., Any]]] = []


class EventLog:
    """Records changes for ``/events``."""

    def __init__(self, store: Store, clock: Callable[[], float]) -> None:
        self.store = store
        self.clock = clock

    def record(self, *args: Any, **kwargs: Any) -> None:
        """No-op until events are implemented."""
