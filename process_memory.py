"""Keeps the loader's resident memory near what it actually uses (README, Performance: Memory).

A full load's live Python objects stay small (tens of MB: the extract streams pages to disk), but
glibc's malloc kept ~140 MB of freed memory at 20k tasks: each of the extract's 50 threads
allocates in one of up to 8 arenas per core, and memory freed in an arena stays mapped there.
Two arenas keep the freed memory where the next allocation reuses it. Only the CLI (and the
bench, which measures what the CLI runs) calls this: the source itself, copied into a user's
project by `dlt init`, leaves the process's allocator alone.
"""

import ctypes
import ctypes.util
import os
import sys
from typing import Optional

# mallopt's parameter number for the arena cap (glibc's malloc.h: M_ARENA_MAX).
_M_ARENA_MAX = -8
# Two arenas: with one, the 50 extract threads would queue on malloc's single lock.
MALLOC_ARENAS = 2


def _glibc() -> Optional[ctypes.CDLL]:
    """glibc, or None on other platforms (macOS, Windows, musl), where nothing is tuned."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version  # only glibc has it (musl's mallopt ignores M_ARENA_MAX)
    except (OSError, AttributeError):
        return None
    return libc


def cap_malloc_arenas(arenas: int = MALLOC_ARENAS) -> bool:
    """Caps glibc's malloc arenas, the same as `MALLOC_ARENA_MAX` in the environment would.

    Must run before the extract starts its threads: arenas already made stay. Returns whether
    the cap was applied (False off glibc, or when the environment already sets one).
    """
    libc = _glibc()
    if libc is None or os.environ.get("MALLOC_ARENA_MAX"):
        return False
    return bool(libc.mallopt(_M_ARENA_MAX, arenas))
