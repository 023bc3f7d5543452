"""Write endpoints: placeholder."""
from __future__ import annotations

from typing import Any, Callable

WRITE_ROUTES: list[tuple[str, str, Callable[..., Any]]] = []
