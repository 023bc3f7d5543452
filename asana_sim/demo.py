"""A few realistic changes made through Asana's own write endpoints, for the demo and tests.

Any Asana-compatible server takes them: nothing here reaches into the simulator's memory, so
the second load sees the changes exactly as it would see them on Asana.
"""

from typing import Any, Dict, List

import requests


class _Api:
    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def get(self, path: str, **params: Any) -> Any:
        response = self.session.get(self.base_url + path, params=params, timeout=30)
        response.raise_for_status()
        return response.json()["data"]

    def send(self, method: str, path: str, data: Dict[str, Any]) -> Any:
        response = self.session.request(method, self.base_url + path, json={"data": data}, timeout=30)
        response.raise_for_status()
        return response.json()["data"]


def make_changes(base_url: str, token: str) -> List[str]:
    """Renames, completes and comments on tasks, adds a project and moves a task into it.

    Returns one line per change, for the demo to print.
    """
    api = _Api(base_url, token)
    org = next(w for w in api.get("/workspaces", limit=100, opt_fields="is_organization") if w.get("is_organization"))
    projects = [
        p for p in api.get(f"/workspaces/{org['gid']}/projects", limit=100, opt_fields="name,archived")
        if not p.get("archived")
    ]
    project = projects[0]
    tasks = api.get("/tasks", project=project["gid"], limit=4, opt_fields="name")
    renamed, completed, commented, moved = tasks[:4]

    api.send("PUT", f"/tasks/{renamed['gid']}", {"name": renamed["name"] + " (renamed)"})
    api.send("PUT", f"/tasks/{completed['gid']}", {"completed": True})
    api.send("POST", f"/tasks/{commented['gid']}/stories", {"text": "Shipped to staging ✅"})
    team = api.get(f"/workspaces/{org['gid']}/teams", limit=1)[0]
    new_project = api.send(
        "POST", "/projects", {"name": "Demo launch 🚀", "workspace": org["gid"], "team": team["gid"]}
    )
    api.send("POST", f"/tasks/{moved['gid']}/addProject", {"project": new_project["gid"]})
    created = api.send("POST", "/tasks", {"name": "Write the launch notes", "projects": [new_project["gid"]]})
    return [
        f"renamed task {renamed['gid']} in project {project['name']!r}",
        f"completed task {completed['gid']}",
        f"commented on task {commented['gid']}",
        f"created project {new_project['name']!r} ({new_project['gid']}) and moved task {moved['gid']} into it",
        f"created task {created['gid']} in the new project",
    ]
