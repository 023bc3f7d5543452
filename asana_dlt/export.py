"""Full loads through Asana's resource export: one job per workspace instead of a request per task.

A paged full load costs at least one request per task (its stories), about 104 minutes per 100k
tasks at 1,500 requests a minute. `POST /exports/resource` gives a workspace's tasks with their
stories and attachments in one gzip JSON Lines file, for a handful of requests. This module asks
for the export, waits for the job politely, streams the file and cuts its lines into the rows the
paged API gives (`tasks`, `stories`, `attachments`), so both paths land the same tables.

Why the fallbacks: the export needs Enterprise+ (else 402), allows one running export per
workspace (403), and jobs can fail or take too long; with `full_load="auto"` each of those makes
the workspace load through the paged API instead, with one line saying why.

Why a file beside the pipeline for the job gid: dlt commits resource state only with a finished
load, so after a kill -9 it would not know the job it was waiting for, and Asana answers a new
request with 403 while that job runs. The file (`asana_export_jobs.json` in the pipeline's working
folder) holds job gids only, never a token or a link.
"""

import gzip
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, List, Optional, Set, Tuple

import dlt
from dlt.common import json, logger
from dlt.sources.helpers.requests import Client
from requests import HTTPError, Response

from .changes import FIRST_SEEN, ProjectEvents
from .helpers import AsanaClient, AsanaSourceError, _raise_asana_errors, _SkipObject, without_nulls
from .settings import (
    ATTACHMENT_FIELDS,
    EXPORT_JOB_FIELDS,
    EXPORT_MISSING_COLUMNS,
    EXPORT_PAGE_SIZE,
    EXPORT_EXPECTED_JOB_MINUTES,
    EXPORT_RECONCILE_MIN_REQUESTS,
    EXPORT_POLL_FIRST_S,
    EXPORT_POLL_MAX_S,
    FULL_LOAD_MODES,
    STORY_FIELDS,
    TASK_FIELDS,
)

# The waiting clock, module attributes so tests advance a simulator's clock instead of sleeping.
_sleep = time.sleep
_monotonic = time.monotonic

JOBS_FILE = "asana_export_jobs.json"
# Threads reading the sync tokens of a workspace's projects before its export job is created.
EARLY_TOKEN_READERS = 8


class ExportUnavailable(Exception):
    """This workspace cannot be loaded by export now; the message says why, in a few words."""


class ExportedTask(Dict[str, Any]):
    """An exported task row that carries the rows of its child tables (`stories`, `attachments`).

    The row goes to the `tasks` table (the attribute is not a column); dlt hands the same dict
    to the `stories` and `attachments` transformers (its maps rebuild pages, never rows), which
    take their rows from it: nothing is held beyond the task's own lifetime.
    """

    def __init__(self, row: Dict[str, Any], children: Dict[str, List[Dict[str, Any]]], changed: bool = True) -> None:
        super().__init__(row)
        self.children = children
        self.changed = changed  # False: a reconciliation found it as loaded (its row only, no children)


ExportPage = List[ExportedTask]


def export_fields() -> List[str]:
    """The `fields` of the task export: the paged load's fields, minus what the export lacks."""
    missing = EXPORT_MISSING_COLUMNS
    return [
        *(f for f in TASK_FIELDS if f.split(".")[0] not in missing.get("tasks", ())),
        *(f"stories.{f}" for f in STORY_FIELDS if f.split(".")[0] not in missing.get("stories", ())),
        *(f"attachments.{f}" for f in ATTACHMENT_FIELDS if f.split(".")[0] not in missing.get("attachments", ())),
    ]


def check_full_load(mode: str) -> str:
    """Validates the `full_load` setting, naming the fix."""
    if mode not in FULL_LOAD_MODES:
        raise AsanaSourceError(
            f"full_load must be one of {', '.join(FULL_LOAD_MODES)}, not {mode!r}; fix `full_load` under"
            " [sources.asana_dlt] in .dlt/config.toml (or --full-load)."
        )
    return mode


@dataclass
class Finished:
    """A succeeded export job: when it started (the cursor for the next run) and its file."""

    job_gid: str
    created_at: str
    download_url: str


