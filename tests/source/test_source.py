"""Unit tests of the Asana source against a `responses` fake: requests sent, rows loaded."""

import logging
from pathlib import Path
from typing import Any, Dict, List

import dlt
import pytest
import responses

from asana_dlt import AsanaSourceError, asana_source
from asana_dlt import settings
from asana_dlt.settings import PAGE_SIZE, STORY_FIELDS, TASK_FIELDS, WORKSPACE_FIELDS
from tests.conftest import CORE, counts, rows
from tests.source.fake_asana import BASE_URL, TOKEN, FakeAsana, stamp


@pytest.fixture
def fake() -> Any:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield FakeAsana(rsps)


def source(**kwargs: Any) -> Any:
    kwargs.setdefault("requests_per_minute", 0)  # the fake has no quota; pacing would only slow tests
    src = asana_source(access_token=kwargs.pop("access_token", TOKEN), base_url=BASE_URL, **kwargs)
    # The fake models the core eight; the catalog's resources are tested against asana_sim.
    return src.with_resources(*CORE)


def load(pipeline: dlt.Pipeline, **kwargs: Any) -> Any:
    return pipeline.run(source(**kwargs))


def test_constructing_the_source_lists_its_resources_without_network() -> None:
    with responses.RequestsMock() as rsps:  # any request would raise ConnectionError
        src = asana_source(access_token="x")
        assert list(src.resources)[:8] == [
            "workspaces", "projects", "sections", "tags", "tasks", "stories", "teams", "users",
        ]
        assert list(src.resources)[8:] == [e.name for e in settings.CATALOG]
        assert len(rsps.calls) == 0


def test_requests_carry_bearer_token_limit_and_opt_fields(fake: FakeAsana, pipeline: dlt.Pipeline) -> None:
    project = fake.add_project("Launch")
    fake.add_task([project], minute=5)
    load(pipeline)

    assert fake.calls, "no request was made"
    for call in fake.calls:
        assert call.headers["Authorization"] == f"Bearer {TOKEN}"
        # Events come 100 at a time without paging parameters; search (its 402 says: a free
        # workspace, polling) declares no limit.
        if call.path != "/events" and not call.path.endswith("/tasks/search"):
            assert call.params["limit"] == str(PAGE_SIZE)
    assert fake.calls_to("/workspaces")[0].params["opt_fields"] == ",".join(WORKSPACE_FIELDS)
    (tasks_call,) = fake.calls_to("/tasks")
    assert tasks_call.params["opt_fields"] == ",".join(TASK_FIELDS)
    assert tasks_call.params["project"] == project
    assert "modified_since" not in tasks_call.params  # a project seen for the first time is listed in full
    story_calls = [c for c in fake.calls if c.path.endswith("/stories")]
    assert [c.params["opt_fields"] for c in story_calls] == [",".join(STORY_FIELDS)]
    assert {c.path for c in fake.calls} - {"/events", "/workspaces/10/tasks/search"} == {
        "/workspaces", f"/workspaces/10/projects", f"/projects/{project}/sections", "/workspaces/10/tags",
        "/workspaces/10/teams", "/users", "/tasks", story_calls[0].path,
    }


def test_full_load_fills_all_eight_tables(fake: FakeAsana, pipeline: dlt.Pipeline) -> None:
    p1, p2 = fake.add_project("Launch"), fake.add_project("Übersicht 📊")
    parent = fake.add_task([p1], minute=5, stories=2)
    fake.add_task([], minute=6, parent=parent)
    fake.add_task([p2], minute=7)
    load(pipeline)

    got = counts(pipeline)
    for table, expected in {
        "workspaces": 1, "projects": 2, "sections": 2, "tags": 1, "teams": 1, "users": 1,
        "tasks": 3, "stories": 4,
    }.items():
        assert got.get(table) == expected, (table, got)
    names = {r[0] for r in rows(pipeline, "SELECT name FROM projects")}
    assert names == {"Launch", "Übersicht 📊"}
    (parent_row,) = rows(pipeline, f"SELECT num_subtasks FROM tasks WHERE gid = '{parent}'")
    assert parent_row[0] == 1
    assert rows(pipeline, "SELECT count(*) FROM tasks WHERE parent__gid IS NOT NULL")[0][0] == 1


