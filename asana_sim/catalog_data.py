"""Generator of the catalog's records: memberships, goals, status updates, time tracking, ...

Runs after the core account is built, on its own RNG seeded from the account's seed, so the
core records (and every test and benchmark bound computed from them) are byte-identical to
before these kinds existed. A few records per parent: quick even for 100k tasks.
"""
from __future__ import annotations

import random
from typing import Any

from .clock import fmt_ms
from .store import Record

STATUS_TYPES = ("on_track", "at_risk", "off_track", "on_hold", "complete")
EVENT_TYPES = (("task_deleted", "deletion"), ("user_login_succeeded", "logins"),
               ("project_privacy_changed", "access_control"), ("file_downloaded", "content_export"))


def generate_catalog(gen: Any, workspaces: list[Record], users: list[Record], teams: list[Record],
                     projects: list[Record]) -> None:
    """Adds the catalog's records to ``gen.store``; ``gen`` is the core generator (its ``rec``/``ts``)."""
    rng = random.Random(gen.cfg.seed * 7919 + 17)
    store = gen.store

    def ts() -> str:
        return fmt_ms(rng.randint(gen.base - 365 * 86400 * 1000, gen.base))

    def day() -> str:
        return ts()[:10]

    def status_update(parent: Record, kind: str) -> None:
        author = rng.choice(users)
        created = ts()
        gen.rec("status_update", parent=parent, author=author, created_by=author, created_at=created,
                modified_at=created, title=f"Status {rng.choice(('W12', 'Q3', 'Mai', '七月'))}",
                text="Läuft – on track", html_text="<body>Läuft – on track</body>",
                status_type=rng.choice(STATUS_TYPES), resource_subtype=f"{kind}_status_update",
                hearted=False, hearts=[], liked=False, likes=[], num_hearts=0, num_likes=0,
                reaction_summary=[])

    for ws in workspaces:
        for i, user in enumerate(users):
            gen.rec("workspace_membership", user=user, workspace=ws, is_active=True, is_admin=i == 0,
                    is_guest=False, is_view_only=False, created_at=ts(), vacation_dates=None)
        year = gen.rec("time_period", display_name="FY26", period="FY", start_on="2026-01-01",
                       end_on="2026-12-31", parent=None, workspace=ws)
        quarters = [gen.rec("time_period", display_name=f"Q{q} FY26", period=f"Q{q}",
                            start_on=f"2026-{3 * q - 2:02d}-01", end_on=f"2026-{3 * q:02d}-28",
                            parent=year, workspace=ws) for q in range(1, 5)]
        ws_projects = [p for p in projects if p["workspace"] is ws]
        goals = []
        for i in range(2):
            owner = users[i % len(users)]
            goal = gen.rec("goal", name=f"Ziel {i + 1}: grow 30%", owner=owner, workspace=ws,
                           team=teams[0] if ws["is_organization"] and teams else None,
                           time_period=rng.choice(quarters), due_on=day(), start_on=None,
                           status=rng.choice(("green", "yellow", "red")), is_workspace_level=i == 0,
                           notes="", html_notes="<body></body>", current_status_update=None,
                           liked=False, likes=[], num_likes=0, followers=[owner], metric=None,
                           privacy_setting="public_to_workspace")
            goals.append(goal)
            status_update(goal, "goal")
        for i, goal in enumerate(goals):
            supporting = goals[0] if i else (ws_projects[0] if ws_projects else None)
            if supporting is not None and supporting is not goal:
                gen.rec("goal_relationship", supported_goal=goal, supporting_resource=supporting,
                        resource_subtype="subgoal" if supporting["resource_type"] == "goal" else "supporting_work",
                        contribution_weight=1.0)
        for portfolio in [p for p in store.all("portfolio") if p["workspace"] is ws]:
            portfolio["_items"] = ws_projects[:2]
            for user in [portfolio["owner"], *rng.sample(users, 1)]:
                if not any(m["user"] is user for m in portfolio.setdefault("_members", [])):
                    portfolio["_members"].append(gen.rec(
                        "portfolio_membership", portfolio=portfolio, user=user,
                        access_level="admin" if user is portfolio["owner"] else "editor"))
            status_update(portfolio, "portfolio")
        if ws["is_organization"]:
            for i in range(2):
                gen.rec("project_template", name=f"Vorlage {i + 1}", description="", html_description="<body></body>",
                        owner=users[i % len(users)], team=teams[i % len(teams)] if teams else None,
                        public=i == 0, color="light-green", requested_dates=[], requested_roles=[], workspace=ws)
            for n, (event_type, category) in enumerate(EVENT_TYPES * 2):
                actor = users[n % len(users)]
                gen.rec("audit_log_event", created_at=fmt_ms(gen.base - (10 - n) * 3600 * 1000),
                        event_type=event_type, event_category=category,
                        actor={"actor_type": "user", "gid": actor["gid"], "name": actor["name"],
                               "email": actor["email"]},
                        resource={"resource_type": "task", "resource_subtype": "default_task",
                                  "gid": str(900000 + n), "name": "Gelöscht"},
                        details={}, context={"context_type": "web", "client_ip_address": "203.0.113.7",
                                             "user_agent": "Mozilla/5.0"},
                        workspace=ws)
    for project in projects:
        for _ in range(rng.randint(0, 2)):
            status_update(project, "project")
        if rng.random() < 0.5:
            gen.rec("task_template", name="Bug report 🐞", project=project, created_at=ts(),
                    created_by=project["owner"])
        if project["workspace"]["is_organization"]:
            for user in rng.sample(project["members"], min(2, len(project["members"]))):
                start = day()
                gen.rec("allocation", parent=project, assignee=user, start_date=start, end_date=start,
                        effort={"type": "hours", "value": rng.randint(1, 40)}, created_by=project["owner"],
                        resource_subtype="project_allocation", workspace=project["workspace"])
    for task in store.all("task"):
        # Tasks without dependencies answer the spec's default, an empty list.
        if task["parent"] is None and task["projects"] and rng.random() < 0.08:
            siblings = store.project_tasks[task["projects"][0]["gid"]]
            blocker = store.by_gid[rng.choice(siblings)]
            if blocker is not task and blocker not in task.get("dependencies", ()):
                task.setdefault("dependencies", []).append(blocker)
                blocker.setdefault("dependents", []).append(task)
        if rng.random() < 0.1:
            home = store.root_task(task)["projects"]
            for _ in range(rng.randint(1, 2)):
                gen.rec("time_tracking_entry", task=task, created_by=rng.choice(users),
                        duration_minutes=rng.randint(5, 240), entered_on=day(), created_at=ts(),
                        attributable_to=home[0] if home else None, categories=[], description="",
                        approval_status="DRAFT", billable_status="notApplicable")