class JobFile:
    """The export job being waited for, per workspace, in a file that survives a killed run.

    Beside each job gid sit the events sync tokens read before the job was created: the run that
    resumes the job stores those, not the ones it reads itself after the job began, so its next
    run replays every event from before the job's start (a delete the file may still hold).
    Tokens are cursors, not credentials; only the ones the export needs are written: the
    workspace's one in workspace mode, else one per project.
    """

    def __init__(self, path: Optional[str]) -> None:
        self.path = path
        self._lock = threading.Lock()

    @classmethod
    def of_current_pipeline(cls) -> "JobFile":
        """The file in the running pipeline's working folder, which dlt keeps across runs."""
        try:
            return cls(os.path.join(dlt.current.pipeline().working_dir, JOBS_FILE))
        except Exception:  # the source runs outside a pipeline: nothing to resume from
            return cls(None)

    def _read(self) -> Dict[str, Dict[str, Any]]:
        if not self.path or not os.path.exists(self.path):
            return {}
        try:
            with open(self.path, "rb") as f:
                data = json.loadb(f.read())
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict):
            return {}
        # A bare job gid is the file of an earlier version: a job without tokens.
        return {str(k): (v if isinstance(v, dict) else {"job": str(v)}) for k, v in data.items()}

    def get(self, workspace_gid: str) -> Optional[str]:
        """The gid of the job an earlier run of this pipeline waited for, if it did not finish."""
        with self._lock:
            job = self._read().get(workspace_gid, {}).get("job")
            return str(job) if job else None

    def tokens(self, workspace_gid: str) -> Dict[str, str]:
        """Sync tokens read before that job: project gid -> token, and `workspace` in workspace mode."""
        with self._lock:
            found = self._read().get(workspace_gid, {}).get("sync")
            return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}

    def put(self, workspace_gid: str, job_gid: Optional[str], tokens: Optional[Dict[str, str]] = None) -> None:
        """Remembers a job as soon as Asana created it (None: forgets it, done or failed)."""
        if not self.path:
            return
        with self._lock:
            jobs = self._read()
            if job_gid:
                jobs[workspace_gid] = {"job": job_gid, **({"sync": tokens} if tokens else {})}
            else:
                jobs.pop(workspace_gid, None)
            with open(self.path, "wb") as f:
                f.write(json.dumpb(jobs))