def test_following_next_page_across_pages(fake: FakeAsana, pipeline: dlt.Pipeline) -> None:
    project = fake.add_project("Big")
    for minute in range(150):
        fake.add_task([project], minute=minute, stories=0)
    load(pipeline)

    task_calls = fake.calls_to("/tasks")
    assert [c.params.get("offset") for c in task_calls] == [None, "o100"]
    assert counts(pipeline)["tasks"] == 150


def test_second_run_sends_each_projects_own_modified_since(fake: FakeAsana, pipeline: dlt.Pipeline) -> None:
    old, busy = fake.add_project("Old"), fake.add_project("Busy")
    fake.add_task([old], minute=10)
    fake.add_task([busy], minute=50)
    load(pipeline)

    # A project first seen now, holding a task older than every cursor: it must still load.
    late = fake.add_project("Late")
    late_task = fake.add_task([late], minute=1)
    fake.calls.clear()
    load(pipeline)

    since = {c.params["project"]: c.params.get("modified_since") for c in fake.calls_to("/tasks")}
    assert since == {old: stamp(10), busy: stamp(50), late: None}
    assert rows(pipeline, f"SELECT count(*) FROM tasks WHERE gid = '{late_task}'")[0][0] == 1


def test_task_in_two_projects_is_one_row_and_its_stories_are_fetched_once(
    fake: FakeAsana, pipeline: dlt.Pipeline
) -> None:
    p1, p2 = fake.add_project("A"), fake.add_project("B")
    shared = fake.add_task([p1, p2], minute=3, stories=2)
    load(pipeline)

    assert rows(pipeline, f"SELECT count(*) FROM tasks WHERE gid = '{shared}'")[0][0] == 1
    assert len(fake.calls_to(f"/tasks/{shared}/stories")) == 1
    memberships = rows(pipeline, "SELECT count(*) FROM tasks__memberships")[0][0]
    assert memberships == 2


def test_stories_not_duplicated_when_a_task_changes_twice(fake: FakeAsana, pipeline: dlt.Pipeline) -> None:
    project = fake.add_project("A")
    task = fake.add_task([project], minute=1, stories=1)
    load(pipeline)
    fake.add_story(task, minute=2)
    load(pipeline)
    fake.add_story(task, minute=3)
    load(pipeline)

    assert counts(pipeline)["stories"] == 3
    assert rows(pipeline, "SELECT count(DISTINCT gid) FROM stories")[0][0] == 3
    assert len(fake.calls_to(f"/tasks/{task}/stories")) == 3


def test_unchanged_tasks_cost_no_story_or_subtask_requests(fake: FakeAsana, pipeline: dlt.Pipeline) -> None:
    project = fake.add_project("A")
    parent = fake.add_task([project], minute=1)
    fake.add_task([], minute=1, parent=parent)
    load(pipeline)
    fake.calls.clear()
    load(pipeline)

    assert [c.path for c in fake.calls if "/stories" in c.path or "/subtasks" in c.path] == []


def test_new_project_holding_an_already_loaded_task_does_not_refetch_its_stories(
    fake: FakeAsana, pipeline: dlt.Pipeline
) -> None:
    first = fake.add_project("First")
    task = fake.add_task([first], minute=5)
    fake.add_task([first], minute=9)  # moves First's cursor past `task`
    load(pipeline)
    second = fake.add_project("Second")
    fake.tasks[task]["projects"].append({"gid": second})
    fake.calls.clear()
    load(pipeline)

    assert any(c.params.get("project") == second for c in fake.calls_to("/tasks"))
    assert fake.calls_to(f"/tasks/{task}/stories") == []


def test_wrong_token_stops_with_one_line_and_loads_nothing(
    fake: FakeAsana, pipeline: dlt.Pipeline, dlt_log: pytest.LogCaptureFixture
) -> None:
    fake.add_task([fake.add_project("A")], minute=1)
    bad_token = "wrong-token-should-never-be-logged-93f1"
    with pytest.raises(Exception) as err:
        load(pipeline, access_token=bad_token)

    cause = err.value
    while not isinstance(cause, AsanaSourceError) and cause.__cause__ is not None:
        cause = cause.__cause__
    assert isinstance(cause, AsanaSourceError)
    message = str(cause)
    assert "\n" not in message
    assert message.startswith("Asana rejected the access token")
    assert "SOURCES__ASANA_DLT__ACCESS_TOKEN" in message
    assert len(fake.calls) == 1  # stopped at the first request
    assert counts(pipeline) == {}
    assert "/workspaces" in dlt_log.text  # the capture works
    assert bad_token not in dlt_log.text
    assert bad_token not in str(err.value)


