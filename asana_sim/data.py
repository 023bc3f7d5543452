"""Deterministic generator of a realistic Asana account.

One seeded RNG drives everything in a fixed order, so the same seed and sizes give
byte-identical data. Stories are not stored: each task's stories are rebuilt on demand
from an RNG seeded by (seed, task gid), which keeps 100k tasks and their ~300k stories
in a few hundred MB and generation in seconds.
"""
from __future__ import annotations

import random
from typing import Any

from .clock import EPOCH_BASE_MS, fmt_ms
from .config import SimConfig
from .store import Record, Store
from .stories import generate_stories, origin_of

WORDS = ["Übersicht 📊", "日本語", "Roadmap", "Café crème", "Zürich", "naïve", "Прогноз",
         "Ελληνικά", "🚀 Launch", "Q3", "Bug", "Fix", "Review", "Design", "Budget", "Déjà vu",
         "Straße", "Onboarding", "API", "Migration", "Kundenfeedback", "Señal", "报告", "Sprint"]
FIRST = ["Ana", "Björn", "Chloé", "Dmitri", "Eun-ji", "François", "Grace", "Hiroshi", "Ingrid",
         "José", "Kwame", "Léa", "Mateo", "Nadia", "Oskar", "Priya", "Quentin", "Rūta", "Søren", "Zoë"]
LAST = ["Müller", "Tanaka", "Øster", "García", "Kowalski", "O'Brien", "Nguyễn", "Smith", "Åberg"]
COLORS = ["dark-pink", "dark-green", "dark-blue", "dark-red", "dark-teal", "dark-brown",
          "dark-orange", "dark-purple", "dark-warm-gray", "light-pink", "light-green", "light-blue"]
SPAN_MS = 730 * 86400 * 1000


def base_ms(seed: int) -> int:
    """A fixed 'now' for generated data: in the past, reproducible, seed-dependent."""
    return EPOCH_BASE_MS - (seed % 365) * 86400 * 1000


def _name(rng: random.Random, n: int = 2) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


