"""A tiny Asana behind `responses`, for unit tests of request building and error paths.

It pages with opaque-enough offsets, filters tasks by `project` and `modified_since`, records
every call, and can be told to fail the next calls to a path. `POST /batch` answers each action
as the GET it stands for (recorded as a call of its own, with the batch's number), so a failure
set for a path hits the action too; `batches` keeps each batch's actions as sent. Faithfulness to Asana is the job
of `asana_sim` (over real HTTP); this fake only needs to be exact about what we send.
"""

import json
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import parse_qs, urlsplit

import responses

BASE_URL = "https://asana.test/api/1.0"
TOKEN = "fake-token-for-tests-only-a7c3e9"


@dataclass
class Call:
    method: str
    path: str
    params: Dict[str, str]
    headers: Dict[str, str]
    batch: int = 0  # the `POST /batch` that carried this call as an action; 0 for a direct GET


@dataclass
class Failure:
    pattern: "re.Pattern[str]"
    status: int
    times: int
    headers: Dict[str, str] = field(default_factory=dict)
    body: Optional[str] = None
    offset: Optional[str] = None


def stamp(minute: int) -> str:
    """An Asana-format timestamp `minute` minutes into a fixed day."""
    return f"2024-02-22T{minute // 60:02d}:{minute % 60:02d}:00.000Z"


