"""Changes 1% of the tasks through Asana's write endpoints, over HTTP, between two loads.

Renames (`PUT /tasks/{gid}` name), comments (`POST /tasks/{gid}/stories`) and completions
(`PUT /tasks/{gid}` completed) in turn, on top-level tasks: those are the tasks a project's
`modified_since` listing can report. Going through HTTP, not the store, keeps the simulator's
side effects (modified_at, system stories) exactly Asana's.
"""

import random
from typing import Any, Dict, List, Set, Tuple

import requests

KINDS = ("rename", "comment", "complete")


def pick_tasks(store: Any, share: float, seed: int, minimum: int = 3) -> List[Tuple[str, str]]:
    """Chooses the (task gid, change kind) pairs, deterministically for a seed.

    Completions go to tasks not completed yet, or the change would be a no-op that
    leaves modified_at alone.
    """
    with store.lock:
        listed = {gid for gids in store.project_tasks.values() for gid in gids}
        tasks = [t for gid, t in store.records["task"].items() if gid in listed and t.get("parent") is None]
    rng = random.Random(seed)
    rng.shuffle(tasks)
    count = max(minimum, round(share * len(tasks)))
    open_tasks = [t for t in tasks if not t["completed"]]
    picked: List[Tuple[str, str]] = []
    used: Set[str] = set()
    for i in range(count):
        kind = KINDS[i % len(KINDS)]
        pool = open_tasks if kind == "complete" else tasks
        task = next(t for t in pool if t["gid"] not in used)
        used.add(task["gid"])
        picked.append((task["gid"], kind))
    return picked


def apply_changes(base_url: str, token: str, picked: List[Tuple[str, str]]) -> Dict[str, int]:
    """Sends the writes; returns how many of each kind Asana accepted."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    done = {kind: 0 for kind in KINDS}
    for gid, kind in picked:
        if kind == "rename":
            response = session.put(f"{base_url}/tasks/{gid}", json={"data": {"name": f"Renamed {gid}"}}, timeout=30)
        elif kind == "comment":
            response = session.post(
                f"{base_url}/tasks/{gid}/stories", json={"data": {"text": "Benchmark comment 💬"}}, timeout=30
            )
        else:
            response = session.put(f"{base_url}/tasks/{gid}", json={"data": {"completed": True}}, timeout=30)
        response.raise_for_status()
        done[kind] += 1
    return done
