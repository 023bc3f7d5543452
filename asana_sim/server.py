"""HTTP front: routing, auth, validation against the spec, paging, projection, faults.

Built on ``ThreadingHTTPServer`` with HTTP/1.1 keep-alive so benchmarks can push
~100k requests; every API request is logged, ``/_sim/*`` control endpoints are not.
"""
from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qsl, urlsplit

import orjson

from . import fields, spec
from .config import SimConfig
from .batch import BatchEndpoint
from .data import generate
from .errors import ApiError, bad_request
from .exports import DOWNLOAD_PREFIX, Exports
from .faults import Drop, Faults
from .oauth import TOKEN_PATH, OAuthServer
from .pagination import OffsetError, Paginator
from .reads import READ_ROUTES, Listing, Raw, Req, Single
from .requestlog import RequestLog, RequestRecord
from .store import Store

PREFIX = "/api/1.0"
TOO_LARGE = ("The result is too large. You should use pagination "
             "(may require specifying a workspace)!")
MAX_UNPAGED = 1000
# Parameters Asana accepts that its spec does not declare for the operation.
EXTRA_PARAMS: dict[tuple[str, str], set[str]] = {
    ("GET", "/tasks"): {"tag"},
    ("GET", "/workspaces/{workspace_gid}/tasks/search"): {"limit"},
}
ALWAYS_OK = {"opt_pretty", "opt_fields"}


class Route:
    """A spec operation bound to the function that answers it."""

    def __init__(self, method: str, path: str, handler: Callable[[Req], Any]) -> None:
        self.op = spec.operation(method, path)
        self.method = method
        self.handler = handler
        self.allowed = self.op.query_params | EXTRA_PARAMS.get((method, path), set()) | ALWAYS_OK


def build_routes() -> list[Route]:
    """All implemented routes, most specific (most literal segments) first."""
    from .catalog_reads import CATALOG_ROUTES
    from .events import EVENT_ROUTES
    from .exports import EXPORT_ROUTES
    from .object_writes import OBJECT_WRITE_ROUTES
    from .search import SEARCH_ROUTES
    from .writes import WRITE_ROUTES

    all_routes = (READ_ROUTES + WRITE_ROUTES + OBJECT_WRITE_ROUTES + EVENT_ROUTES + SEARCH_ROUTES
                  + CATALOG_ROUTES + EXPORT_ROUTES)
    routes = [Route(m, p, h) for m, p, h in all_routes]
    routes.sort(key=lambda r: -r.op.literal_segments)
    return routes