class ExportJob:
    """Creates or resumes one workspace's export and waits for it, within the run's quota.

    Args:
        client: The run's client; its requests go through the shared rate limiter.
        workspace: The workspace record (`gid`, `name`).
        jobs: Where the gid of the job being waited for is kept across killed runs.
        timeout_s: Longest wait for the job before falling back.
        filters: Export filters (`modified_at.after` from `start_date`).
        tokens: The sync tokens read before the job, kept beside its gid (see `JobFile`).
    """

    def __init__(
        self,
        client: AsanaClient,
        workspace: Dict[str, Any],
        jobs: JobFile,
        timeout_s: float,
        filters: Optional[Dict[str, str]] = None,
        tokens: Optional[Dict[str, str]] = None,
    ) -> None:
        self.client = client
        self.workspace = workspace
        self.jobs = jobs
        self.timeout_s = timeout_s
        self.filters = filters or {}
        self.tokens = tokens or {}
        self.resumed = False  # the job is an earlier (killed) run's
        self.name = f"{workspace.get('name')!r} ({workspace['gid']})"

    def _call(self, method: str, path: str, **kwargs: Any) -> Dict[str, Any]:
        try:
            # Counted on the run's progress display like every other request, then Asana's error policy.
            hooks = [self.client._count_response, _raise_asana_errors]
            response = self.client.request(path, method=method, hooks={"response": hooks}, **kwargs)
        except _SkipObject as exc:
            reason = _REASONS.get((method, exc.status), f"Asana said {exc.status}")
            raise ExportUnavailable(f"{reason} ({exc.status}: {exc.message})") from None
        except HTTPError as exc:  # 429 or 5xx still there after dlt's retries
            status = exc.response.status_code if exc.response is not None else "?"
            raise ExportUnavailable(f"Asana kept answering {method} {path} with {status}") from None
        body = _json(response)
        if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
            raise ExportUnavailable(f"Asana answered {method} {path} without a 'data' object")
        return body["data"]  # type: ignore[no-any-return]

    def job(self, job_gid: str) -> Dict[str, Any]:
        """The job's current record, with its export's dates and link."""
        return self._call("GET", f"/jobs/{job_gid}", params={"opt_fields": ",".join(EXPORT_JOB_FIELDS)})

    def _resume(self) -> Optional[Dict[str, Any]]:
        """The job an earlier (killed) run of this pipeline left running or finished, if any."""
        known = self.jobs.get(self.workspace["gid"])
        if not known:
            return None
        try:
            job = self.job(known)
        except ExportUnavailable:
            job = {"status": "gone"}
        if job.get("status") in ("not_started", "in_progress", "succeeded"):
            self.resumed = True
            logger.info(f"Asana export of workspace {self.name}: resuming job {known} of an earlier run.")
            return job
        self.jobs.put(self.workspace["gid"], None)
        return None

    def _create(self) -> Dict[str, Any]:
        request = {
            "workspace": self.workspace["gid"],
            "export_request_parameters": [
                {"resource_type": "task", "fields": export_fields(), **({"filters": self.filters} if self.filters else {})}
            ],
        }
        job = self._call("POST", "/exports/resource", json={"data": request})
        self.jobs.put(self.workspace["gid"], str(job["gid"]), self.tokens)
        return job

    def wait(self) -> Finished:
        """Polls the job, backing off from seconds to a minute, until it succeeded.

        Raises:
            ExportUnavailable: no plan (402), another export running (403), a failed job, or
                the time limit passed.
        """
        job = self._resume() or self._create()
        started = _monotonic()
        delay = EXPORT_POLL_FIRST_S
        while True:
            status = job.get("status")
            elapsed = _monotonic() - started
            _progress(self.client, self.name, str(status), elapsed)
            if status == "succeeded":
                export = job.get("new_resource_export") or {}
                if not export.get("download_url") or not export.get("created_at"):
                    raise ExportUnavailable("the succeeded job named no download link")
                return Finished(str(job["gid"]), str(export["created_at"]), str(export["download_url"]))
            if status == "failed":
                self.jobs.put(self.workspace["gid"], None)
                raise ExportUnavailable(f"the export job {job['gid']} failed")
            if elapsed + delay > self.timeout_s:
                self.jobs.put(self.workspace["gid"], None)
                raise ExportUnavailable(
                    f"the export job {job['gid']} did not finish within {self.timeout_s / 60:.0f} minutes"
                    " (raise export_timeout_minutes)"
                )
            _sleep(delay)
            delay = min(delay * 2, EXPORT_POLL_MAX_S)
            job = self.job(str(job["gid"]))

    def lines(self, finished: Finished) -> Iterator[Dict[str, Any]]:
        """The export file's objects, streamed and decompressed line by line.

        The link is pre-signed: it goes through a plain session with no Asana auth, so the
        token never reaches the file host (S3 refuses a request carrying both anyway). An
        expired link is renewed once by reading the job again.
        """
        session = Client(raise_for_status=False).session
        url = finished.download_url
        for attempt in range(2):
            response = session.get(url, stream=True, timeout=300)
            if response.status_code == 200:
                break
            response.close()
            if attempt == 0 and response.status_code in (400, 403):
                url = str((self.job(finished.job_gid).get("new_resource_export") or {}).get("download_url") or url)
                continue
            raise AsanaSourceError(
                f"Could not download the export of workspace {self.name} (the file host said"
                f" {response.status_code}); rerun, or set full_load = \"api\" under [sources.asana_dlt]."
            )
        with response, gzip.GzipFile(fileobj=response.raw, mode="rb") as lines:
            for line in lines:
                if line.strip():
                    yield without_nulls(json.loadb(line))
        self.jobs.put(self.workspace["gid"], None)


