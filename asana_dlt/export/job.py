"""One workspace's resource export: asking for it, waiting for the job, streaming its file.

A paged full load costs at least one request per task (its stories), about 104 minutes per 100k
tasks at 1,500 requests a minute. `POST /exports/resource` gives a workspace's tasks with their
stories and attachments in one gzip JSON Lines file, for a handful of requests. The job is
polled politely (seconds, backing off to a minute) within the run's quota; the gid of the job
being waited for is kept in a file beside the pipeline (`state.JobFile`), so a killed run's job
is resumed instead of refused (Asana allows one running export per workspace).
"""

import gzip
import time
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional, Tuple

from dlt.common import json, logger
from dlt.sources.helpers.requests import Client
from requests import HTTPError, Response

from ..errors import AsanaSourceError, SkipObject
from ..helpers import AsanaClient, without_nulls
from ..settings import (
    ATTACHMENT_FIELDS,
    EXPORT_JOB_FIELDS,
    EXPORT_MISSING_COLUMNS,
    EXPORT_POLL_FIRST_S,
    EXPORT_POLL_MAX_S,
    FULL_LOAD_MODES,
    STORY_FIELDS,
    TASK_FIELDS,
)
from ..state import JobFile

# The waiting clock, module attributes so tests advance a simulator's clock instead of sleeping.
_sleep = time.sleep
_monotonic = time.monotonic


class ExportUnavailable(Exception):
    """This workspace cannot be loaded by export now; the message says why, in a few words."""


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
            response = self.client.call(path, method=method, **kwargs)
        except SkipObject as exc:
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
    client.count(f"Asana export of {name}", inc=0, message=state)
