"""The HTTP side of the Asana source: one shared REST client and Asana's error policy.

Everything rides on dlt's `RESTClient`, its cursor paginator and `BearerTokenAuth`, and on dlt's
retrying session (429 with `Retry-After`, 5xx, dropped connections, all configurable under
`[runtime]`). What is Asana-specific lives here: how each error status is treated, and the
restart of a listing whose pagination offset Asana expired.
"""

import logging
import os
import threading
from typing import Any, Callable, Collection, Dict, Iterator, List, Optional, Sequence, Set

import requests
from dlt.common import json, jsonpath, logger
from dlt.common.configuration.container import Container
from dlt.common.pipeline import PipelineContext
from dlt.common.runtime.collector import NULL_COLLECTOR, Collector
from dlt.sources.helpers.requests import Client
from dlt.sources.helpers.rest_client import RESTClient
from dlt.sources.helpers.rest_client.auth import BearerTokenAuth
from dlt.sources.helpers.rest_client.paginators import JSONResponseCursorPaginator
from requests import ConnectionError as RequestsConnectionError
from requests import Response, Timeout
from requests.exceptions import ChunkedEncodingError
from urllib3.exceptions import NewConnectionError

from .auth import AsanaRefreshTokenAuth, token_url_for
from .errors import (
    SKIP_REASONS,
    AsanaMalformedResponse,
    AsanaSourceError,
    OffsetExpired,
    PlanRequired,
    SkipObject,
    auth_error,
    error_text,
    wrong_base_url,
)
from .rate_limit import RateLimiter, mount_rate_limiter
from .settings import MAX_LISTING_PAGES, MAX_LISTING_RESTARTS, MAX_STALE_PAGES, PAGE_SIZE

def error_message(response: Response) -> str:
    """Pulls Asana's own words out of its error envelope, for one-line messages."""
    return error_text(body_of(response)) or str(response.reason)


def raise_asana_errors(response: Response, accept: Collection[int] = ()) -> None:
    """Turns error statuses into the source's policy before dlt's retry logic sees them.

    Raised inside `session.send`, so 429 and 5xx still reach dlt's retrying session as
    `HTTPError`s (and are retried); the statuses handled here are final and never retried.
    Statuses in `accept` are answers, not errors (Asana's 412 with a fresh events token).
    """
    status = response.status_code
    if status < 400 or status in accept:
        return
    if status == 401:
        raise auth_error(401, error_message(response))
    if status in SKIP_REASONS:
        raise SkipObject(status, error_message(response))
    if status == 400 and "offset=" in (response.request.url or ""):
        raise OffsetExpired(error_message(response))
    response.raise_for_status()  # an HTTPError: dlt's session retries 429 and 5xx on it


_UNDECODED = object()


def without_nulls(item: Any) -> Any:
    """Drops null values in place, at decoding: dlt's normalize spends more on a null than this
    (3.5 s more at 20k tasks), and done right after decoding, the records are still in the cache.

    Exact type checks and recursion only into containers (2.5x faster than isinstance on every
    value). Code reading a record asks `.get()` for anything Asana may answer null.
    """
    kind = type(item)
    if kind is dict:
        nulls = [key for key, value in item.items() if value is None]
        for key in nulls:
            del item[key]
        values = item.values()
    elif kind is list:
        values = item
    else:
        return item
    for value in values:
        kind = type(value)
        if kind is dict or kind is list:
            without_nulls(value)
    return item


def body_of(response: Response) -> Any:
    """The decoded body without its nulls (`without_nulls`), decoded once per response (with dlt's
    orjson) and shared by the client and the paginator: JSON decoding was a sixth of a run's CPU
    when done twice with requests'."""
    body = getattr(response, "_asana_body", _UNDECODED)
    if body is _UNDECODED:
        try:
            body = without_nulls(json.loadb(response.content))
        except ValueError:
            body = None
        response._asana_body = body  # type: ignore[attr-defined]
    return body


class _OffsetLooped(Exception):
    """A `next_page` offset came back that this listing already followed: it would loop."""


# Compiled once: jsonpath-ng builds its whole LALR parser (PLY) for every path it parses, ~10 ms
# of CPU under the import lock, and a paginator is made per listing (one per task for stories).
_NEXT_OFFSET = jsonpath.compile_path("next_page.offset")