@pytest.mark.parametrize("status", [402, 403])
def test_forbidden_or_premium_object_is_skipped_with_a_warning(
    fake: FakeAsana, pipeline: dlt.Pipeline, status: int, dlt_log: pytest.LogCaptureFixture
) -> None:
    locked, open_ = fake.add_project("Locked"), fake.add_project("Open")
    fake.add_task([locked], minute=1)
    fake.add_task([open_], minute=2)
    fake.fail(r"/projects/%s/sections" % locked, status)
    load(pipeline)

    assert f"sections of project 'Locked' ({locked})" in dlt_log.text
    assert counts(pipeline)["sections"] == 1
    assert counts(pipeline)["tasks"] == 2


def test_child_list_of_deleted_parent_is_skipped(fake: FakeAsana, pipeline: dlt.Pipeline) -> None:
    project = fake.add_project("A")
    gone = fake.add_task([project], minute=1)
    kept = fake.add_task([project], minute=2)
    fake.fail(f"/tasks/{gone}/stories", 404)
    load(pipeline)

    assert rows(pipeline, "SELECT count(*) FROM stories")[0][0] == 1
    assert counts(pipeline)["tasks"] == 2
    assert kept


@pytest.mark.parametrize("status,headers", [(429, {"Retry-After": "1"}), (503, {})])
def test_throttling_and_server_errors_are_retried(
    fake: FakeAsana, pipeline: dlt.Pipeline, status: int, headers: Dict[str, str]
) -> None:
    project = fake.add_project("A")
    fake.add_task([project], minute=1)
    fake.fail("/tasks", status, times=1, headers=headers)
    load(pipeline)

    assert [c.path for c in fake.calls].count("/tasks") == 2
    assert counts(pipeline)["tasks"] == 1


def test_expired_offset_restarts_the_listing_without_duplicates(fake: FakeAsana, pipeline: dlt.Pipeline) -> None:
    project = fake.add_project("Big")
    for minute in range(250):
        fake.add_task([project], minute=minute, stories=0)
    expired = '{"errors": [{"message": "offset: Your pagination token has expired."}]}'
    fake.fail("/tasks", 400, body=expired, offset="o200")
    load(pipeline)

    offsets = [c.params.get("offset") for c in fake.calls_to("/tasks")]
    assert offsets == [None, "o100", "o200", None, "o100", "o200"]  # restarted from the first page
    assert counts(pipeline)["tasks"] == 250
    assert rows(pipeline, "SELECT count(DISTINCT gid) FROM tasks")[0][0] == 250


def test_malformed_response_is_one_clear_line(fake: FakeAsana, pipeline: dlt.Pipeline) -> None:
    fake.fail("/workspaces", 200, body="<html>login</html>")
    with pytest.raises(Exception) as err:
        load(pipeline)
    cause = err.value
    while not isinstance(cause, AsanaSourceError) and cause.__cause__ is not None:
        cause = cause.__cause__
    assert "is not JSON" in str(cause) and "\n" not in str(cause)
    assert counts(pipeline) == {}


def test_unknown_workspace_stops_before_anything_loads(fake: FakeAsana, pipeline: dlt.Pipeline) -> None:
    fake.add_task([fake.add_project("A")], minute=1)
    with pytest.raises(Exception) as err:
        load(pipeline, workspaces=["999"])
    assert "Workspace 999 is not visible to this token" in str(err.value)
    assert "Acme Org" in str(err.value)
    assert counts(pipeline) == {}


def test_workspace_filter_by_name_selects_it(fake: FakeAsana, pipeline: dlt.Pipeline) -> None:
    fake.workspaces.append({"gid": "11", "resource_type": "workspace", "name": "Other", "is_organization": False})
    fake.projects["11"] = []
    load(pipeline, workspaces=["Acme Org"])
    assert [r[0] for r in rows(pipeline, "SELECT gid FROM workspaces")] == ["10"]
    assert not any(c.path.startswith("/workspaces/11") for c in fake.calls)


