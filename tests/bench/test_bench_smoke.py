"""The bench runs end to end (`--quick`) and its lower bounds are right on a hand-counted store.

Nothing here is timed: speed is measured by `python bench/run.py`, never asserted by a test.
"""

import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest

from asana_sim.store import Store
from bench.bounds import full_load_bound, incremental_bound, kind_of, listings_for, pages

REPO = Path(__file__).resolve().parents[2]
ROW_PREFIXES = ("full-quota", "latency", "incremental", "cpu", "memory@")


def _rec(store: Store, kind: str, **fields: Any) -> Dict[str, Any]:
    return store.add({"gid": store.new_gid(), "resource_type": kind, **fields})


def _tiny_store() -> Dict[str, Any]:
    """An account small enough to count its pages by hand (see the test's comments)."""
    store = Store(seed=0, story_factory=lambda s, t: [])
    org = _rec(store, "workspace", name="Org", is_organization=True)
    plain = _rec(store, "workspace", name="Plain", is_organization=False)
    for ws in ([org, plain], [org, plain], [org]):
        _rec(store, "user", name="u", workspaces=ws)
    _rec(store, "team", name="t", organization=org)
    p1 = _rec(store, "project", name="P1", workspace=org)
    p2 = _rec(store, "project", name="P2", workspace=org)
    for _ in range(2):
        store.project_sections[p1["gid"]].append(_rec(store, "section", name="s", project=p1)["gid"])

    def task(parent: Any = None, stories: int = 0) -> Dict[str, Any]:
        t = _rec(store, "task", name="t", parent=parent, completed=False)
        store.story_counts[t["gid"]] = stories
        return t

    top = [task(stories=3) for _ in range(150)]
    store.project_tasks[p1["gid"]] = [t["gid"] for t in top]
    store.project_tasks[p2["gid"]] = [top[0]["gid"]]  # multi-homed: listed twice, stories once
    big = top[1]
    store.story_counts[big["gid"]] = 250  # 3 story pages
    subs = [task(parent=big) for _ in range(101)]  # 2 subtask pages
    store.subtasks[big["gid"]] = [s["gid"] for s in subs]
    nested = task(parent=subs[0])
    store.subtasks[subs[0]["gid"]] = [nested["gid"]]  # 1 subtask page
    store.story_counts[top[2]["gid"]] = 100
    store.extra_stories[top[2]["gid"]].append({"gid": "written"})  # 101 stories: 2 pages
    return {"store": store, "top": top, "big": big}


def test_pages_is_at_least_one() -> None:
    assert [pages(n) for n in (0, 1, 100, 101, 250)] == [1, 1, 1, 2, 3]


def test_full_load_bound_counted_by_hand() -> None:
    store = _tiny_store()["store"]
    bound = full_load_bound(store)
    assert dict(bound) == {
        "workspaces": 1,
        "projects": 2,  # 2 projects in Org (1 page), none in Plain (1 empty page)
        "sections": 2,  # P1 has 2, P2 none: one page each
        "tags": 2,  # no tags: one empty page per workspace
        "teams": 1,  # only the organization is asked
        "users": 2,  # 3 users in Org, 2 in Plain
        "events": 2,  # one per project: the 412 that hands out its first sync token
        "tasks": 5,  # 150 tasks in P1 (2 pages), 1 in P2, and one search per workspace (its plan)
        "subtasks": 3,  # 101 subtasks (2 pages) + 1 nested subtask (1 page)
        "stories": 255,  # 252 tasks, +2 pages for 250 stories, +1 for 100 + 1 written
        # The catalog's default tables, all empty here: 7 listings per workspace (custom fields,
        # memberships, portfolios, goals, time periods, project templates, allocations), 3 per
        # project (memberships, task templates, status updates), 1 per team.
        "catalog": 2 * 7 + 2 * 3 + 1,
    }
    assert sum(bound.values()) == 275 + 21


