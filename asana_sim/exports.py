"""Asana's resource export: `POST /exports/resource`, `GET /jobs/{job_gid}` and the file link.

A job is `in_progress` until `export_seconds` have passed on the simulator's clock, then
`succeeded` (or `failed` with `export_fail`). Its file is built from the store as it is when the
job starts (`export_snapshot="start"`) or completes (`"end"`): writes made while the job ran may
or may not be in it, as on Asana, where each object is current at some moment between. The
link is served outside `/api/1.0` like an S3 pre-signed URL: it refuses a request that carries
an `Authorization` header (S3: "Only one auth mechanism allowed") and expires
`export_link_ttl_s` after the job answer that handed it out.
"""
from __future__ import annotations

import gzip
import hashlib
import hmac
import io
import json
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator
from urllib.parse import parse_qsl

from . import fields, spec
from .clock import fmt_ms, parse_iso
from .errors import ApiError, bad_request, not_found
from .reads import Raw, Req
from .store import Record, Store

DOWNLOAD_PREFIX = "/_export/"
NO_PLAN = ("Resource exports are available on Enterprise+ plans and the Compliance add-on; "
           "upgrade the workspace's plan.")
ONE_AT_A_TIME = ("A workspace is limited to one in progress export request at a given time; "
                 "wait for the running export to finish.")
TASK_FILTERS = ("modified_at.after", "modified_at.before", "created_at.after", "created_at.before",
                "assignee.any", "created_by.any", "followers.any")
_SECRET = b"asana-sim-export-link"


@dataclass
class Job:
    """One export request and, once it completed, its file."""

    gid: str
    export_gid: str
    workspace: Record
    params: list[dict[str, Any]]
    created_s: float
    failed: bool
    file: bytes | None = None
    completed_s: float | None = None
    builder: threading.Thread | None = None


