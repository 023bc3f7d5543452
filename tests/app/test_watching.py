"""The watching thread of follow mode, with fake streams and no HTTP: it hands over each change
once, wakes the follower, and leaves alone the streams a cycle is loading."""

import threading
from typing import Any, Dict, List, Optional, Set

import pytest

from asana_app.watching import Watching, not_yet_loaded
from asana_dlt.events import ProjectEvents
from asana_dlt.watch import Watched, Watcher

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


def tokens(**sync: str) -> Dict[str, Dict[str, Any]]:
    return {"projects": {gid: {"sync": token} for gid, token in sync.items()}, "workspaces": {"w1": {"sync": "w"}}}


@pytest.mark.parametrize("case, stored, busy, projects, workspaces", [
    ("nothing loaded meanwhile: every change is handed over", tokens(p1="t0", p2="t0"), set(), {"p1", "p2"}, {"w1"}),
    ("a cycle is loading p1: it loads that change", tokens(p1="t0", p2="t0"), {"p1"}, {"p2"}, {"w1"}),
    ("a cycle loading the workspace's events loads its change", tokens(p1="t0", p2="t0"), {"w1"}, {"p1", "p2"}, set()),
    ("a cycle stored a newer token for p2: the read saw what it loaded", tokens(p1="t0", p2="t1"), set(), {"p1"}, {"w1"}),
    ("a cycle is loading every stream", tokens(p1="t0", p2="t0"), None, set(), set()),
])
def test_a_watch_hands_over_only_what_no_cycle_has_loaded_since(
    case: str, stored: Dict[str, Any], busy: Optional[Set[str]], projects: Set[str], workspaces: Set[str]
) -> None:
    found = Watched({"p1", "p2"}, {"w1"}, 3)
    kept = not_yet_loaded(found, tokens(p1="t0", p2="t0"), stored, busy)
    assert (kept.projects, kept.workspaces, kept.requests) == (projects, workspaces, 3), case


def test_a_cycle_that_starts_takes_over_what_was_found_of_its_streams() -> None:
    """Found between the follower's take and its cycle's start: that cycle loads it, and no second
    cycle is started for it."""
    streams, wake, beats = Streams(), threading.Event(), []
    streams.changed = {"p1", "p2"}
    thread = watching(streams, wake, beats)
    thread.loaded({"projects": {}, "workspaces": {}}, projects("p1", "p2"))
    thread.start()
    try:
        assert wake.wait(30), "no change found"
        thread.loading({"p1"})  # a cycle starts for p1 before the follower took what was found
        found = thread.take()[0].projects
        assert "p1" not in found and "p2" in found, found
    finally:
        thread.stop()