def test_token_never_lands_in_logs_or_pipeline_files(
    fake: FakeAsana, pipeline: dlt.Pipeline, dlt_log: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    fake.add_task([fake.add_project("A")], minute=1)
    load(pipeline)

    assert "Making GET request" in dlt_log.text  # the capture works: requests were logged
    assert TOKEN not in dlt_log.text
    leaked: List[str] = []
    for path in tmp_path.rglob("*"):
        if path.is_file() and TOKEN.encode() in path.read_bytes():
            leaked.append(str(path))
    assert leaked == []


def test_columns_exist_and_are_typed_even_when_every_value_is_null(fake: FakeAsana, pipeline: dlt.Pipeline) -> None:
    fake.add_task([fake.add_project("A")], minute=1)  # no assignee, never completed, no due date
    load(pipeline)

    types = dict(
        rows(
            pipeline,
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'asana_data' AND table_name = 'tasks'",
        )
    )
    assert types["assignee__gid"] == "VARCHAR"
    assert types["completed_at"].startswith("TIMESTAMP")
    assert types["due_on"] == "DATE"
    assert types["completed"] == "BOOLEAN"
    assert types["num_subtasks"] == "BIGINT"
    assert rows(pipeline, "SELECT count(*) FROM tasks WHERE assignee__gid IS NULL AND completed_at IS NULL")[0][0] == 1


def test_an_unknown_delete_mode_stops_before_any_request(fake: FakeAsana) -> None:
    with pytest.raises(Exception, match='deletes = .sfot. is not a delete mode; set deletes to "hard"'):
        asana_source(access_token=TOKEN, base_url=BASE_URL, deletes="sfot")
    assert fake.calls == []


@pytest.mark.parametrize("base_url,works", [
    ("https://app.asana.com/api/1.0", True),
    ("http://127.0.0.1:8765", True),
    ("https://app.asana.com/api/1.0/", True),
    ("app.asana.com/api/1.0", False),  # no scheme
    ("ftp://app.asana.com/api/1.0", False),
    ("https://", False),  # no host
    ("", False),
    ("/usr/bin/python: No module named asana_sim", False),  # a shell's error captured as the URL
])
def test_a_base_url_requests_cannot_reach_stops_before_any_request(fake: FakeAsana, base_url: str, works: bool) -> None:
    if works:
        asana_source(access_token=TOKEN, base_url=base_url)
    else:
        with pytest.raises(AsanaSourceError, match=r"^base_url = .* is not an http\(s\) URL .*fix base_url under"):
            asana_source(access_token=TOKEN, base_url=base_url)
    assert fake.calls == []


def test_listings_parse_no_jsonpath_at_run_time(
    fake: FakeAsana, pipeline: dlt.Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    # jsonpath-ng builds its whole parser per path (~10 ms of CPU): one per listing, i.e. per
    # task's stories, made a 2k-task load 8x slower. The paginator's path is compiled at import.
    from dlt.common import jsonpath

    parsed: List[Any] = []
    real_parse = jsonpath._parse
    monkeypatch.setattr(jsonpath, "_parse", lambda path: parsed.append(path) or real_parse(path))
    project = fake.add_project("P")
    for minute in range(5):
        fake.add_task([project], minute=minute, stories=1)
    load(pipeline)

    assert counts(pipeline)["stories"] == 5
    assert parsed == []


def test_nulls_are_dropped_at_decoding_at_every_depth_and_nothing_else() -> None:
    import requests

    from asana_dlt.helpers import body_of as _body

    response = requests.models.Response()
    response._content = (
        b'{"data":[{"gid":"1","assignee":null,"name":"","completed":false,"num_likes":0,'
        b'"custom_fields":[{"gid":"9","enum_value":null,"multi_enum_values":[],"text_value":"x"}],'
        b'"memberships":[{"project":{"gid":"2","name":null},"section":null}],"tags":[null]}],"next_page":null}'
    )
    assert _body(response) == {
        "data": [
            {
                "gid": "1",
                "name": "",
                "completed": False,
                "num_likes": 0,
                "custom_fields": [{"gid": "9", "multi_enum_values": [], "text_value": "x"}],
                "memberships": [{"project": {"gid": "2"}}],
                "tags": [None],  # a list keeps its positions
            }
        ]
    }