def test_bound_of_a_subset_of_resources() -> None:
    store = _tiny_store()["store"]
    assert sum(full_load_bound(store, ["users"]).values()) == 3
    assert sum(full_load_bound(store, ["tasks"]).values()) == 275 - 255 - 2 - 2 - 1 - 2
    assert listings_for(["stories"]) == {"workspaces", "projects", "events", "tasks", "subtasks", "stories"}


def test_incremental_bound_counted_by_hand() -> None:
    tiny = _tiny_store()
    changed = {tiny["top"][0]["gid"], tiny["big"]["gid"]}
    bound = incremental_bound(tiny["store"], changed)
    # Small listings as in a full load (10 pages), one events page and one tasks page per
    # project (2 + 2) and one search per workspace (2), no subtask listings, stories of the
    # changed tasks: 1 + 3 pages.
    assert bound["events"] == 2 and bound["tasks"] == 4 and bound["stories"] == 4 and "subtasks" not in bound
    assert sum(bound.values()) == 10 + 2 + 4 + 4 + 21  # the catalog's tables are listed whole again
    # 150 events in one project's stream take two pages of 100.
    project = next(iter(tiny["store"].records["project"]))
    assert incremental_bound(tiny["store"], changed, events={project: 150})["events"] == 3


def test_kind_of_request_paths() -> None:
    assert kind_of("/workspaces") == "workspaces"
    assert kind_of("/workspaces/1/projects") == "projects"
    assert kind_of("/projects/1/sections") == "sections"
    assert kind_of("/tasks") == "tasks"
    assert kind_of("/events") == "events"
    assert kind_of("/tasks/1/subtasks") == "subtasks"
    assert kind_of("/tasks/1/stories") == "stories"
    assert kind_of("/users") == "users"
    assert kind_of("/tasks/1") == "other"
    assert kind_of("/goals") == kind_of("/projects/1/project_memberships") == kind_of("/portfolios/1/items") == "catalog"


def _rows(stdout: str) -> List[List[str]]:
    """The table's rows: the lines between its column header and `notes:`."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("scenario "))
    end = lines.index("notes:")
    return [line.split() for line in lines[start + 1 : end]]


@pytest.mark.bench
def test_quick_bench_prints_a_row_per_scenario() -> None:
    done = subprocess.run(
        [sys.executable, "bench/run.py", "--quick"], cwd=REPO, capture_output=True, text=True, timeout=170
    )
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    rows = _rows(done.stdout)
    for prefix in ROW_PREFIXES:
        assert any(r[0].startswith(prefix) for r in rows), f"no {prefix} row in:\n{done.stdout}"
    for row in rows:
        requests, bound, ratio = int(row[1]), int(row[2]), float(row[3])
        assert bound > 0 and abs(ratio - requests / bound) < 1e-3, row
    # The figures issue 13 quotes: latency's extract against normalize + load, cpu in CPU seconds.
    assert "latency: breakdown: extract " in done.stdout and "best reachable" in done.stdout, done.stdout
    assert "cpu: CPU seconds: source " in done.stdout, done.stdout


@pytest.mark.bench
def test_quick_big_org_prints_requests_per_project() -> None:
    """The big-org scenario measures an idle and an incremental run after a full load, per mode."""
    done = subprocess.run(
        [sys.executable, "bench/run.py", "--quick", "--scenario", "big-org"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    rows = {r[0]: r for r in _rows(done.stdout)}
    modes = ("polling", "project-events", "workspace")
    assert set(rows) == {f"big-org:{m}:{run}" for m in modes for run in ("idle", "incremental")}, done.stdout
    idle = {m: int(rows[f"big-org:{m}:idle"][1]) for m in modes}
    projects = 12  # in --quick
    # Polling: at least a tasks and a sections listing per project; workspace mode: none per project.
    assert idle["polling"] >= 2 * projects and f"{idle['polling'] / projects:.3f} requests per project" in done.stdout
    assert idle["workspace"] < idle["project-events"] < idle["polling"]
    assert "workspace mode: " in done.stdout and "0.000 made per project" in done.stdout
    for mode in modes:
        assert int(rows[f"big-org:{mode}:incremental"][1]) > idle[mode]  # the changed tasks' stories