class AsanaOffsetPaginator(JSONResponseCursorPaginator):
    """dlt's cursor paginator on Asana's `next_page.offset`, reading the already-decoded body and
    refusing to follow an offset twice (a looping listing would otherwise never end)."""

    def __init__(self) -> None:
        super().__init__(cursor_path=_NEXT_OFFSET, cursor_param="offset")
        self.followed: Set[str] = set()

    def update_state(self, response: Response, data: Optional[List[Any]] = None) -> None:
        body = body_of(response)
        next_page = body.get("next_page") if isinstance(body, dict) else None
        offset = (next_page or {}).get("offset") or None
        if offset is not None:
            if offset in self.followed:
                raise _OffsetLooped(offset)
            self.followed.add(offset)
        self._next_reference = offset


class AsanaClient(RESTClient):
    """dlt's REST client with Asana's envelope, paging and error policy; one per source run."""

    # Where requests and pages are counted: the running pipeline's progress display (dlt's
    # collector), set by `watch_progress` from the extract's main thread, where dlt's pipeline
    # context lives (its worker threads do not see it).
    collector: Collector = NULL_COLLECTOR
    _progress_lock = threading.Lock()
    # Listings per `POST /batch` (batch.py); 1 reads without Asana's batch API.
    batch_size: int = 1

    def watch_progress(self) -> None:
        """Counts this client's requests and pages on the active pipeline's progress display."""
        context = Container()[PipelineContext]
        self.collector = context.pipeline().collector if context.is_active() else NULL_COLLECTOR

    def count(self, counter: str, inc: int = 1, message: Optional[str] = None) -> None:
        """Adds to a counter of the progress display (`Asana requests`, `Asana pages`, ...);
        `message` replaces the counter's text where the display shows one (a long export's state)."""
        with self._progress_lock:
            if message is None:
                self.collector.update(counter, inc=inc)
                return
            try:
                self.collector.update(counter, inc=inc, message=message)
            except Exception:  # a collector without messages: the caller's log line is enough
                pass

    def _hooks(self, actions: int, check: Callable[[Response], None]) -> Dict[str, List[Any]]:
        """The response hooks every request of this client carries: counted on the progress
        display (a batch as its actions, the quota's unit), then checked against a policy."""

        def counted(response: Response, *args: Any, **kwargs: Any) -> None:
            self.count("Asana requests", actions)

        def checked(response: Response, *args: Any, **kwargs: Any) -> None:
            check(response)

        return {"response": [counted, checked]}

    def _create_response_handler(self) -> Callable[[Response, Any, Any], None]:
        """What dlt's `paginate` runs on each response when no hooks are given: ours."""
        counted, checked = self._hooks(1, raise_asana_errors)["response"]

        def handler(response: Response, *args: Any, **kwargs: Any) -> None:
            counted(response)
            checked(response)

        return handler

    def call(
        self,
        path: str,
        method: str = "GET",
        params: Optional[Dict[str, Any]] = None,
        json: Optional[Any] = None,
        accept: Collection[int] = (),
        actions: int = 1,
        check: Optional[Callable[[Response], None]] = None,
    ) -> Response:
        """One request, counted and under Asana's error policy (`raise_asana_errors`).

        Args:
            path: Endpoint path below the base URL.
            method: HTTP method.
            params: Query parameters.
            json: The JSON body of a POST.
            accept: Error statuses that are answers here (412 of an events read).
            actions: What the request costs the quota (a batch's actions).
            check: A policy of its own instead of Asana's (a batch request's).

        Raises:
            SkipObject: 402, 403 or 404: the object is out of reach.
        """
        policy = check or (lambda response: raise_asana_errors(response, accept))
        kwargs: Dict[str, Any] = {"params": params} if params is not None else {}
        if json is not None:
            kwargs["json"] = json
        return self.request(path, method=method, hooks=self._hooks(actions, policy), **kwargs)  # type: ignore[arg-type]

    def _log_request(self, request: Any, prepared_url: str) -> None:
        """dlt's per-request log line, only when someone reads it: dlt redacts the URL for its
        INFO line before the logger drops it (~10 us of URL parsing per request, 155k per load)."""
        if logger.isEnabledFor(logging.INFO):
            super()._log_request(request, prepared_url)

    def extract_response(self, response: Response, data_selector: Any) -> List[Any]:
        """Reads `{"data": [...]}`, failing with one clear line on anything else."""
        body = body_of(response)
        if body is None:
            raise AsanaMalformedResponse(
                f"Asana answered GET {_path_of(response)} with a body that is not JSON; nothing was loaded."
                " Check base_url (it must end in /api/1.0) and retry."
            )
        if not isinstance(body, dict) or not isinstance(body.get("data"), (list, dict)):
            raise AsanaMalformedResponse(
                f"Asana answered GET {_path_of(response)} without a 'data' list; nothing was loaded."
                " Check base_url (it must end in /api/1.0) and retry."
            )
        data = body["data"]
        return data if isinstance(data, list) else [data]

    def pages(
        self,
        path: str,
        fields: Sequence[str],
        what: str,
        params: Optional[Dict[str, Any]] = None,
        plan_statuses: Collection[int] = (),
        start_offset: Optional[str] = None,
        seen: Optional[Set[str]] = None,
        root: bool = False,
    ) -> Iterator[List[Dict[str, Any]]]:
        """Yields whole pages of one listing, each record once, applying Asana's error policy.

        Args:
            path: Endpoint path below the base URL, e.g. `/tasks`.
            fields: The `opt_fields` to ask for, so every record comes back whole in the list call.
            what: Names the object being listed in warnings, e.g. `tasks of project 'Q3' (12)`.
            params: Query parameters besides `opt_fields`, `limit` and `offset`.
            plan_statuses: Statuses that mean the plan lacks this endpoint: raised as
                `PlanRequired` for the caller's once-per-run warning, instead of a warning here.
            start_offset: Continue a listing whose first page came another way (a batch's
                action) at this `next_page` offset; a restart starts from the first page.
            seen: Gids that listing already yielded, so they are not yielded twice.
            root: The listing every other hangs from (`/workspaces`): nothing can delete it, so a
                404 there means base_url is wrong, and stops the run (`wrong_base_url`).

        A list that shifts while it is paged repeats records across pages, and replace tables
        cannot dedupe, so a record already yielded by this listing is dropped (a set of gids:
        ~100 bytes per record). A `next_page` offset already followed means the listing would
        loop: it restarts once from its first page, then stops the run with one clear line, as
        do pages that keep coming without a new record. A 402/403/404 skips the listing with a
        warning (a 404 on the `root` listing stops the run); an expired offset restarts it.
        """
        query = dict(params or {}, limit=PAGE_SIZE, **({"opt_fields": ",".join(fields)} if fields else {}))
        seen = set() if seen is None else seen
        expired = looped = 0
        while True:
            paginator = AsanaOffsetPaginator()
            stale = 0
            try:
                # A fresh dict each attempt: the paginator writes the offset into the one it gets.
                hooks = self._hooks(1, raise_asana_errors)
                first = dict(query, offset=start_offset) if start_offset else dict(query)
                if start_offset:  # that offset was followed already, where the first page came from
                    paginator.followed.add(start_offset)
                start_offset = None  # a restart lists from the first page
                for page in self.paginate(path, params=first, paginator=paginator, hooks=hooks):
                    rows = [r for r in page if r.get("gid") is None or r["gid"] not in seen]
                    seen.update(r["gid"] for r in rows if r.get("gid") is not None)
                    stale = 0 if rows else stale + 1
                    if stale > MAX_STALE_PAGES or len(paginator.followed) > MAX_LISTING_PAGES:
                        raise AsanaSourceError(
                            f"Asana kept paging {what} ({len(paginator.followed)} pages, the last {stale}"
                            " without a new record); the run stopped without loading. Retry later; if it"
                            " persists, check a proxy between you and Asana."
                        )
                    self.count("Asana pages")
                    yield rows  # even empty: a short page is where a stream (the audit log) ends
                return
            except _OffsetLooped:
                looped += 1
                if looped > 1:
                    raise AsanaSourceError(
                        f"Asana's pagination of {what} loops (a next_page offset came back twice, also after"
                        " listing it again); the run stopped without loading. Retry later; if it persists,"
                        " check a proxy between you and Asana."
                    ) from None
                logger.warning(f"Asana repeated a page offset while listing {what}; listing it again.")
            except OffsetExpired as exc:
                expired += 1
                if expired > MAX_LISTING_RESTARTS:
                    raise AsanaSourceError(
                        f"Asana expired the page offset of {what} {expired} times in a row;"
                        " the run stopped without loading. Retry when Asana is less busy."
                    ) from None
                logger.warning(f"Asana expired the page offset while listing {what} ({exc}); listing it again.")
            except SkipObject as exc:
                if root and exc.status == 404:
                    raise wrong_base_url(path, self.base_url) from None
                if exc.status in plan_statuses:
                    raise PlanRequired(exc.status, exc.message) from None
                logger.warning(f"Skipping {what}: {SKIP_REASONS[exc.status]} (Asana said {exc.status}: {exc.message}).")
                return
            except (RequestsConnectionError, Timeout) as exc:
                raise self.unreachable(exc) from None

    def unreachable(self, exc: Exception) -> AsanaSourceError:
        """The one line for a network failure dlt's session gave up on.

        It already retried what can pass (resets, timeouts); a refused connection or an unknown
        host is not retried: a network or base_url problem.
        """
        reason = str(exc).split(": ")[-1].rstrip("\"')")[:200]
        return AsanaSourceError(
            f"Could not reach Asana at {self.base_url} ({type(exc).__name__}: {reason});"
            " check the network, a proxy, or base_url under [sources.asana_dlt]."
        )


