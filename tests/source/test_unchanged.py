"""Tables listed whole, written only when their content changed (follow mode's `Session`).

The gate without dlt or HTTP first: what a one-call table and a many-call table write in a run,
given what the session last wrote; then a pipeline in a session against the simulator: an idle
run writes no table, a change rewrites just its table, a deleted parent's rows disappear.
"""

from pathlib import Path
from typing import Any, Dict, List, Optional, Set

import dlt
import pytest

from asana_dlt import asana_source
from asana_dlt.session import Session
from asana_dlt.unchanged import Done, UnchangedTables, fingerprint
from asana_sim import AsanaSim, SimConfig
from tests.conftest import rows
from tests.source.test_mirror import Api

FEED = ("sections", "projects")
A, B = [{"gid": "1", "name": "To do"}], [{"gid": "2", "name": "Done"}]


def gate(written: Optional[Dict[str, Dict[str, str]]] = None, selected: Optional[Set[str]] = None) -> UnchangedTables:
    session = Session()
    for table, prints in (written or {}).items():
        session.wrote(table, prints)
    session.committed()
    return UnchangedTables(session, {"sections": [FEED]}, lambda: selected)


WHOLE = [
    ("never written: written", None, {"w1": A}, A),
    ("unchanged: nothing", {"tags": {"w1": fingerprint(A)}}, {"w1": A}, None),
    ("a row changed: all of it", {"tags": {"w1": fingerprint(A)}}, {"w1": B}, B),
    ("a workspace more: all of it", {"tags": {"w1": fingerprint(A)}}, {"w1": A, "w2": B}, A + B),
    ("a workspace gone: all of it", {"tags": {"w1": fingerprint(A), "w2": fingerprint(B)}}, {"w1": A}, A),
]


@pytest.mark.parametrize("case, written, parts, expected", WHOLE, ids=[w[0] for w in WHOLE])
def test_a_table_filled_in_one_call(case: str, written: Any, parts: Dict[str, List[Any]], expected: Any) -> None:
    assert gate(written).whole("tags", parts) == expected, case


def test_a_many_call_table_unchanged_writes_nothing() -> None:
    tables = gate({"sections": {"p1": fingerprint(A), "p2": fingerprint(B)}})
    assert tables.part("sections", FEED, "p1", A) == []
    assert tables.part("sections", FEED, "p2", B) == []
    assert tables.done("sections", FEED, 2) == []


def test_a_changed_part_writes_what_was_held_and_every_later_part() -> None:
    tables = gate({"sections": {"p1": fingerprint(A), "p2": fingerprint(A), "p3": fingerprint(A)}})
    assert tables.part("sections", FEED, "p1", A) == []
    assert tables.part("sections", FEED, "p2", B) == A + B  # held p1, and p2 itself
    assert tables.part("sections", FEED, "p3", A) == A
    assert tables.done("sections", FEED, 3) == []


def test_a_parent_gone_rewrites_the_table_when_the_last_part_is_in() -> None:
    tables = gate({"sections": {"p1": fingerprint(A), "p2": fingerprint(B)}})
    assert tables.part("sections", FEED, "p1", A) == []
    assert tables.done("sections", FEED, 1) == A  # p2 is gone: the table is written without it


def test_the_done_page_may_come_before_the_last_part() -> None:
    tables = gate({"sections": {"p1": fingerprint(A)}})
    assert tables.done("sections", FEED, 2) == []
    assert tables.part("sections", FEED, "p1", A) == []
    assert tables.part("sections", FEED, "p2", B) == A + B  # a new parent: written, with what was held


def test_a_feed_not_selected_is_not_waited_for() -> None:
    feeds = {"status_updates": [("status_updates", "projects"), ("goal_status_updates", "goals")]}
    for selected, written_at_done in (({"status_updates"}, A), ({"status_updates", "goal_status_updates"}, [])):
        session = Session()
        session.wrote("status_updates", {"p1": fingerprint(A), "p2": fingerprint(B)})
        session.committed()
        tables = UnchangedTables(session, feeds, lambda: selected)
        assert tables.part("status_updates", ("status_updates", "projects"), "p1", A) == []
        # p2 is gone; the table is complete (and rewritten) only if the goals' part is not awaited
        assert tables.done("status_updates", ("status_updates", "projects"), 1) == written_at_done, selected


def test_what_a_failed_run_found_is_forgotten() -> None:
    session = Session()
    session.wrote("tags", {"w1": fingerprint(A)})
    session.abandoned()
    assert session.written("tags") == {}
    session.wrote("tags", {"w1": fingerprint(A)})
    session.committed()
    assert session.written("tags") == {"w1": fingerprint(A)}


# ---- in a pipeline -------------------------------------------------------------------------------


def written_tables(pipeline: dlt.Pipeline) -> Set[str]:
    """The tables listed whole that the last load wrote rows to (an idle run by polling lists the
    tasks modified at each project's cursor again, so `tasks` is left out)."""
    counts = pipeline.last_trace.last_normalize_info.row_counts
    return {table for table, n in counts.items() if n and not table.startswith(("_dlt", "tasks"))}