class Exports:
    """The simulator's export jobs; shared by the handlers and the download link."""

    def __init__(self, store: Store, cfg_of: Callable[[], Any], clock: Callable[[], float]) -> None:
        self.store = store
        self.cfg_of = cfg_of
        self.clock = clock
        self.jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self.base_url = ""
        self.downloads: list[dict[str, Any]] = []  # every request to a link: headers seen, status

    # --- the API side ---------------------------------------------------------------------
    def create(self, req: Req) -> Raw:
        cfg = self.cfg_of()
        body = req.body
        ws_gid = str(body.get("workspace") or "")
        if not ws_gid:
            raise bad_request("workspace: Missing input")
        workspace = req.store.get("workspace", ws_gid)
        if workspace is None:
            raise not_found("workspace", ws_gid)
        if not cfg.exports:
            raise ApiError(402, NO_PLAN)
        params = body.get("export_request_parameters")
        if not isinstance(params, list) or not params:
            raise bad_request("export_request_parameters: Missing input")
        for entry in params:
            _check_parameter(entry)
        with self._lock:
            for job in self.jobs.values():
                if job.workspace is workspace and self._status(job) == "in_progress":
                    raise ApiError(403, ONE_AT_A_TIME)
            job = Job(req.store.new_gid(), req.store.new_gid(), workspace, params, self.clock(),
                      bool(cfg.export_fail))
            if cfg.export_snapshot == "start" and not job.failed:
                job.file = self._build(job)
            self.jobs[job.gid] = job
            return Raw({"data": self._job_body(job)}, status=201)

    def get_job(self, req: Req) -> Raw:
        with self._lock:
            job = self.jobs.get(req.groups[0])
            if job is None:
                raise not_found("job", req.groups[0])
            return Raw({"data": self._job_body(job)})

    def _status(self, job: Job) -> str:
        if self.clock() < job.created_s + self.cfg_of().export_seconds:
            return "in_progress"
        if job.failed:
            return "failed"
        if job.completed_s is None:
            if job.file is None:
                # Built beside the request threads, as Asana's job runs beside its API: a large
                # account takes seconds, and the job stays in_progress until the file exists.
                if job.builder is None:
                    job.builder = threading.Thread(target=self._build_into, args=(job,), daemon=True)
                    job.builder.start()
                return "in_progress"
            job.completed_s = max(self.clock(), job.created_s)
        return "succeeded"

    def _build_into(self, job: Job) -> None:
        data = self._build(job)
        with self._lock:
            job.file = data

    def _job_body(self, job: Job) -> dict[str, Any]:
        status = self._status(job)
        export = {"gid": job.export_gid, "resource_type": "export_request",
                  "created_at": fmt_ms(int(job.created_s * 1000)),
                  "completed_at": fmt_ms(int(job.completed_s * 1000)) if job.completed_s else None,
                  "download_url": self._link(job) if status == "succeeded" else None}
        return {"gid": job.gid, "resource_type": "job", "resource_subtype": "export_request",
                "status": status, "new_resource_export": export}

    def _link(self, job: Job) -> str:
        date = str(int(self.clock()))
        expires = str(int(self.cfg_of().export_link_ttl_s))
        name = f"object_export_{job.workspace['gid']}_{job.export_gid}.jsonl.gz"
        sig = _sign(job.gid, date, expires)
        return (f"{self.base_url}{DOWNLOAD_PREFIX}{job.gid}/{name}?X-Amz-Algorithm=AWS4-HMAC-SHA256"
                f"&X-Amz-Date={date}&X-Amz-Expires={expires}&X-Amz-SignedHeaders=host&X-Amz-Signature={sig}")

    # --- the pre-signed link --------------------------------------------------------------
    def download(self, path: str, query: str, headers: Any) -> tuple[int, bytes, str]:
        """Status, body and content type for a request to a link, checked the way S3 checks."""
        params = dict(parse_qsl(query))
        has_auth = headers.get("Authorization") is not None
        job_gid = path[len(DOWNLOAD_PREFIX):].split("/", 1)[0]
        status, body, kind = self._answer(job_gid, params, has_auth)
        with self._lock:
            self.downloads.append({"job": job_gid, "authorization": has_auth, "status": status})
        return status, body, kind

    def _answer(self, job_gid: str, params: dict[str, str], has_auth: bool) -> tuple[int, bytes, str]:
        if has_auth:
            return 400, _s3_error("InvalidArgument", "Only one auth mechanism allowed; only the"
                                  " X-Amz-Algorithm query parameter, Signature query string parameter"
                                  " or the Authorization header should be specified"), "application/xml"
        date, expires = params.get("X-Amz-Date", ""), params.get("X-Amz-Expires", "")
        job = self.jobs.get(job_gid)
        if job is None or job.completed_s is None or job.file is None or not hmac.compare_digest(
                params.get("X-Amz-Signature", ""), _sign(job_gid, date, expires)):
            return 403, _s3_error("SignatureDoesNotMatch", "The request signature we calculated does"
                                  " not match the signature you provided."), "application/xml"
        if self.clock() > int(date) + int(expires):
            return 403, _s3_error("AccessDenied", "Request has expired"), "application/xml"
        return 200, job.file, "application/gzip"

    # --- the file ---------------------------------------------------------------------------
    def _build(self, job: Job) -> bytes:
        out = io.BytesIO()
        with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=1, mtime=0) as gz:
            with self.store.lock:
                for entry in job.params:
                    for line in self._lines(job.workspace, entry):
                        gz.write(json.dumps(line, separators=(",", ":"), ensure_ascii=False).encode())
                        gz.write(b"\n")
        return out.getvalue()

    def _lines(self, workspace: Record, entry: dict[str, Any]) -> Iterator[Record]:
        kind = entry.get("resource_type")
        tree = _tree(entry.get("fields"), kind)
        if kind == "task":
            yield from self._tasks(workspace, entry.get("filters") or {}, tree)
        elif kind == "team":
            for team in self.store.all("team"):
                if team["organization"] is workspace:
                    yield self._team(team, tree)
        else:
            for update in self.store.all("status_update"):
                parent = update.get("parent") or {}
                if parent.get("workspace") is workspace or parent.get("organization") is workspace:
                    yield _message(self.store, update, tree)

    def _tasks(self, workspace: Record, filters: dict[str, Any], tree: fields.FieldTree) -> Iterator[Record]:
        nested = self.cfg_of().export_nested_subtasks
        attachments: dict[str, list[Record]] = {}
        for att in self.store.all("attachment"):
            attachments.setdefault(att["parent"]["gid"], []).append(att)
        for task in self.store.all("task"):
            if task["workspace"] is not workspace or (nested and task.get("parent") is not None):
                continue
            if nested or _matches(task, filters):
                line = self._task(task, tree, attachments, nested, filters)
                if line is not None:
                    yield line

    def _task(self, task: Record, tree: fields.FieldTree, attachments: dict[str, list[Record]],
              nested: bool, filters: dict[str, Any]) -> Record | None:
        line = fields.project(self.store, task, tree["task"]) if _matches(task, filters) else None
        subtasks = []
        if nested:
            for sub_gid in self.store.subtasks.get(task["gid"], ()):
                sub = self.store.get("task", sub_gid)
                if sub is not None:
                    sub_line = self._task(sub, tree, attachments, nested, filters)
                    if sub_line is not None:
                        subtasks.append(sub_line)
        if line is None:
            # A filtered-out parent still carries its matching subtasks, so none is lost.
            if not subtasks:
                return None
            line = {"gid": task["gid"], "resource_type": "task"}
        else:
            line["stories"] = [fields.project(self.store, s, tree["stories"]) for s in self.store.stories(task)]
            line["attachments"] = [fields.project(self.store, a, tree["attachments"])
                                   for a in attachments.get(task["gid"], ())]
        if nested:
            line["subtasks"] = subtasks
        return line

    def _team(self, team: Record, tree: fields.FieldTree) -> Record:
        line = fields.project(self.store, team, tree["team"])
        members = [m["user"] for m in self.store.all("team_membership") if m["team"] is team]
        line["members"] = [fields.project(self.store, u, tree["members"]) for u in members]
        return line


