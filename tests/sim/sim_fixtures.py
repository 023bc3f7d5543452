"""Fixtures for the simulator tests (imported by tests/sim/test_sim_*.py).

The spec is parsed once per process by ``asana_sim.spec``; the read-only simulator is
shared by the whole session, while tests that write get a fresh, tiny one.
"""
from __future__ import annotations

from typing import Any, Iterator

import pytest
import requests

from asana_sim import AsanaSim, SimConfig
from asana_sim import spec as sim_spec

TOKEN = "sim-token"


class Api:
    """A requests session bound to one simulator, returning raw responses."""

    def __init__(self, sim: AsanaSim) -> None:
        self.sim = sim
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {sim.token}"

    def get(self, path: str, **params: Any) -> requests.Response:
        return self.session.get(self.sim.base_url + path, params=params, timeout=10)

    def post(self, path: str, data: dict[str, Any]) -> requests.Response:
        return self.session.post(self.sim.base_url + path, json={"data": data}, timeout=10)

    def put(self, path: str, data: dict[str, Any]) -> requests.Response:
        return self.session.put(self.sim.base_url + path, json={"data": data}, timeout=10)

    def delete(self, path: str) -> requests.Response:
        return self.session.delete(self.sim.base_url + path, timeout=10)

    def all(self, path: str, **params: Any) -> list[dict[str, Any]]:
        """Follow ``next_page`` to the end, as a client would."""
        out: list[dict[str, Any]] = []
        params.setdefault("limit", 100)
        body = self.get(path, **params).json()
        out += body["data"]
        while body.get("next_page"):
            body = self.session.get(body["next_page"]["uri"], timeout=10).json()
            out += body["data"]
        return out


@pytest.fixture(scope="session")
def oas() -> dict[str, Any]:
    return sim_spec.load_spec()


@pytest.fixture(scope="session")
def shared_sim() -> Iterator[AsanaSim]:
    """Read-only simulator for the whole session; tests must not write to it."""
    with AsanaSim(token=TOKEN, config=SimConfig(seed=3, tasks=150, projects=6, enterprise=True, search=True)) as sim:
        yield sim


@pytest.fixture(scope="session")
def shared_api(shared_sim: AsanaSim) -> Api:
    return Api(shared_sim)


@pytest.fixture
def sim() -> Iterator[AsanaSim]:
    """A fresh small simulator a test may write to or reconfigure."""
    with AsanaSim(token=TOKEN, config=SimConfig(seed=5, tasks=40, projects=3)) as s:
        yield s


@pytest.fixture
def api(sim: AsanaSim) -> Api:
    return Api(sim)


def first_project_with_tasks(sim: AsanaSim, workspace_is_org: bool = True) -> dict[str, Any]:
    """A readable, non-archived project that has tasks (for tests that need one)."""
    store = sim.store
    for p in store.all("project"):
        if (p["workspace"]["is_organization"] == workspace_is_org and not p["archived"]
                and store.project_tasks.get(p["gid"])):
            return p
    raise AssertionError("generator produced no project with tasks")
