"""The watching thread of follow mode, with fake streams and no HTTP: it hands over each change
once, wakes the follower, and leaves alone the streams a cycle is loading."""

import threading
from typing import Any, Dict, List, Optional, Set

from asana_app.watching import Watching
from asana_dlt.events import ProjectEvents
from asana_dlt.watch import Watcher

WS = "w1"


class Streams:
    """Per-project events: which projects have changes, and every read made (thread-safe)."""

    def __init__(self) -> None:
        self.changed: Set[str] = set()
        self.reads: List[str] = []
        self.lock = threading.Lock()
        self.read = threading.Event()

    def project(self, record: Dict[str, Any], sync: Optional[str]) -> ProjectEvents:
        with self.lock:
            self.reads.append(record["gid"])
            self.read.set()
            return ProjectEvents(sync="next", seen=1 if record["gid"] in self.changed else 0)


def projects(*gids: str) -> Dict[str, Dict[str, Any]]:
    return {gid: {"gid": gid, "workspace": {"gid": WS}} for gid in gids}


def watching(streams: Streams, wake: threading.Event, beats: List[int]) -> Watching:
    started = Watching(None, 0.01, 1.0, 0, 0.8, wake, beats.append)  # type: ignore[arg-type]
    started.watcher = Watcher(None, 0.01, 1.0, read_project=streams.project)
    return started


def test_a_change_wakes_the_follower_and_is_handed_over_once() -> None:
    streams, wake, beats = Streams(), threading.Event(), []
    streams.changed = {"p2"}
    thread = watching(streams, wake, beats)
    thread.loaded({"projects": {}, "workspaces": {}}, projects("p1", "p2"))
    thread.start()
    try:
        assert wake.wait(30), "no change handed over"
        found, failure = thread.take()
        assert failure is None and "p2" in found.projects and "p1" not in found.projects
        assert beats and found.requests >= 2
    finally:
        thread.stop()


def test_the_streams_a_cycle_loads_are_left_alone_until_it_has_committed() -> None:
    streams, wake, beats = Streams(), threading.Event(), []
    thread = watching(streams, wake, beats)
    thread.loaded({"projects": {}, "workspaces": {}}, projects("p1", "p2"))
    thread.loading({"p1"})  # a cycle is loading p1
    thread.start()
    try:
        for _ in range(3):  # three rounds of reads while the cycle loads p1
            assert streams.read.wait(30)
            with streams.lock:
                streams.read.clear()
        with streams.lock:
            assert "p1" not in streams.reads and "p2" in streams.reads, streams.reads
        streams.changed = {"p1"}
        thread.loaded({"projects": {}, "workspaces": {}}, projects("p1", "p2"))  # committed: p1 is read again
        assert wake.wait(30)
        assert "p1" in thread.take()[0].projects
    finally:
        thread.stop()


def test_a_failed_read_is_handed_to_the_follower() -> None:
    wake, beats = threading.Event(), []

    def failing(record: Dict[str, Any], sync: Optional[str]) -> ProjectEvents:
        raise RuntimeError("Asana answered 500")

    thread = Watching(None, 0.01, 1.0, 0, 0.8, wake, beats.append)  # type: ignore[arg-type]
    thread.watcher = Watcher(None, 0.01, 1.0, read_project=failing)
    thread.loaded({"projects": {}, "workspaces": {}}, projects("p1"))
    thread.start()
    try:
        assert wake.wait(30)
        found, failure = thread.take()
        assert isinstance(failure, RuntimeError) and not found.changed()
    finally:
        thread.stop()
