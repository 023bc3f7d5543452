"""Which streams a follow-mode watch reads, and what it reports, as tables of cases without HTTP.

A `Watcher` reads events from the tokens the last load stored, busiest projects first, within a
budget per watch; here its reads are fakes that say which projects changed, on a fake clock.
"""

import random
from typing import Any, Dict, List, Optional, Set, Tuple

import pytest

from asana_dlt.events import ProjectEvents
from asana_dlt.watch import Watcher

WS, OTHER = "w1", "w2"


def project(gid: str, workspace: str = WS) -> Dict[str, Any]:
    return {"gid": gid, "name": gid, "workspace": {"gid": workspace}}


class Fake:
    """Asana's streams: which projects (or workspaces) have events now, and every read made."""

    def __init__(self) -> None:
        self.now = 0.0
        self.changed: Set[str] = set()
        self.expired: Set[str] = set()
        self.reads: List[str] = []

    def project(self, record: Dict[str, Any], sync: Optional[str]) -> Optional[ProjectEvents]:
        self.reads.append(record["gid"])
        if record["gid"] in self.expired:
            return ProjectEvents(sync="fresh", reconcile="its sync token expired")
        return ProjectEvents(sync="next", seen=1 if record["gid"] in self.changed else 0)

    def workspace(self, gid: str, sync: Optional[str]) -> Tuple[int, Optional[ProjectEvents]]:
        self.reads.append(gid)
        return 200, ProjectEvents(sync="next", seen=1 if gid in self.changed else 0)


def watcher(fake: Fake, interval: float = 5.0, longest: float = 300.0, reads_per_s: Optional[float] = None) -> Watcher:
    return Watcher(None, interval, longest, reads_per_s=reads_per_s, clock=lambda: fake.now, read_project=fake.project,
                   read_workspace=fake.workspace)


def stored(workspace_tokens: Dict[str, str]) -> Dict[str, Dict[str, Any]]:
    return {"projects": {}, "workspaces": {gid: {"sync": token} for gid, token in workspace_tokens.items()}}


CASES = [
    # (case, workspace tokens, projects, changed, budget, expected projects, expected workspaces, reads[, busy])
    ("a workspace with its own events: one read, none per project", {WS: "t"}, ["p1", "p2"], set(), 10, set(), set(), [WS]),
    ("its events show a change", {WS: "t"}, ["p1", "p2"], {WS}, 10, set(), {WS}, [WS]),
    ("per project: every project read when the budget allows", {}, ["p1", "p2", "p3"], {"p2"}, 10, {"p2"}, set(), ["p1", "p2", "p3"]),
    ("the budget caps the reads", {}, ["p1", "p2", "p3"], {"p3"}, 2, set(), set(), ["p1", "p2"]),
    ("an expired token counts as a change", {}, ["p1"], {"expired:p1"}, 10, {"p1"}, set(), ["p1"]),
    ("mixed: the workspace's events for its projects, reads for the others", {OTHER: "t"}, ["p1", "x:p2"], {"p1"}, 10,
     {"p1"}, set(), [OTHER, "p1"]),
    ("a cycle loading p2: its stored token would show that cycle's changes, so it is left alone", {}, ["p1", "p2", "p3"],
     {"p2"}, 10, set(), set(), ["p1", "p3"], {"p2"}),
    ("a cycle loading the workspace's events: not read meanwhile", {OTHER: "t"}, ["p1", "x:p2"], {OTHER}, 10, set(), set(),
     ["p1"], {OTHER}),
    ("a cycle loading every stream: nothing read", {OTHER: "t"}, ["p1", "x:p2"], {"p1"}, 10, set(), set(), [], None),
]


@pytest.mark.parametrize("case, tokens, gids, changed, budget, projects, workspaces, reads, busy",
                         [c if len(c) == 9 else (*c, set()) for c in CASES], ids=[c[0] for c in CASES])
def test_one_watch(
    case: str, tokens: Dict[str, str], gids: List[str], changed: Set[str], budget: int,
    projects: Set[str], workspaces: Set[str], reads: List[str], busy: Optional[Set[str]],
) -> None:
    fake = Fake()
    fake.changed = {g for g in changed if not g.startswith("expired:")}
    fake.expired = {g.split(":", 1)[1] for g in changed if g.startswith("expired:")}
    records = {}
    for gid in gids:
        workspace, _, name = gid.rpartition(":")
        records[name] = project(name, OTHER if workspace == "x" else WS)
    found = watcher(fake).watch(stored(tokens), records, budget, busy)
    assert (found.projects, found.workspaces, fake.reads) == (projects, workspaces, reads), case
    assert found.requests == len(reads)


def test_the_busiest_projects_are_read_most_often() -> None:
    """Twenty projects, three reads a watch every 5 s: the one that keeps changing is read every
    watch; the quiet ones wait longer and longer, up to one round of them at 90% of the rate it
    leaves (19 / (0.4/s x 0.9), about 53 s)."""
    fake = Fake()
    fake.changed = {"p00"}
    records = {f"p{i:02d}": project(f"p{i:02d}") for i in range(20)}
    watch = watcher(fake, reads_per_s=3 / 5)
    for _ in range(200):  # 1,000 s of watches every 5 s
        watch.watch(stored({}), records, budget=3)
        fake.now += 5.0
    counts = {gid: fake.reads.count(gid) for gid in records}
    quiet = [counts[gid] for gid in records if gid != "p00"]
    assert counts["p00"] >= 180 and counts["p00"] > 4 * max(quiet), counts  # nearly every watch: it keeps changing
    assert all(14 <= n <= 25 for n in quiet), counts  # every 40 to 70 s: 1,000 s / ~53 s
    assert sum(counts.values()) <= 3 * 200  # never over the budget