_REASONS: Dict[Tuple[str, int], str] = {
    ("POST", 402): "the workspace's plan has no resource exports (Enterprise+ or the Compliance add-on)",
    ("POST", 403): "another export of this workspace is running (Asana allows one at a time)",
    ("POST", 404): "Asana does not know this workspace or the export endpoint",
    ("GET", 403): "the token may not read the export job",
    ("GET", 404): "Asana no longer knows the export job",
    ("GET", 402): "the workspace's plan has no resource exports",
}


def _json(response: Response) -> Any:
    try:
        return json.loadb(response.content)
    except ValueError:
        return None


def _progress(client: AsanaClient, name: str, status: str, elapsed: float) -> None:
    """One line per poll, and the run's progress display (dlt's collector), like the rest of a long run."""
    minutes, seconds = divmod(int(elapsed), 60)
    state = f"{status}, {minutes}m{seconds:02d}s elapsed"
    logger.info(f"Asana export of workspace {name}: {state}")
    try:
        client.collector.update(f"Asana export of {name}", inc=0, message=state)
    except Exception:  # a collector without messages: the log line is enough
        pass


# What a filter says of one exported task: None leaves it out, False keeps its row only (loaded
# as it is), True keeps its row with stories and attachments (new or changed).
Keep = Callable[[Dict[str, Any], Optional[str]], Optional[bool]]


def rows_of(
    lines: Iterator[Dict[str, Any]], stories_from: Optional[str] = None, keep: Optional[Keep] = None
) -> Iterator[ExportPage]:
    """Cuts export lines into pages of task rows carrying their stories and attachments.

    Subtasks may come as lines of their own or nested in their parent's `subtasks` (Asana does
    not say which); both become task rows. A nested parent the filters left out comes as a stub
    (`gid` and `resource_type` only) and gives no row. Stories of tasks modified before
    `stories_from` are left out, as the paged load leaves them. `keep` (a reconciliation's)
    is asked for each task with its parent's gid.
    """
    page: ExportPage = []
    for line in lines:
        if line.get("resource_type") != "task":
            continue
        stack: List[Tuple[Dict[str, Any], Optional[str]]] = [(line, (line.get("parent") or {}).get("gid"))]
        while stack:
            task, parent = stack.pop()
            stack.extend((sub, task["gid"]) for sub in task.pop("subtasks", None) or ())
            stories = task.pop("stories", None) or []
            attachments = task.pop("attachments", None) or []
            if set(task) <= {"gid", "resource_type"}:
                continue
            changed = True if keep is None else keep(task, parent)
            if changed is None:
                continue
            if not changed:
                attachments = []
            if stories_from is not None and (task.get("modified_at") or "") < stories_from:
                stories = []
            page.append(ExportedTask(task, {"stories": stories, "attachments": attachments}, changed))
        if len(page) >= EXPORT_PAGE_SIZE:
            yield page
            page = []
    if page:
        yield page


def exported_children(page: Any, table: str) -> Optional[List[Dict[str, Any]]]:
    """The rows of a child table carried by a page of exported tasks, or None for a paged-API page."""
    if not isinstance(page, list) or not page or not isinstance(page[0], ExportedTask):
        return None
    if table not in page[0].children:
        return None
    rows: List[Dict[str, Any]] = []
    for task in page:
        rows.extend(task.children.pop(table, None) or ())
    return rows


