"""Keeps the loader's resident memory near what it actually uses (docs/configuration.md, memory settings).

A full load's live Python objects stay small (tens of MB: the extract streams pages to disk), but
glibc's malloc kept ~140 MB of freed memory at 20k tasks: each of the extract's 50 threads
allocates in one of up to 8 arenas per core, and memory freed in an arena stays mapped there.
Two arenas keep the freed memory where the next allocation reuses it. Only the CLI (and the
bench, which measures what the CLI runs) calls this: the source itself, copied into a user's
project by `dlt init`, leaves the process's allocator alone. The same goes for the garbage
collector's thresholds (`tune_gc`), a CPU setting that also keeps the forked extract's pages shared.
"""

import ctypes
import ctypes.util
import gc
import multiprocessing
import os
import signal
import sys
import threading
import traceback
from typing import Any, Callable, Optional, Tuple, TypeVar

T = TypeVar("T")

# mallopt's parameter number for the arena cap (glibc's malloc.h: M_ARENA_MAX).
_M_ARENA_MAX = -8
# Two arenas: with one, the 50 extract threads would queue on malloc's single lock.
MALLOC_ARENAS = 2
# The cyclic collector's thresholds for a load (Python's are 700, 10, 10). A load allocates a few
# dicts per field of every record, none of them in a cycle (refcounting frees them), yet each 700
# allocations started a collection, and every 70,000 one of the whole heap: 15% of a 20k-task
# run's CPU went to them (4.7 of 31 s), 0.3 s with these. Cyclic garbage still goes, later.
GC_THRESHOLDS = (50_000, 20, 100)
# prctl's option number for "signal me when my parent dies" (linux/prctl.h: PR_SET_PDEATHSIG).
_PR_SET_PDEATHSIG = 1


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


def tune_gc(thresholds: Tuple[int, int, int] = GC_THRESHOLDS) -> None:
    """Makes Python's cyclic garbage collector run rarely for the rest of a load's process.

    `gc.freeze` moves what is alive now (the imported modules) out of the collector's view, so
    the collections left do not walk it, and a forked extract does not touch (copy) those pages.
    Only the command line and the bench call it: the process is theirs, not the source's.
    """
    gc.freeze()
    gc.set_threshold(*thresholds)


def release_freed() -> None:
    """Collects cyclic garbage and gives the heap's free pages back to the system, between the
    loads of a long-running process (follow mode's cycles).

    Why: with `tune_gc`'s thresholds a load's cyclic garbage (dlt's steps, schemas and configs
    hold cycles) waits for a rare full collection, and glibc keeps freed memory mapped in its
    arenas; over thousands of cycles both read as growth of the process's resident memory.
    """
    gc.collect()
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


def can_fork_steps() -> bool:
    """Whether `in_forked_child` runs its function in a child: Linux, and no thread started yet.

    Fork copies only the calling thread, so a process with other threads (a test's in-process
    simulator, an embedding app) would hand the child locks nobody releases; those run in place.
    """
    return sys.platform.startswith("linux") and threading.active_count() == 1


def in_forked_child(work: Callable[[], T], describe: Callable[[BaseException], Optional[str]]) -> T:
    """Runs `work` in a forked child and returns its result, so its heap leaves with it.

    Why: a full load's extract and normalize leave ~130 MB of freed but still mapped heap at
    100k tasks (glibc's and pymalloc's arenas; malloc_trim gave back ~40 MB of it), and DuckDB's
    load step then needs ~200 MB on top (docs/configuration.md, memory settings). Run in a child, that heap
    goes back to the system when the child exits, and the parent, which holds only what its
    imports need, does the load: the peak is the larger of the two, not their sum. The child
    shares the parent's imported pages (copy on write).

    Args:
        work: Returns a picklable result.
        describe: Turns what `work` raised into the one line the parent raises as
            `ChildStepError` (an exception's chain does not survive pickling, so the child
            names the cause); None means it was an interrupt, raised as KeyboardInterrupt.
    """
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    sys.stdout.flush()
    sys.stderr.flush()

    parent = os.getpid()

    def child() -> None:
        # Its own process group: a terminal's Ctrl-C reaches the parent alone, which passes on
        # exactly one SIGINT (dlt stops gracefully on the first and at once on a second).
        os.setpgid(0, 0)
        _die_with(parent)
        try:
            outcome: Tuple[str, Any] = ("ok", work())
        except BaseException as exc:  # every failure goes back to the parent as one line
            if os.environ.get("ASANA_DLT_DEBUG"):
                traceback.print_exc()
            outcome = ("error", describe(exc))
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
        send.send(outcome)

    process = context.Process(target=child, name="asana-extract")
    process.start()
    send.close()
    try:
        kind, value = receive.recv()
    except EOFError:  # killed (the OOM killer, kill -9) before it could answer
        process.join()
        raise ChildStepError(f"the extract process ended without a result (exit code {process.exitcode})") from None
    except KeyboardInterrupt:  # Ctrl-C, or `kill -INT <pid>`: the child stops gracefully on it
        if process.pid is not None and process.is_alive():
            os.kill(process.pid, signal.SIGINT)  # dlt stops the extract gracefully on it
        process.join()
        raise
    process.join()
    if kind == "error":
        if value is None:
            raise KeyboardInterrupt
        raise ChildStepError(value)
    return value


def _die_with(parent: int) -> None:
    """Asks Linux to kill this child when its parent dies, so a killed run leaves no orphan
    extract behind (its lock died with the parent; the next run would overlap it)."""
    libc = _glibc()
    if libc is not None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


class ChildStepError(Exception):
    """A failure of the forked child that could not travel as its own exception."""
