"""What keeps unattended runs of `asana_dlt_pipeline.py` safe: one run at a time per pipeline,
a destination checked before anything is fetched, and failures said in one line that names the fix.

dlt lets two processes share a pipeline's working folder, where each consumes the other's load
packages; it resolves destination credentials only when loading, after minutes of extraction;
and its messages name its own classes. These checks run before dlt touches anything.
"""

import fcntl
import os
import re
from contextlib import contextmanager
from typing import Any, Iterator, Optional

import dlt
from dlt.common.configuration.exceptions import ConfigFieldMissingException

from asana_dlt import AsanaSourceError
from asana_dlt.errors import TOKEN_HELP


class RunError(Exception):
    """A failure of the run itself (not of Asana); its message is one line that names the fix."""


@contextmanager
def hold_run_lock(pipelines_dir: str, pipeline_name: str) -> Iterator[None]:
    """Holds the pipeline's run lock, or fails at once naming the process that holds it.

    An OS lock (`flock`) on a file beside the pipeline's working folder: the kernel drops it when
    its process ends, however it ends, so a run killed with kill -9 never blocks the next one.
    """
    os.makedirs(pipelines_dir, exist_ok=True)
    path = os.path.join(pipelines_dir, f"{pipeline_name}.run.lock")
    lock = open(path, "a+", encoding="utf-8")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.seek(0)
        holder = lock.read().strip() or "unknown"
        lock.close()
        raise RunError(
            f"another run (pid {holder}) holds pipeline {pipeline_name!r} ({path}); nothing was touched."
            " Let it finish, or schedule runs further apart."
        ) from None
    lock.seek(0)
    lock.truncate()
    lock.write(f"{os.getpid()}\n")
    lock.flush()
    with lock:
        yield


def describe_destination(pipeline: dlt.Pipeline) -> str:
    """Where this run loads, checked before extraction: credentials resolve and DuckDB is free.

    dlt binds a DuckDB file to the pipeline's state on the first run, wherever later runs start,
    so the path printed is the one dlt really uses, not a guess from the current directory.
    """
    name = pipeline.destination.destination_name
    try:
        credentials: Any = pipeline.destination_client().config.credentials
    except ConfigFieldMissingException as exc:
        raise RunError(missing_credentials_message(name)) from exc
    dataset = pipeline.dataset_name
    if name == "filesystem":  # its credentials are the bucket's keys; the bucket says where
        return f"filesystem {pipeline.destination_client().config.bucket_url}, dataset {dataset}"  # type: ignore[attr-defined]
    if pipeline.destination.destination_type.endswith(".duckdb"):
        database = os.path.abspath(credentials.database)
        _check_duckdb_free(database)
        return f"duckdb file {database}, dataset {dataset}"
    # dlt's credentials print without their password.
    return f"{name} {credentials}, dataset {dataset}" if credentials is not None else f"{name}, dataset {dataset}"


def missing_credentials_message(destination: str) -> str:
    """Names the config key and the environment variable a destination's credentials go in."""
    return (
        f"no credentials for destination {destination}: set credentials under [destination.{destination}]"
        f" in .dlt/secrets.toml, or the environment variable DESTINATION__{destination.upper()}__CREDENTIALS"
        f" (e.g. postgresql://user:password@host:5432/database); nothing was loaded."
    )


def _check_duckdb_free(database: str) -> None:
    """Fails with one line when another process holds the DuckDB file (nothing is written)."""
    if not os.path.exists(database):
        return
    import duckdb

    try:
        duckdb.connect(database, read_only=True).close()
    except duckdb.Error as exc:
        message = duckdb_lock_message(str(exc))
        if message:
            raise RunError(message) from None


def duckdb_lock_message(text: str) -> Optional[str]:
    """DuckDB's lock error as a line that names the file, the holder, and the usual cause."""
    match = re.search(r'Could not set lock on file "([^"]+)"', text)
    if not match:
        return None
    pid = re.search(r"\(PID (\d+)\)", text)
    holder = f" (held by pid {pid.group(1)})" if pid else ""
    return (
        f"the DuckDB file {match.group(1)} is locked by another process{holder}: usually another run of this"
        " pipeline or a notebook/SQL client with the file open; close it and run again. Nothing was loaded."
    )


def one_line(exc: BaseException, destination: str) -> str:
    """The failure as one line: the innermost cause, translated where dlt's words name no fix."""
    cause = root_cause(exc)
    if isinstance(cause, ConfigFieldMissingException) and "credentials" in cause.fields:
        return missing_credentials_message(destination)
    text = str(cause).strip()
    return duckdb_lock_message(text) or (text.splitlines()[0] if text else type(cause).__name__)


def root_cause(exc: BaseException) -> BaseException:
    """The innermost exception: dlt wraps source errors in step and extraction errors."""
    seen = set()
    while id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, (AsanaSourceError, RunError, KeyboardInterrupt)):
            return exc
        if isinstance(exc, ConfigFieldMissingException) and "access_token" in exc.fields:
            return AsanaSourceError(f"No Asana access token was found: {TOKEN_HELP} (see .dlt/secrets.toml.example).")
        nxt = getattr(exc, "exception", None) or exc.__cause__ or exc.__context__
        if nxt is None:
            break
        exc = nxt
    return exc
