"""An HTTP proxy between the pipeline and the simulator that misbehaves the way proxies and
paginated APIs do, independently of the simulator's own fault switches.

It forwards every GET to the simulator, shrinking `limit` so that every listing pages, and then,
by `mode`, rewrites listing answers:
- `repeat`: each page starts with the last two records of the page before (a shifting list);
- `offset_twice`: in each listing, the first page reached by an offset points back to that same
  offset, once (a replayed answer);
- `loop`: every page reached by an offset points back to that same offset, forever;
- `endless`: every page has a next_page with a new offset, which serves the first page again.
A `POST /batch` is answered action by action, each forwarded as the GET it stands for (and
misbehaving like one), so `requests` lists actions.
"""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional, Set
from urllib.parse import parse_qsl, urlencode, urlsplit

import requests

MODES = ("pass", "repeat", "offset_twice", "loop", "endless")


class MisbehavingProxy:
    """A threaded proxy to `target` (the simulator's base URL); use as a context manager."""

    def __init__(self, target: str, mode: str = "pass", page_size: int = 5) -> None:
        assert mode in MODES, mode
        self.target = target.rstrip("/")
        self.mode = mode
        self.page_size = page_size
        self.requests: List[str] = []  # path?query of every request, in order
        self._tails: Dict[str, List[Any]] = {}  # next offset -> last records of the page that gave it
        self._rewound: Set[str] = set()
        self._lock = threading.Lock()
        self._session = requests.Session()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - stdlib naming
                status, body = proxy._forward(self.path, self.headers.get("Authorization"))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:  # noqa: N802 - stdlib naming
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                prefix = urlsplit(proxy.target).path
                if urlsplit(self.path).path != f"{prefix}/batch":  # other writes pass through as they are
                    root = urlsplit(proxy.target)
                    answer = proxy._session.post(
                        f"{root.scheme}://{root.netloc}{self.path}", data=raw, timeout=30,
                        headers={"Authorization": self.headers.get("Authorization") or "",
                                 "Content-Type": self.headers.get("Content-Type") or "application/json"},
                    )
                    self._reply(answer.status_code, answer.content)
                    return
                results = []
                actions = json.loads(raw)["data"]["actions"]
                for action in actions:
                    options = action.get("options") or {}
                    query = {k: str(options[k]) for k in ("limit", "offset") if k in options}
                    if options.get("fields"):
                        query["opt_fields"] = ",".join(options["fields"])
                    status, answer = proxy._forward(f"{prefix}{action['relative_path']}?{urlencode(query)}",
                                                    self.headers.get("Authorization"))
                    results.append({"status_code": status, "headers": {}, "body": json.loads(answer or b"null")})
                self._reply(200, json.dumps({"data": results}).encode())

            def _reply(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        """The URL to give the pipeline instead of the simulator's, same path prefix."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{urlsplit(self.target).path}"

    def __enter__(self) -> "MisbehavingProxy":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _forward(self, path_and_query: str, auth: Optional[str]) -> "tuple[int, bytes]":
        parts = urlsplit(path_and_query)
        params = dict(parse_qsl(parts.query))
        if "limit" in params:
            params["limit"] = str(min(int(params["limit"]), self.page_size))
        with self._lock:
            self.requests.append(path_and_query)
            if self.mode == "endless":
                params.pop("offset", None)
                body_next = {"offset": f"endless-{len(self.requests)}", "path": parts.path, "uri": ""}
        root = urlsplit(self.target)
        url = f"{root.scheme}://{root.netloc}{parts.path}"
        answer = self._session.get(url, params=params, headers={"Authorization": auth or ""}, timeout=30)
        if answer.status_code != 200 or self.mode == "pass":
            return answer.status_code, answer.content
        body = answer.json()
        if self.mode == "endless":
            body["next_page"] = body_next
        elif isinstance(body.get("data"), list):
            listing = parts.path + repr(sorted((k, v) for k, v in params.items() if k not in ("offset", "limit")))
            self._misbehave(body, params.get("offset"), listing)
        return 200, json.dumps(body).encode()

    def _misbehave(self, body: Dict[str, Any], offset: Optional[str], listing: str) -> None:
        next_page = body.get("next_page")
        with self._lock:
            if self.mode == "repeat":
                original = list(body["data"])
                body["data"] = self._tails.get(offset or "", []) + original
                if next_page:
                    self._tails[next_page["offset"]] = original[-2:]
            elif offset and next_page and (self.mode == "loop" or listing not in self._rewound):
                self._rewound.add(listing)
                query = dict(parse_qsl(urlsplit(next_page["uri"]).query), offset=offset)
                next_page.update(offset=offset, uri=next_page["uri"].split("?")[0] + "?" + urlencode(query))