class App:
    """Request processing independent of the socket layer."""

    def __init__(self, store: Store, cfg: SimConfig, token: str, clock: Callable[[], float],
                 sim: Any) -> None:
        self.store = store
        self.cfg = cfg
        self.token = token
        self.clock = clock
        self.sim = sim
        self.routes = build_routes()
        self.log = RequestLog()
        self.faults = Faults(cfg, clock)
        self.oauth = OAuthServer(cfg, clock)
        self.pager = Paginator(clock, lambda: self.cfg.offset_ttl_s, lambda: self.cfg.expire_offset_number)
        self.base_url = ""
        self.batch = BatchEndpoint(self)

    def authorized(self, auth: str) -> bool:
        """The configured token, or an access token the OAuth endpoint issued."""
        return auth == f"Bearer {self.token}" or self.oauth.valid(auth[len("Bearer "):])

    def match(self, method: str, path: str) -> tuple[Route, tuple[str, ...]] | None:
        for route in self.routes:
            if route.method != method:
                continue
            m = route.op.regex.match(path)
            if m:
                return route, m.groups()
        return None

    def handle(self, method: str, path: str, params: dict[str, str], headers: Any,
               body_raw: bytes) -> tuple[int, dict[str, Any], dict[str, str]]:
        """Answer one API request; raises ``Drop`` to close the connection instead."""
        if not self.authorized(headers.get("Authorization", "")):
            self.faults.latency()
            return 401, {"errors": [{"message": "Not Authorized"}]}, {}
        took = False
        try:
            took = self.faults.before(self.token, method, path)
            self.faults.latency()
            return self._dispatch(method, path, params, body_raw)
        except ApiError as err:
            return err.status, err.body(), err.headers
        finally:
            if took:
                self.faults.release()

    def _dispatch(self, method: str, path: str, params: dict[str, str],
                  body_raw: bytes) -> tuple[int, dict[str, Any], dict[str, str]]:
        found = self.match(method, path)
        if found is None:
            raise ApiError(404, "No matching route for request")
        route, groups = found
        for name in params:
            if name not in route.allowed:
                raise bad_request(f"{name}: Unknown parameter for {method} {route.op.path}.")
        for name in route.op.required:
            if name not in params:
                raise bad_request(f"{name}: Missing input")
        limit = _limit(params) if "limit" in route.op.query_params else None
        try:
            tree = fields.parse_opt_fields(params.get("opt_fields"), route.op.opt_fields)
        except fields.FieldError as exc:
            raise bad_request(f"opt_fields: Unknown field \"{exc}\" for this endpoint.") from exc
        body: dict[str, Any] = {}
        if body_raw:
            try:
                parsed = json.loads(body_raw)
            except ValueError as exc:
                raise bad_request("Could not parse request data, invalid JSON") from exc
            if not isinstance(parsed, dict):
                raise bad_request("Could not parse request data, invalid JSON")
            body = parsed.get("data", {}) if isinstance(parsed.get("data"), dict) else {}
        req = Req(self.store, self.cfg, params, groups, body, self.sim)
        result = route.handler(req)
        if isinstance(result, Raw):
            return result.status, result.body, {}
        if isinstance(result, Single):
            if tree is None and method != "GET":
                # Writes answer with the full record, as Asana does.
                tree = {f: {} for f in route.op.opt_fields if "." not in f}
            with self.store.lock:
                data = fields.project(self.store, result.record, tree)
            return result.status, {"data": data}, {}
        assert isinstance(result, Listing)
        items = result.items
        if not result.paginate:
            with self.store.lock:
                return 200, {"data": [fields.project(self.store, r, tree) for r in items]}, {}
        if limit is None and len(items) > MAX_UNPAGED and "offset" not in params:
            raise bad_request(TOO_LARGE)
        try:
            page, next_page = self.pager.page(items, limit, params.get("offset"), path, params,
                                              self.base_url)
        except OffsetError as exc:
            raise bad_request(str(exc)) from exc
        if result.stream and next_page is None and items and limit is not None:
            next_page = self.pager.stream_tail(items, limit, path, params, self.base_url)
        with self.store.lock:
            out: dict[str, Any] = {"data": [fields.project(self.store, r, tree) for r in page]}
        if limit is not None:
            out["next_page"] = next_page
        return 200, out, {}


def _limit(params: dict[str, str]) -> int | None:
    raw = params.get("limit")
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= 100:
        raise bad_request("limit: The value must be between 1 and 100.")
    return value