def _worth_retrying(response: Optional[Response], exception: Optional[BaseException]) -> bool:
    """dlt's retry on a dropped connection, except when no connection could be made at all.

    A refused connection or an unknown host does not heal within the retries' two minutes of
    backoff, so it fails at once with a line naming base_url; resets and timeouts are retried.
    """
    if not isinstance(exception, RequestsConnectionError):
        return False
    reason = getattr(exception.args[0], "reason", None) if exception.args else None
    return not isinstance(reason, NewConnectionError)


def _path_of(response: Response) -> str:
    """The request path without the query string, which may carry user data."""
    url = response.url or ""
    return url.split("?", 1)[0]


def create_client(
    access_token: Optional[str],
    base_url: str,
    limiter: RateLimiter,
    oauth: Optional[Dict[str, Any]] = None,
    batch_size: int = 1,
) -> AsanaClient:
    """Builds the one client a source run shares across all its threads.

    Args:
        access_token: Asana personal access token; only ever placed in the Authorization header.
        base_url: Asana's API root, `https://app.asana.com/api/1.0` or a simulator's.
        limiter: The run's rate limiter, mounted as the session's transport so every attempt,
            retries included, is paced and counted against one quota.
        oauth: An OAuth app's `client_id`, `client_secret` and `refresh_token`, used instead of
            the access token: exchanged at Asana's token endpoint and renewed before expiry.
        batch_size: Listings read per `POST /batch` where the source batches them (batch.py).
    """
    session = Client(
        raise_for_status=False,
        max_connections=max(limiter.max_concurrency, 10),
        exceptions=(Timeout, ChunkedEncodingError),
        retry_condition=_worth_retrying,
    ).session
    mount_rate_limiter(session, limiter)
    # requests reads proxy and CA settings from the environment on every request (7% of a run's
    # CPU); read them once per run instead.
    session.proxies.update(requests.utils.get_environ_proxies(base_url))
    session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    session.trust_env = False
    client = AsanaClient(
        base_url=base_url,
        auth=_oauth(oauth, base_url, session) if oauth else BearerTokenAuth(token=access_token),  # type: ignore[arg-type]
        paginator=AsanaOffsetPaginator(),
        data_selector="data",
        session=session,
    )
    client.batch_size = batch_size
    return client


def _oauth(oauth: Dict[str, Any], base_url: str, session: Any) -> AsanaRefreshTokenAuth:
    """dlt's OAuth2 client on Asana's refresh-token grant, sharing the run's paced session."""
    return AsanaRefreshTokenAuth(access_token_url=token_url_for(base_url), session=session, **oauth)
