"""Every field and query parameter we send is one Asana's OpenAPI description declares."""

from typing import Any, Dict, List

import pytest

from asana_dlt import settings
from asana_sim import spec as sim_spec

PAGING = {"limit", "offset", "opt_fields"}


@pytest.fixture(scope="session")
def spec() -> Dict[str, Any]:
    """Asana's description as committed in `asana_sim/asana_oas.json` (see test_derived_spec)."""
    return sim_spec.load_spec()


def _parameters(spec: Dict[str, Any], path: str) -> List[Dict[str, Any]]:
    item = spec["paths"][path]
    params = []
    for param in item.get("parameters", []) + item["get"].get("parameters", []):
        if "$ref" in param:
            node: Any = spec
            for part in param["$ref"].lstrip("#/").split("/"):
                node = node[part]
            param = node
        params.append(param)
    return params


@pytest.mark.parametrize("path", sorted(settings.FIELDS_BY_ENDPOINT))
def test_every_field_is_in_the_endpoints_opt_fields_enum(spec: Dict[str, Any], path: str) -> None:
    (opt_fields,) = [p for p in _parameters(spec, path) if p["name"] == "opt_fields"]
    allowed = set(opt_fields["schema"]["items"]["enum"]) | {"gid", "resource_type"}
    fields = settings.FIELDS_BY_ENDPOINT[path]
    assert sorted(set(fields) - allowed) == []
    assert len(fields) == len(set(fields)), "a field is listed twice"


@pytest.mark.parametrize("path", sorted(settings.FIELDS_BY_ENDPOINT))
def test_every_query_parameter_is_declared_and_page_size_is_the_maximum(spec: Dict[str, Any], path: str) -> None:
    declared = {p["name"]: p for p in _parameters(spec, path) if p["in"] == "query"}
    sent = PAGING | set(settings.PARAMS_BY_ENDPOINT.get(path, ()))
    assert sorted(sent - set(declared)) == []
    assert declared["limit"]["schema"]["maximum"] == settings.PAGE_SIZE


@pytest.mark.parametrize("path", sorted(settings.SINGLE_OBJECT_FIELDS))
def test_single_objects_read_again_ask_only_for_declared_fields(spec: Dict[str, Any], path: str) -> None:
    (opt_fields,) = [p for p in _parameters(spec, path) if p["name"] == "opt_fields"]
    allowed = set(opt_fields["schema"]["items"]["enum"]) | {"gid", "resource_type"}
    assert sorted(set(settings.SINGLE_OBJECT_FIELDS[path]) - allowed) == []


def test_events_parameters_are_declared(spec: Dict[str, Any]) -> None:
    declared = {p["name"] for p in _parameters(spec, "/events") if p["in"] == "query"}
    assert sorted(set(settings.EVENTS_PARAMS) - declared) == []


def test_workspace_events_and_search_parameters_are_declared(spec: Dict[str, Any]) -> None:
    """Workspace events take only `sync`; search is sent `modified_at.after`, `sort_by`,
    `sort_ascending` and the tasks' fields, never `limit` or `offset` (it declares neither)."""
    events = {p["name"] for p in _parameters(spec, "/workspaces/{workspace_gid}/events") if p["in"] == "query"}
    assert sorted(set(settings.WORKSPACE_EVENTS_PARAMS) - events) == []
    search = {p["name"]: p for p in _parameters(spec, "/workspaces/{workspace_gid}/tasks/search") if p["in"] == "query"}
    assert sorted(set(settings.SEARCH_PARAMS) - set(search)) == [] and not {"limit", "offset"} & set(search)
    allowed = set(search["opt_fields"]["schema"]["items"]["enum"]) | {"gid", "resource_type"}
    assert sorted(set(settings.TASK_FIELDS) - allowed) == []


def test_field_lists_ask_for_what_analytics_need() -> None:
    needed = {
        "assignee", "created_at", "modified_at", "completed", "completed_at", "completed_by", "due_on", "due_at",
        "start_on", "memberships.project", "memberships.section", "projects", "tags", "followers", "parent",
        "num_subtasks", "resource_subtype", "likes", "num_likes", "actual_time_minutes", "permalink_url", "notes",
    }
    assert sorted(needed - set(settings.TASK_FIELDS)) == []
    assert any(f.startswith("custom_fields") for f in settings.TASK_FIELDS)
    story_needed = {"type", "resource_subtype", "text", "created_at", "created_by", "target"}
    assert sorted(story_needed - set(settings.STORY_FIELDS)) == []
    # Fields the 2023 source asked for that Asana does not have, or endpoints it has removed.
    assert "project" not in settings.TASK_FIELDS
    assert "preview" not in settings.STORY_FIELDS
    assert "is_template" not in settings.PROJECT_FIELDS


CORE_PARENTS = {"workspaces", "projects", "teams", "tasks"}


@pytest.mark.parametrize("endpoint", settings.CATALOG, ids=lambda e: e.name)
def test_every_catalog_endpoint_asks_only_for_what_the_description_declares(
    spec: Dict[str, Any], endpoint: settings.Endpoint
) -> None:
    assert "get" in spec["paths"][endpoint.path], f"{endpoint.path} has no GET"
    params = _parameters(spec, endpoint.path)
    declared = {p["name"]: p for p in params if p["in"] == "query"}
    if endpoint.fields:
        allowed = set(declared["opt_fields"]["schema"]["items"]["enum"]) | {"gid", "resource_type"}
        assert sorted(set(endpoint.fields) - allowed) == []
        assert len(endpoint.fields) == len(set(endpoint.fields)), "a field is listed twice"
    else:
        assert "opt_fields" not in declared  # and pages() sends none (tests/source/test_catalog.py)
    sent = {"limit", "offset"} | set(endpoint.params)
    sent |= {endpoint.parent_param} if endpoint.parent_param else set()
    sent |= {endpoint.cursor[1]} if endpoint.cursor else set()
    assert sorted(sent - set(declared)) == []
    assert declared["limit"]["schema"]["maximum"] == settings.PAGE_SIZE
    # The parent's gid goes somewhere: into the path's one placeholder or a query parameter.
    placeholders = endpoint.path.count("{")
    assert placeholders + (1 if endpoint.parent_param else 0) == 1
    path_params = {p["name"] for p in params if p["in"] == "path"}
    assert len(path_params) == placeholders


def test_catalog_is_well_formed() -> None:
    names = [e.name for e in settings.CATALOG]
    assert len(names) == len(set(names))
    known = set(CORE_PARENTS)
    for endpoint in settings.CATALOG:
        assert endpoint.parent in known, f"{endpoint.name}'s parent {endpoint.parent} is built after it"
        known.add(endpoint.name)
        assert endpoint.write_disposition in ("replace", "merge")
        if endpoint.per_task:  # one request per task: never on by default
            assert not endpoint.selected and endpoint.parent == "tasks" and endpoint.write_disposition == "merge"
    tables = {e.table or e.name for e in settings.CATALOG}
    assert tables == {
        "custom_fields", "custom_field_settings", "project_memberships", "team_memberships",
        "workspace_memberships", "attachments", "portfolios", "portfolio_items", "portfolio_memberships",
        "goals", "goal_relationships", "status_updates", "time_periods", "time_tracking_entries",
        "project_templates", "task_templates", "allocations", "audit_log_events",
    }


def test_task_fields_users_expect() -> None:
    expected = {"dependencies", "dependents", "approval_status", "assignee_section", "html_notes", "num_hearts",
                "custom_type"}
    assert sorted(expected - set(settings.TASK_FIELDS)) == []
