"""Time helpers: Asana's timestamp format and an injectable clock.

Generated data lives before a fixed base derived from the seed (so it is reproducible),
while writes stamp the real current time (so ``modified_since`` sees them).
"""
from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Callable

Clock = Callable[[], float]

EPOCH_BASE_MS = 1717200000000  # 2024-06-01T00:00:00Z


def fmt_ms(ms: int) -> str:
    """Format epoch milliseconds the way Asana does: ``2024-02-22T02:06:58.147Z``."""
    dt = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return f"{dt:%Y-%m-%dT%H:%M:%S}.{ms % 1000:03d}Z"


def now_iso(clock: Clock = time.time) -> str:
    """The current time in Asana's format, from the given clock."""
    return fmt_ms(int(clock() * 1000))


def parse_iso(value: str) -> str | None:
    """Normalise a client timestamp to Asana's format so string comparison orders correctly.

    Returns None when the value is not an ISO 8601 date-time (callers answer 400).
    """
    try:
        text = value.strip().replace("Z", "+00:00")
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return fmt_ms(int(round(dt.timestamp() * 1000)))