def _dumps(obj: Any) -> bytes:
    """Compact UTF-8 JSON. orjson (dlt's own dependency) when it can: the simulator shares the
    machine with the loader it serves, and the stdlib encoder was a sixth of a tasks page's CPU."""
    try:
        return orjson.dumps(obj)
    except TypeError:  # what orjson refuses (a non-str key, an int past 64 bits): the stdlib's answer
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class Handler(BaseHTTPRequestHandler):
    """Thin socket layer over ``App``."""

    protocol_version = "HTTP/1.1"
    server_version = "AsanaSim/1.0"
    app: App

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Silenced: per-request stderr logging would dominate benchmark time."""

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self._send_bytes(status, _dumps(body), headers)

    def _send_bytes(self, status: int, data: bytes, headers: dict[str, str] | None = None,
                    content_type: str = "application/json; charset=UTF-8") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        # One write for head and body: two small writes meet Nagle + delayed ACK (~40 ms).
        self._headers_buffer.append(b"\r\n" + data)
        self.flush_headers()

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _serve(self, method: str) -> None:
        app = self.app
        start = time.perf_counter()
        split = urlsplit(self.path)
        body = self._body()
        params = dict(parse_qsl(split.query, keep_blank_values=True))
        if split.path.startswith("/_sim/"):
            self._control(method, split.path)
            return
        if split.path.startswith(DOWNLOAD_PREFIX) and method == "GET":
            status, data, kind = app.sim.exports.download(split.path, split.query, self.headers)
            app.log.add(RequestRecord(method, DOWNLOAD_PREFIX.rstrip("/"), {}, status,
                                      time.perf_counter() - start, start))
            self._send_bytes(status, data, content_type=kind)
            return
        if split.path == TOKEN_PATH and method == "POST":
            self._send(*app.oauth.token(body))
            return
        if not split.path.startswith(PREFIX + "/") and split.path != PREFIX:
            self._send(404, {"errors": [{"message": "No matching route for request"}]})
            return
        path = split.path[len(PREFIX):] or "/"
        if len(path) > 1:
            path = path.rstrip("/")
        try:
            if method == "POST" and path == "/batch":  # logs its actions itself (batch.py)
                self._send(*app.batch.serve(self.headers, body, start))
                return
            status, out, headers = app.handle(method, path, params, self.headers, body)
        except Drop:
            if method == "POST" and path == "/batch":
                self.close_connection = True
                return
            app.log.add(RequestRecord(method, path, params, 0, time.perf_counter() - start, start))
            self.close_connection = True
            return
        except Exception as exc:  # a simulator bug must still answer like a server would
            status, out, headers = 500, {"errors": [{"message": f"Server Error: {exc!r}",
                                                     "phrase": "simulator bug"}]}, {}
        data = _dumps(out)
        # Logged before the answer leaves, so a client that got its response always finds
        # the request in the log (no race in tests).
        app.log.add(RequestRecord(method, path, params, status, time.perf_counter() - start, start))
        self._send_bytes(status, data, headers)

    def _control(self, method: str, path: str) -> None:
        app = self.app
        if method == "GET" and path == "/_sim/requests":
            self._send(200, app.log.as_json())
        elif method == "GET" and path == "/_sim/counts":
            self._send(200, app.store.expected_counts())
        elif method == "GET" and path == "/_sim/counters":
            self._send(200, app.log.counters())
        elif method == "POST" and path == "/_sim/reset":
            app.log.reset()
            self._send(200, {"ok": True})
        else:
            self._send(404, {"errors": [{"message": "Unknown simulator control endpoint"}]})

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._serve("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._serve("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._serve("PUT")

    def do_DELETE(self) -> None:  # noqa: N802
        self._serve("DELETE")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


class AsanaSim:
    """A local Asana: start it, point a client at ``base_url`` with ``token``.

    Args:
        token: The only bearer token accepted.
        config: Sizes, seed, limits and faults; limits/faults may be changed while running.
        host: Interface to bind (loopback by default).
        port: 0 picks a free port.
        clock: Time source for offsets, quotas and sync tokens; tests inject one to
            expire tokens without sleeping.
    """

    def __init__(self, token: str = "sim-token", config: SimConfig | None = None,
                 host: str = "127.0.0.1", port: int = 0,
                 clock: Callable[[], float] = time.time) -> None:
        self.token = token
        self.config = config or SimConfig()
        self.host = host
        self.port = port
        self.clock = clock
        self.store: Store = generate(self.config)
        from .events import EventLog

        self.events = EventLog(self.store, clock)
        self.exports = Exports(self.store, lambda: self.config, clock)
        self._app = App(self.store, self.config, token, clock, self)
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def config(self) -> SimConfig:
        """Live knobs; limits and faults are read per request."""
        return self._config

    @config.setter
    def config(self, value: SimConfig) -> None:
        # Replacing the whole config must reach the running server too.
        self._config = value
        app = getattr(self, "_app", None)
        if app is not None:
            app.cfg = value
            app.faults.cfg = value

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}{PREFIX}"

    def start(self) -> "AsanaSim":
        """Bind and serve in a daemon thread; returns self for chaining."""
        if self._httpd is not None:
            return self
        handler = type("BoundHandler", (Handler,), {"app": self._app})
        self._httpd = _Server((self.host, self.port), handler)
        self.port = self._httpd.server_address[1]
        self._app.base_url = self.base_url
        self.exports.base_url = f"http://{self.host}:{self.port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), name="asana-sim",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        self._httpd = None

    def serve_forever(self) -> None:
        """Block until stopped (used by the CLI)."""
        self.start()
        assert self._thread is not None
        while self._thread.is_alive():
            self._thread.join(0.5)

    def __enter__(self) -> "AsanaSim":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def expected_counts(self) -> dict[str, int]:
        """Counts a complete extraction must reproduce."""
        return self.store.expected_counts()

    def rename_user(self, gid: str, name: str) -> None:
        """Change a user's name, as the user does in Asana's UI (the API cannot rename users).

        Every read shows the new name at once wherever the user is referenced (assignees,
        followers, people fields' values and display values, stories' authors); no event is
        recorded and no task is modified, as on Asana. Stories keep the text they were written
        with. Raises KeyError for an unknown gid."""
        user = self.store.get("user", gid)
        if user is None:
            raise KeyError(f"no user {gid}")
        self.store.rename(user, name)

    def requests(self) -> list[RequestRecord]:
        """Every API request so far, oldest first."""
        return self._app.log.items()

    def reset_requests(self) -> None:
        self._app.log.reset()

    def counters(self) -> dict[str, Any]:
        """``{"requests": n, "status": {code: n}}``."""
        return self._app.log.counters()

    def http_requests(self) -> int:
        """HTTP requests so far: a batch's actions are logged one record each (``requests()``),
        the batch counts once here."""
        return self._app.log.http_requests()
