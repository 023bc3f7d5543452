"""Per-task stories, rebuilt on demand from an RNG seeded by (seed, task gid).

Storing millions of story dicts would cost gigabytes for the large benchmark sizes;
regenerating a task's handful of stories when asked is cheap and deterministic.
"""
from __future__ import annotations

import random

from .clock import fmt_ms
from .store import Record, Store

_SYSTEM = [("assigned", "assigned to {u}"), ("added_to_project", "added to {p}"),
           ("due_date_changed", "changed the due date to 5. März"),
           ("name_changed", "changed the name to “{n}”"), ("marked_complete", "marked this task complete")]
_COMMENTS = ["Sieht gut aus 👍", "了解しました。", "Can we ship this on Friday?", "Voilà — done.",
             "Блокер: ждём ответа", "LGTM", "See attached 📎"]


def story_gid(task_gid: str, index: int) -> str:
    """Generated story gids extend the task gid, so they never collide with created records."""
    return f"{task_gid}{index:04d}"


def generate_stories(store: Store, task: Record) -> list[Record]:
    """The generated stories of a task in creation order (oldest first, as Asana lists them)."""
    n = store.story_counts.get(task["gid"], 0)
    if n == 0:
        return []
    rng = random.Random(f"{store.seed}:{task['gid']}")
    users = list(store.records["user"].values())
    t0, t1 = task["_t0"], task["_t1"]
    times = sorted(rng.randint(t0, t1) for _ in range(n))
    target = {"gid": task["gid"], "resource_type": "task", "name": task["name"],
              "resource_subtype": task["resource_subtype"]}
    out = []
    for i, ms in enumerate(times):
        author = users[rng.randrange(len(users))]
        if rng.random() < 0.5:
            subtype, kind = "comment_added", "comment"
            text = rng.choice(_COMMENTS)
        else:
            subtype, tmpl = rng.choice(_SYSTEM)
            kind = "system"
            text = tmpl.format(u=author["name"], p="Roadmap", n=task["name"])
        out.append({"gid": story_gid(task["gid"], i), "resource_type": "story",
                    "created_at": fmt_ms(ms), "created_by": author, "resource_subtype": subtype,
                    "type": kind, "text": text, "html_text": f"<body>{text}</body>",
                    "is_pinned": False, "is_edited": False, "source": "web", "target": target,
                    "num_likes": 0, "likes": [], "hearts": [], "num_hearts": 0, "hearted": False,
                    "liked": False})
    return out
