"""`POST /batch`: up to ten actions in one HTTP request, answered as Asana's batch API does.

Each action goes to the same handler a direct request would reach and counts against the quota
and the concurrency gate as a request of its own; if the actions together would exceed a limit,
the whole batch is answered 429 (Asana: "to prevent the unpredictability of which actions might
succeed"). The request log keeps one record per action, as if each had come on its own, tagged
with the number of the batch HTTP request that carried it, so request counts stay counts of
Asana requests (the quota's unit) and HTTP requests can still be told apart.
"""
from __future__ import annotations

import itertools
import json
import threading
import time
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .errors import ApiError, bad_request
from .faults import Drop
from .requestlog import RequestRecord

MAX_ACTIONS = 10
_METHODS = {"get", "post", "put", "delete", "patch", "head"}
# Asana's "Restrictions": these answer 400 for the action (the rest of the batch still runs).
_NOT_BATCHABLE = ("/batch", "/organization_exports", "/scim", "/exports")


def _unbatchable(method: str, path: str) -> bool:
    """Nested batches, exports, SCIM and attachment uploads, per Asana's batch API text."""
    if any(path == prefix or path.startswith(prefix + "/") for prefix in _NOT_BATCHABLE):
        return True
    return method == "POST" and path.rsplit("/", 1)[-1] == "attachments"


class _Action:
    """One parsed action: the request it stands for, or the 400 it earned."""

    def __init__(self, raw: Any) -> None:
        self.method, self.path, self.params, self.body = "GET", "", {}, b""
        self.error: ApiError | None = None
        if not isinstance(raw, dict) or not isinstance(raw.get("relative_path"), str):
            self.error = bad_request("relative_path: Missing input")
            return
        method = raw.get("method")
        if not isinstance(method, str) or method.lower() not in _METHODS:
            self.error = bad_request("method: Missing input or not one of get, post, put, delete, patch, head")
            return
        self.method = "GET" if method.lower() == "head" else method.upper()
        split = urlsplit(raw["relative_path"])
        self.path = split.path.rstrip("/") or "/"
        self.params = dict(parse_qsl(split.query, keep_blank_values=True))
        options = raw.get("options") or {}
        if not isinstance(options, dict):
            self.error = bad_request("options: Must be an object")
            return
        if options.get("fields"):
            fields = options["fields"]
            self.params["opt_fields"] = ",".join(fields) if isinstance(fields, list) else str(fields)
        for name in ("limit", "offset"):
            if options.get(name) is not None:
                self.params[name] = str(options[name])
        if raw.get("data") is not None:
            self.body = json.dumps({"data": raw["data"]}).encode("utf-8")
        if _unbatchable(self.method, self.path):
            self.error = bad_request(f"{self.method} {self.path}: This endpoint is not available through the batch API.")


class BatchEndpoint:
    """Serves `POST /batch` on an `App` (see server.py): parsing, limits, dispatch, logging."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()

    def _next_number(self) -> int:
        with self._lock:
            return next(self._numbers)

    def serve(self, headers: Any, body_raw: bytes, start: float) -> tuple[int, dict[str, Any], dict[str, str]]:
        """Answers one batch HTTP request and logs its actions; raises `Drop` like `App.handle`."""
        app = self.app
        number = self._next_number()
        if not app.authorized(headers.get("Authorization", "")):
            app.faults.latency()
            self._log_whole(number, [], 401, start)
            return 401, {"errors": [{"message": "Not Authorized"}]}, {}
        try:
            actions = self._parse(body_raw)
        except ApiError as err:
            self._log_whole(number, [], err.status, start)
            return err.status, err.body(), err.headers
        slots = 0
        try:
            slots = app.faults.before_batch(app.token, [(a.method, a.path) for a in actions if a.error is None])
            app.faults.latency()  # the actions run in parallel: one latency for the batch
            results = [self._run(action) for action in actions]
        except ApiError as err:  # a limit or a fault answers for the whole batch
            self._log_whole(number, actions, err.status, start)
            return err.status, err.body(), err.headers
        except Drop:
            self._log_whole(number, actions, 0, start)
            raise
        finally:
            if slots:
                app.faults.release(slots)
        took = time.perf_counter() - start
        for action, result in zip(actions, results):
            app.log.add(RequestRecord(action.method, action.path, action.params, result["status_code"], took,
                                      start, batch=number))
        return 200, {"data": results}, {}

    @staticmethod
    def _parse(body_raw: bytes) -> list[_Action]:
        try:
            parsed = json.loads(body_raw or b"null")
        except ValueError as exc:
            raise bad_request("Could not parse request data, invalid JSON") from exc
        data = parsed.get("data") if isinstance(parsed, dict) else None
        actions = data.get("actions") if isinstance(data, dict) else None
        if not isinstance(actions, list) or not actions:
            raise bad_request("actions: Missing input")
        if len(actions) > MAX_ACTIONS:
            raise bad_request(f"actions: At most {MAX_ACTIONS} actions are allowed in a batch request.")
        return [_Action(raw) for raw in actions]

    def _run(self, action: _Action) -> dict[str, Any]:
        """One action through the same dispatch as a direct request; its errors stay its own."""
        if action.error is not None:
            return {"status_code": action.error.status, "headers": {}, "body": action.error.body()}
        try:
            status, body, headers = self.app._dispatch(action.method, action.path, action.params, action.body)
        except ApiError as err:
            status, body, headers = err.status, err.body(), err.headers
        except Exception as exc:  # a simulator bug answers like a server would, for this action only
            status, body, headers = 500, {"errors": [{"message": f"Server Error: {exc!r}"}]}, {}
        return {"status_code": status, "headers": headers, "body": body}

    def _log_whole(self, number: int, actions: list[_Action], status: int, start: float) -> None:
        """A batch refused as a whole: one record per action (each counted against the quota),
        or one for the batch itself when it carried no readable actions."""
        took = time.perf_counter() - start
        log = self.app.log
        if not actions:
            log.add(RequestRecord("POST", "/batch", {}, status, took, start, batch=number))
        for action in actions:
            log.add(RequestRecord(action.method, action.path or "/batch", action.params, status, took, start,
                                  batch=number))