def _pages(items: int) -> int:
    return max(1, -(-items // 100))


@dataclass
class Outcome:
    """How one project's tasks arrive in a full load (or a reconciliation) by export.

    `pages` holds the workspace's rows for the first project of the workspace that asked, and
    nothing for the others; `created_at` becomes every project's `modified_since` cursor, so the
    next incremental run starts where the export's snapshot began. A reconciliation's pages also
    carry the plain row lists of `confirm_vanished` (tasks read again, tombstones).
    """

    pages: Iterator[Any]
    created_at: str


class Reconciliation:
    """One export standing in for the paged reconciliation of a workspace's due projects.

    In scope are the top-level tasks of the due projects, every task the warehouse holds below
    or among them, and new subtasks below those. Each task in scope is loaded again (a move
    between sections leaves `modified_at` alone, as a paged reconciliation's listing would
    show), with the stories the warehouse lacks (all of them where `modified_at` differs) and
    tombstones for loaded stories the file lacks; attachments only where `modified_at` differs.
    A loaded task the file lacks (an export holds undeleted objects only) is read once, as
    `changes.py` confirms a vanished task: 404 deletes it. What is held is the due projects'
    loaded gids and, for subtask lines that come before their parent's, a gid pair each; never
    the file.
    """

    def __init__(
        self, due: Set[str], known: Dict[str, str], parents: Dict[str, str], capture: Any, stories_from: Optional[str]
    ) -> None:
        self.due, self.known, self.parents, self.capture, self.stories_from = due, known, parents, capture, stories_from
        self.seen: Set[str] = set()
        self.orphans: Dict[str, str] = {}  # a new subtask met before its parent: gid -> parent gid

    def keep(self, task: Dict[str, Any], parent: Optional[str]) -> Optional[bool]:
        gid = task["gid"]
        top = parent is None and any((p or {}).get("gid") in self.due for p in task.get("projects") or ())
        if not (top or gid in self.known or parent in self.seen):
            if parent is not None:
                self.orphans[gid] = parent
            return None
        self.seen.add(gid)
        return task.get("modified_at") != self.known.get(gid)

    def stories(self, page: ExportPage) -> ExportPage:
        """The stories the warehouse lacks (a changed task's all), tombstones for loaded ones the file lacks.

        Every task's, changed or not: a move adds a story without touching `modified_at`, and a
        deleted story touches nothing (which a paged reconciliation cannot see). One warehouse
        query per page of tasks.
        """
        loaded_tasks = [task["gid"] for task in page if task["gid"] in self.known and self._stories_kept(task)]
        loaded = self.capture.warehouse.stories_of(loaded_tasks) if loaded_tasks else set()
        exported: Set[str] = set()
        for task in page:
            stories = task.children["stories"]
            exported.update(story["gid"] for story in stories)
            if loaded and not task.changed:  # a changed task's stories all load again, as when listed
                task.children["stories"] = [story for story in stories if story["gid"] not in loaded]
        gone = loaded - exported
        if gone:
            page[0].children["stories"].extend(self.capture.tombstones("stories", gone))
        return page

    def _stories_kept(self, task: Dict[str, Any]) -> bool:
        return self.stories_from is None or (task.get("modified_at") or "") >= self.stories_from

    def rows(self, lines: Iterator[Dict[str, Any]], stories_from: Optional[str]) -> Iterator[Any]:
        """The file's pages in scope, then what only a read can settle: vanished tasks, and new
        subtasks met before their parent (read once, as `changes.py` reads what events name)."""
        for page in rows_of(lines, stories_from, self.keep):
            yield self.stories(page)
        late: Set[str] = set()
        found = True
        while found:
            found = False
            for gid, parent in list(self.orphans.items()):
                if parent in self.seen:
                    self.seen.add(gid)
                    late.add(gid)
                    del self.orphans[gid]
                    found = True
        self.orphans.clear()
        vanished = set(self.known) - self.seen
        roots = {gid for gid in vanished if self.parents.get(gid) not in vanished}
        # A root's 404 deletes its loaded subtree too; what is left (below a root that still
        # exists) is read after it.
        yield from self.capture.confirm_vanished(roots | late)
        yield from self.capture.confirm_vanished(vanished - roots)


class FullLoads:
    """Decides, once per workspace and run, whether its full load goes through an export.

    Why it also reads the projects' events: a delete made after the job started may still be in
    its file, and only the events from before the job's start reveal it to the next run. So every
    project of a workspace has its sync token before the workspace's job is created: a project
    whose `tasks` call has not started yet gets it read early, and its call then takes that one.
    In workspace mode (`workspace_changes.py`) the workspace's one token, read before any job,
    stands for them all: no project reads its own.

    Args:
        client: The run's client.
        mode: `auto` (export, else the paged API), `export` (export or stop) or `api`.
        timeout_s: Longest wait for a job before `auto` falls back.
        modified_after: `start_date`, as the export's `modified_at.after` filter.
        stories_from: `stories_since`: older tasks' stories are left out, as the paged load does.
        read_events: Reads one project's events (change capture's `begin`).
        capture: The run's change capture (`changes.py`): warehouse, tombstones, confirmations.
        modes: The workspaces' change-capture modes (`workspace_changes.py`).
        requests_per_minute: The run's quota (0: none), which weighs a reconciliation's listing
            against the wait for an export.
    """

    def __init__(
        self,
        client: AsanaClient,
        mode: str,
        timeout_s: float,
        modified_after: Optional[str] = None,
        stories_from: Optional[str] = None,
        read_events: Optional[Callable[[Dict[str, Any]], Any]] = None,
        capture: Any = None,
        modes: Any = None,
        requests_per_minute: float = 0,
    ) -> None:
        self.client = client
        self.mode = check_full_load(mode)
        self.timeout_s = timeout_s
        self.filters = {"modified_at.after": modified_after} if modified_after else {}
        self.stories_from = stories_from
        self.read_events = read_events or (capture.begin if capture is not None else None)
        self.capture = capture
        self.modes = modes
        self.requests_per_minute = requests_per_minute or 0
        self._lock = threading.Lock()
        self._workspaces: Dict[str, threading.Lock] = {}
        self._decided: Dict[str, Optional[Tuple[ExportJob, Finished]]] = {}
        self._checks: Dict[str, Optional[Tuple[ExportJob, Finished, Reconciliation]]] = {}
        self._handed_out: set = set()
        self._jobs: Optional[JobFile] = None
        self._projects: Dict[str, List[Dict[str, Any]]] = {}  # workspace gid -> its listed projects
        self._begun: Set[str] = set()  # projects whose events were read
        self._early: Dict[str, Any] = {}  # project gid -> events read before its workspace's job
        self._events: Dict[str, Any] = {}  # project gid -> the events this run took for it

    def projects_listed(self, projects: List[Dict[str, Any]]) -> None:
        """The run's project listing: the projects whose tokens must precede their workspace's job."""
        with self._lock:
            for project in projects:
                gid = str((project.get("workspace") or {}).get("gid") or "")
                self._projects.setdefault(gid, []).append(project)

    def _workspace_lock(self, gid: str) -> threading.Lock:
        with self._lock:
            if self._jobs is None:
                self._jobs = JobFile.of_current_pipeline()
            return self._workspaces.setdefault(gid, threading.Lock())

    def _covered(self, project: Dict[str, Any]) -> bool:
        """True when the workspace's own events token (workspace mode) stands for the project's."""
        return self.modes is not None and self.modes.workspace_sync(project) is not None

    def begin(self, project: Dict[str, Any], full_load: bool) -> Any:
        """The project's events (change capture's `begin`), read before its workspace's export job."""
        assert self.read_events is not None
        gid = str((project.get("workspace") or {}).get("gid") or "")
        if self.mode == "api" or not gid:
            return self.read_events(project)
        lock = self._workspace_lock(gid)
        if full_load and self._covered(project):  # the workspace's token stands for the project's
            return self._took(project, ProjectEvents(reconcile=FIRST_SEEN))
        with self._lock:
            early, decided = self._early.pop(project["gid"], None), gid in self._decided or gid in self._checks
        if early is None and (decided or not full_load):  # no job waits for this token
            early = self._read(gid, project, full_load)
        if early is None:
            with lock:  # the job is created under this lock, never while a token is being read
                with self._lock:
                    early = self._early.pop(project["gid"], None)
                    self._begun.add(project["gid"])
                early = early if early is not None else self._read(gid, project, full_load)
        return self._took(project, early)

    def _read(self, workspace_gid: str, project: Dict[str, Any], full_load: bool) -> Any:
        """One project's events; in a full load resuming a killed run's job, the token kept beside
        it instead (the first token this run would get, a 412's, is newer than the job)."""
        assert self.read_events is not None and self._jobs is not None
        stored = self._jobs.tokens(workspace_gid).get(project["gid"]) if full_load else None
        if stored:
            return ProjectEvents(sync=stored, reconcile=FIRST_SEEN)
        return self.read_events(project)

    def _took(self, project: Dict[str, Any], events: Any) -> Any:
        with self._lock:
            self._events[project["gid"]] = events
            self._begun.add(project["gid"])
        return events

    def _tokens(self, workspace_gid: str, projects: List[Dict[str, Any]], per_project: bool) -> Dict[str, str]:
        """The tokens to keep beside the workspace's job: its own in workspace mode, and (unless
        that one stands for them) each project's."""
        tokens: Dict[str, str] = {}
        if projects and self._covered(projects[0]):
            tokens["workspace"] = str(self.modes.workspace_sync(projects[0]))
            if not per_project:
                return tokens
        with self._lock:
            events = {p["gid"]: self._events.get(p["gid"]) or self._early.get(p["gid"]) for p in projects}
        tokens.update((gid, str(e.sync)) for gid, e in events.items() if getattr(e, "sync", None))
        return tokens

    def _read_early(self, workspace_gid: str, full_load: bool) -> None:
        """Sync tokens of the workspace's projects that have not read theirs, before its job starts.

        Read a few at a time (the run's rate limiter paces them): a 2,000-project organization
        would otherwise wait for 2,000 round trips one after the other before its job. Projects
        whose workspace events stand in for them this run (workspace mode) read none.
        """
        if self.read_events is None:
            return
        with self._lock:
            seen = self._begun | set(self._early)
            todo = [p for p in self._projects.get(workspace_gid, ()) if p["gid"] not in seen]
        if self.modes is not None:
            todo = [p for p in todo if not self.modes.skips_project(p) and not (full_load and self._covered(p))]
        if not todo:
            return
        prefetch = getattr(self.capture, "project_events", None)
        with ThreadPoolExecutor(max_workers=min(EARLY_TOKEN_READERS, len(todo))) as pool:
            if full_load or prefetch is None:
                found = list(pool.map(lambda p: self._read(workspace_gid, p, full_load), todo))
            else:  # a reconciliation reads the warehouse too, which needs dlt's context: this thread
                list(pool.map(prefetch, todo))  # the requests, cached by change capture
                found = [self._read(workspace_gid, p, full_load) for p in todo]
        with self._lock:
            for project, events in zip(todo, found):
                self._early[project["gid"]] = events
                self._events[project["gid"]] = events

    def for_project(self, project: Dict[str, Any], full_load: bool) -> Optional[Outcome]:
        """The export outcome for this project's tasks, or None to list them through the API."""
        if self.mode == "api" or not full_load:
            return None
        workspace = project.get("workspace") or {}
        gid = str(workspace.get("gid") or "")
        if not gid:
            return None
        with self._workspace_lock(gid):  # the other projects of the workspace wait for its one job
            if gid not in self._decided:
                self._read_early(gid, full_load=True)
                tokens = self._tokens(gid, self._projects.get(gid, [project]), per_project=False)
                self._decided[gid] = self._run(workspace, tokens)
            decided = self._decided[gid]
            if decided is None:
                return None
            job, finished = decided
            first = gid not in self._handed_out
            self._handed_out.add(gid)
        if first:
            self._exported(gid, finished, self._jobs.tokens(gid) if job.resumed and self._jobs is not None else {})
        pages = rows_of(job.lines(finished), self.stories_from) if first else iter(())
        return Outcome(pages, finished.created_at)

    def _exported(self, gid: str, finished: Finished, stored: Dict[str, str]) -> None:
        """Workspace change capture starts from the export's start (and a resumed job's token)."""
        if self.modes is not None:
            self.modes.exported(gid, finished.created_at, stored.get("workspace"))

    def reconciliation(self, project: Dict[str, Any], events: Any) -> Optional[Outcome]:
        """An export standing in for this project's paged reconciliation, or None to list it.

        Decided once per workspace, when its first project due for reconciliation asks: the
        other projects' events are read first (as for a full load), and the export is used only
        when the due projects' paged reconciliation (⌈tasks/100⌉ per project plus a listing per
        loaded task with subtasks) would cost more requests than `EXPORT_RECONCILE_MIN_REQUESTS`
        (a job's own), than a page per 100 of the workspace's loaded tasks (what the file makes
        the source read), and than the quota serves while a job runs
        (`EXPORT_EXPECTED_JOB_MINUTES`): a project's weekly check in a big workspace, or a small
        workspace after a pause, is cheaper and faster listed.
        """
        if self.mode == "api" or self.capture is None or getattr(events, "known", None) is None:
            return None
        workspace = project.get("workspace") or {}
        gid = str(workspace.get("gid") or "")
        if not gid:
            return None
        with self._workspace_lock(gid):
            if gid not in self._checks:
                self._checks[gid] = self._plan_check(workspace, gid)
            check = self._checks[gid]
            if check is None or project["gid"] not in check[2].due:
                return None
            job, finished, plan = check
            first = gid not in self._handed_out
            self._handed_out.add(gid)
        pages = plan.rows(job.lines(finished), self.stories_from) if first else iter(())
        return Outcome(pages, finished.created_at)

    def _plan_check(
        self, workspace: Dict[str, Any], gid: str
    ) -> Optional[Tuple[ExportJob, Finished, Reconciliation]]:
        self._read_early(gid, full_load=False)
        with self._lock:
            projects = list(self._projects.get(gid, ()))
            due = {p["gid"]: self._events[p["gid"]] for p in projects
                   if getattr(self._events.get(p["gid"]), "known", None) is not None}
        known: Dict[str, str] = {}
        for events in due.values():
            known.update(events.known)
        parents: Dict[str, str] = {}
        known.update(self.capture.warehouse.descendants(list(known), parents))
        paged = sum(_pages(len(events.known)) for events in due.values()) + len(set(parents.values()))
        # The file holds the whole workspace: worth it only when listing the due projects would
        # read about as much (a page per 100 of its tasks) and cost more requests than a job.
        # And the wait: at the run's quota, listing must take longer than a job would.
        size = self.capture.warehouse.workspace_tasks(gid) // 100 if due else 0
        wait = self.requests_per_minute * EXPORT_EXPECTED_JOB_MINUTES
        if paged <= max(EXPORT_RECONCILE_MIN_REQUESTS, size, wait):
            return None
        logger.info(
            f"Reconciling {len(due)} project(s) of workspace {workspace.get('name')!r} ({gid}) by one export"
            f" instead of at least {paged} listing requests."
        )
        assert self._jobs is not None
        stored = self._jobs.tokens(gid)
        decided = self._run(dict(workspace, gid=gid), self._tokens(gid, projects, per_project=True), reconciling=True)
        if decided is None:
            return None
        job, finished = decided
        if job.resumed:  # a killed run's job: replay the events from before it began
            for project_gid, events in due.items():
                if stored.get(project_gid):
                    events.sync = stored[project_gid]
        self._exported(gid, finished, stored if job.resumed else {})
        return job, finished, Reconciliation(set(due), known, parents, self.capture, self.stories_from)

    def _run(
        self, workspace: Dict[str, Any], tokens: Dict[str, str], reconciling: bool = False
    ) -> Optional[Tuple[ExportJob, Finished]]:
        """Waits for the workspace's job; None falls back to the paged API, with one line saying why.

        A reconciliation's fallback is the run's ordinary path (listing), so its line is
        informational. Both filter by `start_date` only, as the paged listings do.
        """
        assert self._jobs is not None
        job = ExportJob(self.client, workspace, self._jobs, self.timeout_s, self.filters, tokens)
        try:
            return job, job.wait()
        except ExportUnavailable as exc:
            what = "Reconciliation" if reconciling else "Full load"
            if self.mode == "export":
                raise AsanaSourceError(
                    f"Could not load workspace {job.name} by export: {exc}; set full_load = \"auto\" (or"
                    " --full-load auto) to fall back to the paged API."
                ) from None
            say = logger.info if reconciling else logger.warning
            say(f"{what} of workspace {job.name} through the paged API: {exc}.")
            return None
