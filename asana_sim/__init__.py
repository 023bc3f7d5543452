"""A local, faithful Asana REST API for demos, end-to-end tests and benchmarks.

Usage::

    from asana_sim import AsanaSim, SimConfig
    with AsanaSim(token="sim-token", config=SimConfig(seed=1, tasks=200)) as sim:
        requests.get(sim.base_url + "/workspaces", headers={"Authorization": "Bearer sim-token"})
"""
from .config import SimConfig
from .requestlog import RequestRecord
from .server import AsanaSim

__all__ = ["AsanaSim", "SimConfig", "RequestRecord"]