def test_a_quiet_project_that_changes_is_read_every_watch_again() -> None:
    """Sixteen projects, one read a watch: a quiet one waits longer and longer (up to 80 s), then
    is read at every watch once its events show a change."""
    fake = Fake()
    records = {f"p{i:02d}": project(f"p{i:02d}") for i in range(16)}
    watch = watcher(fake, longest=80.0, reads_per_s=1 / 5)
    for _ in range(60):  # 300 s
        watch.watch(stored({}), records, budget=1)
        fake.now += 5.0
    before = fake.reads.count("p03")
    assert before <= 8  # about every 80 s once quiet, not every 5 s
    fake.changed = {"p03"}
    while fake.reads.count("p03") == before:  # its next read, at most about 80 s away
        watch.watch(stored({}), records, budget=1)
        fake.now += 5.0
    for _ in range(4):
        watch.watch(stored({}), records, budget=1)
        fake.now += 5.0
    assert fake.reads.count("p03") == before + 5  # then read at every watch


def test_a_workspace_is_read_once_an_interval_however_often_it_is_watched() -> None:
    """Workspace mode: watches a second apart read the workspace's events once per 5 s interval."""
    fake = Fake()
    watch = watcher(fake, interval=5.0)
    for _ in range(20):  # 20 s of watches every second
        watch.watch(stored({WS: "t"}), {"p1": project("p1")}, budget=100)
        fake.now += 1.0
    assert fake.reads == [WS] * 4


def test_when_the_quota_cannot_keep_up_the_busy_projects_still_come_first() -> None:
    """Two hundred projects, two reads a watch (a fraction of what they need): the two busy ones
    are read every few watches, twenty times as often as any quiet one; the quiet ones share
    what is left, and none starves."""
    fake = Fake()
    fake.changed = {"p000", "p001"}
    records = {f"p{i:03d}": project(f"p{i:03d}") for i in range(200)}
    watch = watcher(fake, reads_per_s=2 / 5, longest=300.0)
    for _ in range(1000):  # 5,000 s of watches every 5 s
        watch.watch(stored({}), records, budget=2)
        fake.now += 5.0
    counts = {gid: fake.reads.count(gid) for gid in records}
    quiet = [n for gid, n in counts.items() if gid not in fake.changed]
    assert min(counts["p000"], counts["p001"]) >= max(200, 20 * max(quiet)), counts
    assert min(quiet) >= 2, counts


def test_a_project_edited_every_half_minute_is_seen_within_seconds() -> None:
    """400 projects, four reads a second (a quiet one waits ~2 minutes), one of them edited at
    random every 30 s on average: between its edits it stays on a short interval, and the more
    edits it has shown the slower that interval grows, so 95% of its edits are seen within 10 s
    (5.9 s here; when every empty read made it a quarter longer whatever the project's history,
    21.5 s; when each empty read doubled it, a pause of a minute put it back among the quiet: 61.5 s)."""
    rng = random.Random(7)
    fake = Fake()
    records = {f"p{i:03d}": project(f"p{i:03d}") for i in range(400)}
    watch = watcher(fake, reads_per_s=4.0, longest=300.0)
    edits, at = [], 200.0  # after the first round has read every project once
    while at < 3200:
        at += rng.expovariate(1 / 30)
        edits.append(at)
    pending: List[float] = []
    delays: List[float] = []
    while fake.now < 3200:
        while edits and edits[0] <= fake.now:
            pending.append(edits.pop(0))
        fake.changed = {"p000"} if pending else set()
        before = len(fake.reads)
        watch.watch(stored({}), records, budget=4)
        if pending and "p000" in fake.reads[before:]:
            delays.extend(fake.now - edit for edit in pending)
            pending = []
        fake.now += 1.0
    delays.sort()
    assert len(delays) >= 80 and delays[int(len(delays) * 0.95)] <= 10.0, delays[-10:]


def test_a_project_busy_for_a_while_stays_on_a_short_interval_then_quiets_down_over_hours() -> None:
    """Forty projects, a read a second: p00 changes at every read for 100 s, then never again.
    Through the next two minutes it is still read every few seconds (a project changed once would
    wait ~20 s by then); hours later it waits as long as a quiet project."""
    fake = Fake()
    records = {f"p{i:02d}": project(f"p{i:02d}") for i in range(40)}
    watch = watcher(fake, reads_per_s=1.0, longest=300.0)

    def run(seconds: float) -> List[str]:
        before = len(fake.reads)
        for _ in range(int(seconds)):
            watch.watch(stored({}), records, budget=1)
            fake.now += 1.0
        return fake.reads[before:]

    run(45)  # the first round: every project read once
    fake.changed = {"p00"}
    while "p00" not in run(1):  # its next read, within a round
        pass
    assert run(100).count("p00") == 20  # every 5 s, a change each time
    fake.changed = set()
    assert run(120).count("p00") >= 18  # still about every 6 s
    run(4 * 3600)
    last_hour = run(3600)
    quiet = max(last_hour.count(gid) for gid in records if gid != "p00")
    assert last_hour.count("p00") <= quiet + 1, (last_hour.count("p00"), quiet)


@pytest.mark.parametrize("busy, expected", [
    (set(), 3.0),  # p1's next read, 3 s away
    ({"p1"}, 5.0),  # a cycle is loading p1: at most the shortest interval
])
def test_due_in_is_how_long_a_reader_may_rest(busy: Set[str], expected: float) -> None:
    fake = Fake()
    watch = watcher(fake, interval=5.0)
    watch.watch(stored({}), {"p1": project("p1")}, budget=10)
    fake.now += 2.0
    assert watch.due_in(busy) == expected