def test_in_a_session_an_idle_run_writes_no_table_and_a_change_only_its_own(tmp_path: Path) -> None:
    with AsanaSim(token="session", config=SimConfig(seed=3, tasks=60, projects=3)) as sim:
        pipeline = dlt.pipeline("session", pipelines_dir=str(tmp_path / "p"),
                                destination=dlt.destinations.duckdb(str(tmp_path / "d.duckdb")), dataset_name="asana_data")
        session = Session()

        def run() -> Set[str]:
            pipeline.run(asana_source(access_token=sim.token, base_url=sim.base_url, requests_per_minute=0, session=session))
            session.committed()
            return written_tables(pipeline)

        first = run()
        assert {"workspaces", "projects", "sections", "tags", "users", "stories"} <= first
        counts = {t: rows(pipeline, f"SELECT count(*) FROM {t}")[0][0] for t in ("projects", "sections", "tags", "users")}
        assert run() == set()  # idle: nothing written, nothing truncated
        assert {t: rows(pipeline, f"SELECT count(*) FROM {t}")[0][0] for t in counts} == counts
        store, api = sim.store, Api(sim)
        tag = store.all("tag")[0]
        api.send("PUT", f"/tags/{tag['gid']}", {"name": "Renamed tag"})
        assert run() == {"tags"}
        assert rows(pipeline, f"SELECT name FROM tags WHERE gid = '{tag['gid']}'") == [("Renamed tag",)]
        assert rows(pipeline, "SELECT count(*) FROM tags")[0][0] == counts["tags"]
        project = next(p for p in store.all("project") if store.project_sections.get(p["gid"]))
        api.send("DELETE", f"/projects/{project['gid']}")
        wrote = run()
        assert {"projects", "sections"} <= wrote
        assert rows(pipeline, f"SELECT count(*) FROM sections WHERE project__gid = '{project['gid']}'")[0][0] == 0
        assert rows(pipeline, "SELECT count(*) FROM sections")[0][0] == sum(
            len(store.project_sections.get(p["gid"], [])) for p in store.all("project"))


# ---- parts listed in turn (a big organization's follow mode) -------------------------------------


def held_session(parts_per_run: Optional[int], listed_in_runs: List[List[str]]) -> Session:
    """A session whose committed runs listed these parents' parts of `settings`, run by run."""
    session = Session()
    for keys in listed_in_runs:  # every run saw the first run's parents
        session.hold("settings", {k: [{"gid": k}] for k in keys}, set(listed_in_runs[0]) | set(keys))
        session.committed()
    session.parts_per_run = parts_per_run
    return session


DUE = [
    ("no limit: every part", None, [["p1", "p2", "p3"]], ["p1", "p2", "p3"], {"p1", "p2", "p3"}),
    ("nothing kept: every part", 1, [], ["p1", "p2"], {"p1", "p2"}),
    ("the part listed longest ago", 1, [["p1", "p2", "p3"], ["p2", "p3"]], ["p1", "p2", "p3"], {"p1"}),
    ("two of them, oldest first", 2, [["p1", "p2", "p3"], ["p1"]], ["p1", "p2", "p3"], {"p2", "p3"}),
    ("a new parent on top", 1, [["p1", "p2"], ["p2"]], ["p1", "p2", "p9"], {"p1", "p9"}),
]


@pytest.mark.parametrize("case, limit, runs, keys, due", DUE, ids=[d[0] for d in DUE])
def test_which_parts_a_full_run_lists(case: str, limit: Optional[int], runs: List[List[str]], keys: List[str], due: Set[str]) -> None:
    session = held_session(limit, runs)
    assert {k for k in keys if session.due("settings", k)} == due, case


def test_parts_kept_are_what_was_last_listed_and_a_parent_gone_is_dropped() -> None:
    session = held_session(1, [["p1", "p2", "p3"]])
    session.hold("settings", {"p1": [{"gid": "p1", "v": 2}]}, ["p1", "p2"])  # p3 is gone
    assert session.held("settings", "p1") == [{"gid": "p1"}]  # not before the load commits
    session.committed()
    assert session.held("settings", "p1") == [{"gid": "p1", "v": 2}]
    assert session.held("settings", "p2") == [{"gid": "p2"}] and session.held("settings", "p3") is None
    session.hold("settings", {"p2": []}, ["p1", "p2"])
    session.abandoned()  # a failed run's listing is not kept
    assert session.held("settings", "p2") == [{"gid": "p2"}]


