"""Simulator knobs: data sizes plus limits and faults, all off by default.

Limits and faults are read per request, so a test or benchmark may change them on a
running simulator (``sim.config.error_rate = 0.05``) without restarting it.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SimConfig:
    """Everything that shapes the simulated Asana account.

    Attributes:
        seed: Same seed and sizes give byte-identical data.
        tasks: Top-level tasks in total, spread over projects (subtasks come on top).
        projects: Projects across both workspaces; most sit in the organization.
        users: Users shared by both workspaces.
        teams: Teams in the organization (the plain workspace has none, as in Asana).
        tags_per_workspace: Tags generated in each workspace.
        sections_per_project: Sections per project.
        multi_home_share: Share of tasks that also sit in a second project.
        subtask_share: Share of tasks that have subtasks (recursively, up to ``max_depth``).
        max_depth: Deepest subtask level.
        stories_mean: Mean stories per task.
        heavy_story_share: Share of tasks with more than 100 stories.
        keep_generated_stories: Make every task's stories up front and keep them instead of
            rebuilding them per request (the bench's read-only runs: the simulator shares the
            machine with the loader it serves; ~1 KB a story).
        archived_share: Share of archived projects.
        latency_ms: Fixed delay added to each API request.
        jitter_ms: Uniform random extra delay on top of ``latency_ms``.
        quota_per_minute: Requests per token in a sliding 60 s window (None: unlimited).
        max_concurrent: GET requests in flight at once (None: unlimited).
        error_rate: Share of requests answered 500 or 503.
        drop_rate: Share of requests whose connection is closed without an answer.
        throttle_burst_at: The n-th API request (counting from 1) starts a burst of 429s
            (None: no burst). Deterministic, unlike the concurrency cap, so tests can rely on it.
        throttle_burst_length: How many consecutive requests the burst answers 429.
        throttle_path_prefix: Every request whose path starts with this is answered 429
            (None: none), so a test can stop a run at a known step, e.g. after its events.
        expire_offset_number: The n-th offset presented (counting from 1) is answered as
            expired, whatever its age: an expiry mid-listing that tests can rely on.
        offset_ttl_s: Lifetime of pagination offsets; 0 makes every offset expire at once.
        sync_ttl_s: Lifetime of event sync tokens (Asana: 24 h).
        premium: Whether premium-only endpoints (search, portfolios, goals, allocations, time
            tracking) answer, else 402.
        enterprise: Whether the audit log answers (else 403, or 402 without premium).
        oauth_client_id: With the secret and refresh token, an OAuth app whose refresh token
            ``POST /-/oauth_token`` exchanges for access tokens (None: no OAuth app).
        oauth_client_secret: The OAuth app's secret.
        oauth_refresh_token: The refresh token the app was granted.
        oauth_token_ttl_s: Lifetime of issued access tokens on the simulator's clock.
        forbidden_projects: Project gids the token may not read (403).
        exports: Whether the workspace has the plan for resource exports (Enterprise+ or the
            Compliance add-on); off, like a free workspace: `POST /exports/resource` answers 402.
        export_seconds: How long an export job stays `in_progress`, on the simulator's clock.
        export_fail: Jobs created while this is on end `failed` instead of `succeeded`.
        export_nested_subtasks: Subtasks come nested in their parent's line (`subtasks` array)
            instead of as lines of their own; Asana does not document which.
        export_snapshot: "start" builds an export's file when the job starts (writes made while
            it runs are not in it), "end" when it completes (they are).
        export_link_ttl_s: Lifetime of a download link from the moment a job answer carried it.
        workspace_events: Whether ``GET /workspaces/{gid}/events`` answers (a plan feature); off,
            like a free workspace: 402.
        search: Whether task search answers (it needs ``premium`` too); off, like a free
            workspace: 402.
        search_quota_per_minute: Search's own limit per token (Asana: 60/min), 429 with
            ``Retry-After`` above it; None: unlimited.
        documented_modified_at: Follow Asana's documented ``Task.modified_at`` rules: moving a
            task to another project or section does not change its ``modified_at``. Off keeps
            the older behaviour (a move modifies the task), so tests can run in both worlds.
    """

    seed: int = 1
    tasks: int = 60
    projects: int = 4
    users: int = 20
    teams: int = 4
    tags_per_workspace: int = 6
    sections_per_project: int = 3
    multi_home_share: float = 0.05
    subtask_share: float = 0.10
    max_depth: int = 3
    stories_mean: float = 3.0
    heavy_story_share: float = 0.01
    keep_generated_stories: bool = False
    archived_share: float = 0.10
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    quota_per_minute: int | None = None
    max_concurrent: int | None = None
    error_rate: float = 0.0
    drop_rate: float = 0.0
    throttle_burst_at: int | None = None
    throttle_burst_length: int = 10
    throttle_path_prefix: str | None = None
    expire_offset_number: int | None = None
    offset_ttl_s: float = 900.0
    sync_ttl_s: float = 86400.0
    premium: bool = True
    enterprise: bool = False
    oauth_client_id: str | None = None
    oauth_client_secret: str | None = None
    oauth_refresh_token: str | None = None
    oauth_token_ttl_s: float = 3600.0
    forbidden_projects: set[str] = field(default_factory=set)
    exports: bool = False
    export_seconds: float = 5.0
    export_fail: bool = False
    export_nested_subtasks: bool = False
    export_snapshot: str = "start"
    export_link_ttl_s: float = 300.0
    documented_modified_at: bool = False
    workspace_events: bool = False
    search: bool = False
    search_quota_per_minute: int | None = 60