class _Gen:
    """Builds the store; a class only to share the RNG and store between steps."""

    def __init__(self, cfg: SimConfig) -> None:
        self.cfg = cfg
        self.rng = random.Random(cfg.seed)
        self.store = Store(cfg.seed, generate_stories, keep_stories=cfg.keep_generated_stories)
        self.base = base_ms(cfg.seed)

    def ts(self, lo: int | None = None) -> int:
        lo = self.base - SPAN_MS if lo is None else lo
        return self.rng.randint(lo, self.base)

    def rec(self, kind: str, **fields: Any) -> Record:
        rec: Record = {"gid": self.store.new_gid(), "resource_type": kind}
        rec.update(fields)
        return self.store.add(rec)

    def run(self) -> Store:
        cfg, rng, s = self.cfg, self.rng, self.store
        org = self.rec("workspace", name="Acme Org Ünïcode", is_organization=True,
                       email_domains=["acme.example"])
        plain = self.rec("workspace", name="Personal Projects", is_organization=False,
                         email_domains=[])
        workspaces = [org, plain]
        users = []
        for i in range(max(1, cfg.users)):
            name = f"{FIRST[i % len(FIRST)]} {LAST[(i * 7) % len(LAST)]}"
            users.append(self.rec("user", name=name, email=f"user{i}@acme.example",
                                  photo=None, workspaces=workspaces))
        s.me = users[0]
        teams = [self.rec("team", name=f"Team {_name(rng, 1)} {i}", organization=org,
                          description="", html_description="<body></body>", visibility="members",
                          permalink_url="")
                 for i in range(cfg.teams)]
        for team in teams:
            team["permalink_url"] = f"https://app.asana.com/0/team/{team['gid']}"
            for u in rng.sample(users, min(len(users), rng.randint(2, 8))):
                self.rec("team_membership", user=u, team=team, is_guest=False,
                         is_limited_access=False, is_admin=rng.random() < 0.2)
        cfs = {ws["gid"]: self.custom_fields(ws, users) for ws in workspaces}
        tags = {ws["gid"]: [self.rec("tag", name=_name(rng, 1), color=rng.choice(COLORS),
                                     workspace=ws, created_at=fmt_ms(self.ts()), followers=[],
                                     notes="", permalink_url="")
                            for _ in range(cfg.tags_per_workspace)] for ws in workspaces}
        n_plain = max(1, round(cfg.projects * 0.2)) if cfg.projects >= 2 else 0
        projects = []
        for i in range(cfg.projects):
            ws = plain if i >= cfg.projects - n_plain else org
            projects.append(self.project(ws, teams, users, cfs[ws["gid"]]))
        for ws in workspaces:
            for i in range(2):
                owner = users[i % len(users)]
                self.rec("portfolio", name=f"Portfolio {_name(rng, 1)}", owner=owner, workspace=ws,
                         color=rng.choice(COLORS), created_at=fmt_ms(self.ts()), created_by=owner,
                         members=[owner], public=False, archived=False)
        if projects:
            for _ in range(cfg.tasks):
                self.top_task(projects, users, tags, cfs)
        for t in list(s.records["task"].values()):
            t["permalink_url"] = f"https://app.asana.com/0/0/{t['gid']}"
        from .catalog_data import generate_catalog

        generate_catalog(self, workspaces, users, teams, projects)
        for t in s.records["task"].values():
            t["_origin"] = origin_of(t)  # the state the generated history leads up to
        return s

    def custom_fields(self, ws: Record, users: list[Record]) -> list[Record]:
        out = []
        for typ in ("text", "number", "enum", "multi_enum", "date", "people"):
            cf = self.rec("custom_field", name=f"{typ.title()} {_name(self.rng, 1)}", type=typ,
                          resource_subtype=typ, enabled=True, description="",
                          created_by=users[0], is_global_to_workspace=True,
                          has_notifications_enabled=True, precision=2 if typ == "number" else 0,
                          format="none", workspace=ws,
                          representation_type=typ, id_prefix=None, input_restrictions=[],
                          is_formula_field=False, is_value_read_only=False,
                          asana_created_field=None, currency_code=None, custom_label=None,
                          custom_label_position=None, privacy_setting="public_with_guests",
                          default_access_level="editor")
            if typ in ("enum", "multi_enum"):
                cf["enum_options"] = [self.rec("enum_option", name=n, enabled=True,
                                               color=self.rng.choice(COLORS))
                                      for n in ("Niedrig", "Medium", "高い 🔥")]
            out.append(cf)
        return out

    def project(self, ws: Record, teams: list[Record], users: list[Record],
                cfs: list[Record]) -> Record:
        rng = self.rng
        created = self.ts()
        owner = rng.choice(users)
        members = rng.sample(users, min(len(users), rng.randint(1, 6)))
        if owner not in members:
            members.insert(0, owner)
        p = self.rec("project", name=_name(rng, 3), archived=rng.random() < self.cfg.archived_share,
                     color=rng.choice(COLORS), created_at=fmt_ms(created),
                     modified_at=fmt_ms(self.ts(created)), notes="", html_notes="<body></body>",
                     owner=owner, team=rng.choice(teams) if ws["is_organization"] and teams else None,
                     workspace=ws, members=members, followers=[owner], due_on=None, due_date=None,
                     start_on=None, default_view="list", completed=False, completed_at=None,
                     completed_by=None, public=True, privacy_setting="public_to_workspace",
                     current_status=None, current_status_update=None, icon="list")
        p["permalink_url"] = f"https://app.asana.com/0/{p['gid']}/{p['gid']}"
        p["custom_field_settings"] = [
            self.rec("custom_field_setting", custom_field=cf, project=p, parent=p,
                     is_important=i < 2) for i, cf in enumerate(cfs)]
        p["custom_fields"] = list(cfs)
        for _ in range(self.cfg.sections_per_project):
            sec = self.rec("section", name=_name(rng, 1), project=p, projects=[p],
                           created_at=fmt_ms(self.ts(created)))
            self.store.project_sections[p["gid"]].append(sec["gid"])
        for u in members:
            self.rec("project_membership", parent=p, member=u, user=u, project=p,
                     access_level="admin" if u is owner else "editor", write_access="full_write",
                     resource_subtype="project_membership")
        return p

    def top_task(self, projects: list[Record], users: list[Record], tags: dict[str, list[Record]],
                 cfs: dict[str, list[Record]]) -> None:
        rng, s = self.rng, self.store
        p = projects[rng.randrange(len(projects))]
        homes = [p]
        if rng.random() < self.cfg.multi_home_share:
            same_ws = [q for q in projects if q["workspace"] is p["workspace"] and q is not p]
            if same_ws:
                homes.append(rng.choice(same_ws))
        t = self.task(p["workspace"], users, parent=None)
        for home in homes:
            sec = s.by_gid[rng.choice(s.project_sections[home["gid"]])] \
                if s.project_sections[home["gid"]] else None
            t["projects"].append(home)
            t["memberships"].append({"project": home, "section": sec})
            s.project_tasks[home["gid"]].append(t["gid"])
            if sec is not None:
                s.section_tasks[sec["gid"]].append(t["gid"])
        ws_tags = tags[p["workspace"]["gid"]]
        if ws_tags and rng.random() < 0.3:
            for tag in rng.sample(ws_tags, min(len(ws_tags), rng.randint(1, 2))):
                t["tags"].append(tag)
                s.tag_tasks[tag["gid"]].append(t["gid"])
        t["_cf"] = self.cf_values(cfs[p["workspace"]["gid"]], users)
        if rng.random() < self.cfg.subtask_share:
            self.subtasks(t, users, 1)

    def subtasks(self, parent: Record, users: list[Record], depth: int) -> None:
        for _ in range(self.rng.randint(1, 4)):
            sub = self.task(parent["workspace"], users, parent=parent)
            self.store.subtasks[parent["gid"]].append(sub["gid"])
            if depth < self.cfg.max_depth and self.rng.random() < 0.15:
                self.subtasks(sub, users, depth + 1)

    def task(self, ws: Record, users: list[Record], parent: Record | None) -> Record:
        rng, cfg = self.rng, self.cfg
        created = self.ts()
        modified = self.ts(created)
        completed = rng.random() < 0.35
        assignee = rng.choice(users) if rng.random() < 0.7 else None
        due = fmt_ms(self.ts(created))[:10] if rng.random() < 0.5 else None
        t = self.rec("task", name=_name(rng, rng.randint(1, 4)),
                     resource_subtype="milestone" if rng.random() < 0.03 else "default_task",
                     created_at=fmt_ms(created), modified_at=fmt_ms(modified),
                     completed=completed,
                     completed_at=fmt_ms(rng.randint(created, modified)) if completed else None,
                     completed_by=rng.choice(users) if completed else None,
                     assignee=assignee, assignee_status="inbox" if assignee else None,
                     due_on=due, due_at=None, start_on=None, start_at=None,
                     notes="Notizen – ノート" if rng.random() < 0.5 else "",
                     parent=parent, projects=[], memberships=[], tags=[],
                     followers=[assignee] if assignee else [], workspace=ws,
                     created_by=rng.choice(users), num_likes=0, likes=[], hearts=[], num_hearts=0,
                     hearted=False, liked=False, _cf={}, _t0=created, _t1=modified)
        t["html_notes"] = f"<body>{t['notes']}</body>"
        heavy = rng.random() < cfg.heavy_story_share
        n = rng.randint(101, 180) if heavy else rng.randint(0, max(0, int(2 * cfg.stories_mean)))
        self.store.story_counts[t["gid"]] = n
        if rng.random() < 0.05:
            self.rec("attachment", name=f"{_name(rng, 1)}.pdf", resource_subtype="asana",
                     created_at=fmt_ms(self.ts(created)), parent=t, host="asana", size=1024,
                     download_url=None, permanent_url=None, view_url=None, connected_to_app=False)
        return t

    def cf_values(self, cfs: list[Record], users: list[Record]) -> dict[str, Any]:
        rng, out = self.rng, {}
        for cf in cfs:
            if rng.random() < 0.4:
                continue
            typ = cf["type"]
            if typ == "text":
                out[cf["gid"]] = _name(rng, 2)
            elif typ == "number":
                out[cf["gid"]] = round(rng.uniform(-100, 10000), 2)
            elif typ == "enum":
                out[cf["gid"]] = rng.choice(cf["enum_options"])
            elif typ == "multi_enum":
                out[cf["gid"]] = rng.sample(cf["enum_options"], rng.randint(1, 2))
            elif typ == "date":
                out[cf["gid"]] = fmt_ms(self.ts())[:10]
            elif typ == "people":
                out[cf["gid"]] = rng.sample(users, rng.randint(1, 2))
        return out


def generate(cfg: SimConfig) -> Store:
    """Build a fresh store for the config (only the size fields and seed matter)."""
    store = _Gen(cfg).run()
    if cfg.keep_generated_stories:
        store.keep_all_stories()
    return store