def _matches(task: Record, filters: dict[str, Any]) -> bool:
    for name, value in filters.items():
        field_name, op = name.rsplit(".", 1)
        if op == "any":
            wanted = set(value)
            held = task.get(field_name)
            gids = {h["gid"] for h in held} if isinstance(held, list) else {(held or {}).get("gid")}
            if not gids & wanted:
                return False
            continue
        stamp = task.get(field_name) or ""
        bound = parse_iso(str(value)) or ""
        if (op == "after" and not stamp > bound) or (op == "before" and not stamp < bound):
            return False
    return True


def _check_parameter(entry: Any) -> None:
    if not isinstance(entry, dict) or entry.get("resource_type") not in ("task", "team", "message"):
        raise bad_request("export_request_parameters: resource_type must be one of task, team, message.")
    filters = entry.get("filters") or {}
    if not isinstance(filters, dict):
        raise bad_request("filters: must be an object.")
    if filters and entry["resource_type"] == "team":
        raise bad_request("filters: Filtering is not supported for teams.")
    for name, value in filters.items():
        if name not in TASK_FILTERS:
            raise bad_request(f"filters: Unknown filter \"{name}\" (the simulator supports {', '.join(TASK_FILTERS)}).")
        if name.endswith((".after", ".before")) and parse_iso(str(value)) is None:
            raise bad_request(f"filters: {name}: not a date-time.")
    _tree(entry.get("fields"), entry["resource_type"])


def _allowed(path: str, exclude: tuple[str, ...] = ()) -> frozenset[str]:
    return frozenset(f for f in spec.operation("GET", path).opt_fields if f.split(".")[0] not in exclude)


def _tree(requested: Any, kind: str) -> dict[str, fields.FieldTree]:
    """Field trees per part of an export line, checked against the matching GET endpoint's enum.

    Without `fields`, every top-level field of the endpoint (the export's default set); the
    `stories` and `attachments` arrays are always there, `stories.x` / `attachments.x` pick theirs.
    """
    main_path = {"task": "/tasks", "team": "/teams/{team_gid}", "message": "/status_updates"}[kind]
    parts = {"task": main_path, "stories": "/tasks/{task_gid}/stories", "attachments": "/attachments",
             "team": main_path, "members": "/users", "message": main_path}
    main = "task" if kind == "task" else kind
    sub = ("stories", "attachments") if kind == "task" else ("members",) if kind == "team" else ()
    asked: dict[str, list[str]] = {p: [] for p in (main, *sub)}
    for name in requested or []:
        head, _, rest = str(name).partition(".")
        if head in sub and rest:
            asked[head].append(rest)
        elif head in sub:
            continue
        else:
            asked[main].append(str(name))
    trees: dict[str, fields.FieldTree] = {}
    for part, names in asked.items():
        allowed = _allowed(parts[part])
        if part == "attachments":  # documented: export attachments have no download or view URL
            allowed = frozenset(f for f in allowed if f.split(".")[0] not in ("download_url", "view_url"))
        if not names:
            names = sorted(f for f in allowed if "." not in f)
        try:
            trees[part] = fields.parse_opt_fields(",".join(names), allowed) or {}
        except fields.FieldError as exc:
            prefix = "" if part == main else f"{part}."
            raise bad_request(f"fields: Unknown field \"{prefix}{exc}\" for this export.") from exc
    return trees


def _message(store: Store, update: Record, tree: dict[str, fields.FieldTree]) -> Record:
    line = fields.project(store, update, tree["message"])
    line["resource_type"] = "message"
    return line


def _sign(job_gid: str, date: str, expires: str) -> str:
    return hmac.new(_SECRET, f"{job_gid}:{date}:{expires}".encode(), hashlib.sha256).hexdigest()


def _s3_error(code: str, message: str) -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
            f"<Message>{message}</Message></Error>").encode()


def create_export(req: Req) -> Raw:
    return req.sim.exports.create(req)


def get_job(req: Req) -> Raw:
    return req.sim.exports.get_job(req)


EXPORT_ROUTES = [
    ("POST", "/exports/resource", create_export),
    ("GET", "/jobs/{job_gid}", get_job),
]