def test_in_turn_every_part_is_listed_and_a_change_in_one_rewrites_the_whole_table(tmp_path: Path) -> None:
    with AsanaSim(token="session", config=SimConfig(seed=3, tasks=30, projects=4)) as sim:
        pipeline = dlt.pipeline("turns", pipelines_dir=str(tmp_path / "p"),
                                destination=dlt.destinations.duckdb(str(tmp_path / "d.duckdb")), dataset_name="asana_data")
        session = Session()
        projects = sorted(p["gid"] for p in sim.store.all("project"))

        def run() -> List[str]:
            sim.reset_requests()
            pipeline.run(asana_source(access_token=sim.token, base_url=sim.base_url, requests_per_minute=0, session=session)
                         .with_resources("workspaces", "projects", "project_memberships"))
            session.committed()
            return sorted(r.path.split("/")[2] for r in sim.requests() if r.path.endswith("/project_memberships"))

        def loaded() -> Set[Any]:
            return set(rows(pipeline, "SELECT gid, parent__gid FROM project_memberships"))

        def truth() -> Set[Any]:
            return {(m["gid"], m["parent"]["gid"]) for m in sim.store.all("project_membership")}

        assert run() == projects  # nothing kept yet: every project's part
        session.parts_per_run = 1
        turns = [run() for _ in projects]
        assert sorted(g for listed in turns for g in listed) == projects  # one a run, each once
        assert loaded() == truth()
        gone = sim.store.all("project_membership")[0]
        with sim.store.lock:  # someone left the project: only its own listing shows it
            del sim.store.records["project_membership"][gone["gid"]]
        for _ in projects:
            if gone["parent"]["gid"] in run():
                break
        assert (gone["gid"], gone["parent"]["gid"]) not in loaded()
        assert loaded() == truth()  # the changed part, and every other project's kept rows


def test_a_run_for_one_workspace_applies_the_other_workspaces_events_it_takes(tmp_path: Path) -> None:
    """Follow mode targets the projects whose events changed when it looked; a run reads every
    workspace's events (their projects' sections ask) and stores the new tokens, so a change
    made meanwhile in another workspace must be loaded by this run, or no later one sees it."""
    config = SimConfig(seed=3, tasks=60, projects=4, workspace_events=True, search=True)
    with AsanaSim(token="session", config=config) as sim:
        pipeline = dlt.pipeline("targets", pipelines_dir=str(tmp_path / "p"),
                                destination=dlt.destinations.duckdb(str(tmp_path / "d.duckdb")), dataset_name="asana_data")
        session = Session()

        def run(targets: Optional[Set[str]]) -> None:
            session.full, session.targets = targets is None, targets
            pipeline.run(asana_source(access_token=sim.token, base_url=sim.base_url, requests_per_minute=0, session=session))
            session.committed()

        run(None)
        run(None)  # the first run took the workspaces' first tokens; now their events cover the projects
        tasks = [t for t in sim.store.all("task") if t["projects"] and t["parent"] is None]
        here, there = tasks[0], next(t for t in tasks if t["workspace"]["gid"] != tasks[0]["workspace"]["gid"])
        api = Api(sim)
        api.send("PUT", f"/tasks/{here['gid']}", {"name": "changed where follow mode looked"})
        api.send("PUT", f"/tasks/{there['gid']}", {"name": "changed meanwhile elsewhere"})
        targets = {p["gid"] for p in sim.store.all("project") if p["workspace"]["gid"] == here["workspace"]["gid"]}
        run(targets)
        run(targets)
        assert rows(pipeline, f"SELECT name FROM tasks WHERE gid IN ('{here['gid']}', '{there['gid']}') ORDER BY name") == [
            ("changed meanwhile elsewhere",), ("changed where follow mode looked",)]


@pytest.mark.parametrize("plan", ["polling", "project-events"])
def test_a_run_for_changed_projects_reads_nothing_of_the_others(tmp_path: Path, plan: str) -> None:
    """Follow mode's run for the projects whose events changed: no events read or sections listed
    for the rest (their events are taken when a later run reads them), and the change loaded."""
    config = SimConfig(seed=3, tasks=60, projects=6, search=plan == "project-events")
    with AsanaSim(token="session", config=config) as sim:
        pipeline = dlt.pipeline("targets", pipelines_dir=str(tmp_path / "p"),
                                destination=dlt.destinations.duckdb(str(tmp_path / "d.duckdb")), dataset_name="asana_data")
        session = Session()

        def run(targets: Optional[Set[str]]) -> Set[str]:
            session.full, session.targets = targets is None, targets
            sim.reset_requests()
            pipeline.run(asana_source(access_token=sim.token, base_url=sim.base_url, requests_per_minute=0, session=session))
            session.committed()
            return {r.params.get("resource") or r.path.split("/")[2] for r in sim.requests()
                    if r.path == "/events" or r.path.endswith("/sections")}

        run(None)
        task = next(t for t in sim.store.all("task") if t["projects"] and t["parent"] is None)
        Api(sim).send("PUT", f"/tasks/{task['gid']}", {"name": "changed in one project"})
        project = task["projects"][0]["gid"]
        assert run({project}) <= {project}
        assert rows(pipeline, f"SELECT name FROM tasks WHERE gid = '{task['gid']}'") == [("changed in one project",)]