class FakeAsana:
    """Holds a small account and answers Asana's read endpoints from it."""

    def __init__(self, rsps: responses.RequestsMock, page_size_cap: int = 100) -> None:
        self.workspaces: List[Dict[str, Any]] = [
            {"gid": "10", "resource_type": "workspace", "name": "Acme Org", "is_organization": True, "email_domains": []},
        ]
        self.projects: Dict[str, List[Dict[str, Any]]] = {"10": []}
        self.sections: Dict[str, List[Dict[str, Any]]] = {}
        self.tasks: Dict[str, Dict[str, Any]] = {}
        self.subtasks: Dict[str, List[str]] = {}
        self.stories: Dict[str, List[Dict[str, Any]]] = {}
        self.tags: Dict[str, List[Dict[str, Any]]] = {"10": [{"gid": "70", "resource_type": "tag", "name": "urgent"}]}
        self.teams: Dict[str, List[Dict[str, Any]]] = {"10": [{"gid": "80", "resource_type": "team", "name": "Ops"}]}
        self.users: Dict[str, List[Dict[str, Any]]] = {
            "10": [{"gid": "90", "resource_type": "user", "name": "Ada", "email": "ada@acme.test"}]
        }
        self.calls: List[Call] = []
        self.failures: List[Failure] = []
        self.batches: List[List[Dict[str, Any]]] = []
        self._next_gid = 1000
        rsps.add_callback(responses.POST, BASE_URL + "/batch", callback=self._batch)
        rsps.add_callback(responses.GET, re.compile(re.escape(BASE_URL) + r"/.*"), callback=self._answer)

    # --- building the account ---------------------------------------------------------------
    def gid(self) -> str:
        self._next_gid += 1
        return str(self._next_gid)

    def add_project(self, name: str, workspace: str = "10") -> str:
        gid = self.gid()
        self.projects[workspace].append(
            {"gid": gid, "resource_type": "project", "name": name, "archived": False, "modified_at": stamp(0)}
        )
        self.sections[gid] = [{"gid": self.gid(), "resource_type": "section", "name": "Backlog", "project": {"gid": gid}}]
        return gid

    def add_task(self, projects: List[str], minute: int, stories: int = 1, parent: Optional[str] = None) -> str:
        gid = self.gid()
        self.tasks[gid] = {
            "gid": gid,
            "resource_type": "task",
            "name": f"Task {gid}",
            "modified_at": stamp(minute),
            "created_at": stamp(0),
            "projects": [{"gid": p, "resource_type": "project"} for p in projects],
            "memberships": [{"project": {"gid": p}, "section": {"gid": self.sections[p][0]["gid"]}} for p in projects],
            "num_subtasks": 0,
            "parent": {"gid": parent} if parent else None,
        }
        if parent:
            self.subtasks.setdefault(parent, []).append(gid)
            self.tasks[parent]["num_subtasks"] += 1
        self.stories[gid] = []
        for _ in range(stories):
            self.add_story(gid, minute)
        return gid

    def add_story(self, task_gid: str, minute: int) -> str:
        gid = self.gid()
        self.stories[task_gid].append(
            {"gid": gid, "resource_type": "story", "type": "comment", "text": "hi", "created_at": stamp(minute)}
        )
        self.tasks[task_gid]["modified_at"] = max(self.tasks[task_gid]["modified_at"], stamp(minute))
        return gid

    def fail(self, path_regex: str, status: int, times: int = 1, **kwargs: Any) -> None:
        """The next `times` calls whose path matches answer `status` instead."""
        self.failures.append(Failure(re.compile(path_regex), status, times, **kwargs))

    # --- answering ----------------------------------------------------------------------------
    def calls_to(self, path: str) -> List[Call]:
        return [c for c in self.calls if c.path == path]

    def _batch(self, request: Any) -> Tuple[int, Dict[str, str], str]:
        """Asana's batch API: each action answered as its GET, results in the actions' order."""
        actions = json.loads(request.body)["data"]["actions"]
        self.batches.append(actions)
        for failure in self.failures:  # a failure set for "/batch" answers the whole batch
            if failure.times > 0 and failure.pattern.fullmatch("/batch"):
                failure.times -= 1
                return failure.status, failure.headers, json.dumps({"errors": [{"message": f"fake {failure.status}"}]})
        results = []
        for action in actions:
            options = action.get("options") or {}
            params = {k: str(options[k]) for k in ("limit", "offset") if k in options}
            if options.get("fields"):
                params["opt_fields"] = ",".join(options["fields"])
            status, headers, body = self._get(action["relative_path"], params, request.headers, len(self.batches))
            results.append({"status_code": status, "headers": headers, "body": json.loads(body)})
        return 200, {}, json.dumps({"data": results})

    def _answer(self, request: Any) -> Tuple[int, Dict[str, str], str]:
        url = urlsplit(request.url)
        path = url.path[len(urlsplit(BASE_URL).path) :]
        params = {k: v[-1] for k, v in parse_qs(url.query).items()}
        return self._get(path, params, request.headers)

    def _get(self, path: str, params: Dict[str, str], headers: Any, batch: int = 0) -> Tuple[int, Dict[str, str], str]:
        request_headers = dict(headers)
        self.calls.append(Call("GET", path, params, request_headers, batch))
        if request_headers.get("Authorization") != f"Bearer {TOKEN}":
            return 401, {}, json.dumps({"errors": [{"message": "Not Authorized"}]})
        for failure in self.failures:
            if failure.offset is not None and params.get("offset") != failure.offset:
                continue
            if failure.times > 0 and failure.pattern.fullmatch(path):
                failure.times -= 1
                body = failure.body if failure.body is not None else json.dumps({"errors": [{"message": f"fake {failure.status}"}]})
                return failure.status, failure.headers, body
        if path.endswith(("/tasks/search", "/events")) and path.startswith("/workspaces/"):  # a free workspace
            return 402, {}, json.dumps({"errors": [{"message": "This feature is only available to premium workspaces."}]})
        if path == "/events":  # no change is ever recorded here: a fresh token, then no events
            if not params.get("sync"):
                return 412, {}, json.dumps({"errors": [{"message": "Sync token invalid"}], "sync": "fake-sync"})
            return 200, {}, json.dumps({"data": [], "sync": "fake-sync", "has_more": False})
        items = self._route(path, params)
        if items is None:
            return 404, {}, json.dumps({"errors": [{"message": "Unknown object"}]})
        start = int(params.get("offset", "0").lstrip("o") or 0)
        limit = int(params.get("limit", "100"))
        page = items[start : start + limit]
        nxt = None
        if start + limit < len(items):
            nxt = {"offset": f"o{start + limit}", "path": path, "uri": BASE_URL + path}
        return 200, {}, json.dumps({"data": page, "next_page": nxt})

    def _route(self, path: str, params: Dict[str, str]) -> Optional[List[Dict[str, Any]]]:
        parts = path.strip("/").split("/")
        if parts == ["workspaces"]:
            return self.workspaces
        if parts == ["users"]:
            return self.users.get(params.get("workspace", ""), [])
        if parts == ["tasks"]:
            project = params.get("project")
            since = params.get("modified_since", "")
            return [
                t
                for t in self.tasks.values()
                if any(p["gid"] == project for p in t["projects"]) and t["modified_at"] >= since
            ]
        if len(parts) == 3 and parts[0] == "workspaces":
            table = {"projects": self.projects, "tags": self.tags, "teams": self.teams}.get(parts[2])
            return None if table is None else table.get(parts[1])
        if len(parts) == 3 and parts[0] == "projects" and parts[2] == "sections":
            return self.sections.get(parts[1])
        if len(parts) == 3 and parts[0] == "tasks" and parts[2] == "stories":
            return self.stories.get(parts[1])
        if len(parts) == 3 and parts[0] == "tasks" and parts[2] == "subtasks":
            return [self.tasks[g] for g in self.subtasks.get(parts[1], [])]
        return None
