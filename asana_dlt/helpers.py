"""The HTTP side of the Asana source: one shared REST client and Asana's error policy.

Everything rides on dlt's `RESTClient`, its cursor paginator and `BearerTokenAuth`, and on dlt's
retrying session (429 with `Retry-After`, 5xx, dropped connections, all configurable under
`[runtime]`). What is Asana-specific lives here: how each error status is treated, and the
restart of a listing whose pagination offset Asana expired.
"""

import os
from typing import Any, Collection, Dict, Iterator, List, Optional, Sequence, Set

import requests
from dlt.common import json, logger
from dlt.sources.helpers.requests import Client
from dlt.sources.helpers.rest_client import RESTClient
from dlt.sources.helpers.rest_client.auth import BearerTokenAuth
from dlt.sources.helpers.rest_client.paginators import JSONResponseCursorPaginator
from requests import ConnectionError as RequestsConnectionError
from requests import Response, Timeout

from .rate_limit import RateLimiter, mount_rate_limiter
from .settings import MAX_LISTING_RESTARTS, PAGE_SIZE

TOKEN_HELP = (
    "set a valid personal access token as access_token under [sources.asana_dlt] in"
    " .dlt/secrets.toml, or in the environment variable SOURCES__ASANA_DLT__ACCESS_TOKEN"
)


class AsanaSourceError(Exception):
    """An error the user can act on; its message is one line that names the fix."""


class AsanaAuthError(AsanaSourceError):
    """Asana rejected the token: nothing can be read, so the whole run stops."""


class AsanaMalformedResponse(AsanaSourceError):
    """Asana answered 200 with a body we cannot read as `{"data": ...}`."""


class PlanRequired(AsanaSourceError):
    """The account's plan lacks this endpoint (402, or 403 for Enterprise-only ones)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


class _SkipObject(Exception):
    """One object is out of reach (402, 403, 404): skip it, keep the rest of the run."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _OffsetExpired(Exception):
    """Asana expired the offset of a listing in progress: the listing must start again."""


_SKIP_REASONS = {
    402: "it needs a premium Asana plan",
    403: "the token has no access to it",
    404: "it no longer exists (deleted while this run was reading)",
}


def _error_message(response: Response) -> str:
    """Pulls Asana's own words out of its error envelope, for one-line messages."""
    body = _body(response)
    errors = body.get("errors") if isinstance(body, dict) else None
    messages = [str(e.get("message", "")) for e in errors or [] if isinstance(e, dict)]
    return "; ".join(m for m in messages if m) or str(response.reason)


def _raise_asana_errors(response: Response, *args: Any, **kwargs: Any) -> None:
    """Turns error statuses into the source's policy before dlt's retry logic sees them.

    Raised inside `session.send`, so 429 and 5xx still reach dlt's retrying session as
    `HTTPError`s (and are retried); the statuses handled here are final and never retried.
    """
    status = response.status_code
    if status < 400:
        return
    if status == 401:
        raise AsanaAuthError(f"Asana rejected the access token (401 {_error_message(response)}): {TOKEN_HELP}.")
    if status in _SKIP_REASONS:
        raise _SkipObject(status, _error_message(response))
    if status == 400 and "offset=" in (response.request.url or ""):
        raise _OffsetExpired(_error_message(response))
    response.raise_for_status()  # an HTTPError: dlt's session retries 429 and 5xx on it


_UNDECODED = object()


def _body(response: Response) -> Any:
    """The decoded body, decoded once per response (with dlt's orjson) and shared by the client
    and the paginator: JSON decoding was a sixth of a run's CPU when done twice with requests'."""
    body = getattr(response, "_asana_body", _UNDECODED)
    if body is _UNDECODED:
        try:
            body = json.loadb(response.content)
        except ValueError:
            body = None
        response._asana_body = body  # type: ignore[attr-defined]
    return body


class AsanaOffsetPaginator(JSONResponseCursorPaginator):
    """dlt's cursor paginator on Asana's `next_page.offset`, reading the already-decoded body."""

    def __init__(self) -> None:
        super().__init__(cursor_path="next_page.offset", cursor_param="offset")

    def update_state(self, response: Response, data: Optional[List[Any]] = None) -> None:
        body = _body(response)
        next_page = body.get("next_page") if isinstance(body, dict) else None
        self._next_reference = (next_page or {}).get("offset") or None


class AsanaClient(RESTClient):
    """dlt's REST client with Asana's envelope, paging and error policy; one per source run."""

    def extract_response(self, response: Response, data_selector: Any) -> List[Any]:
        """Reads `{"data": [...]}`, failing with one clear line on anything else."""
        body = _body(response)
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
    ) -> Iterator[List[Dict[str, Any]]]:
        """Yields whole pages of one listing, applying Asana's error policy.

        Args:
            path: Endpoint path below the base URL, e.g. `/tasks`.
            fields: The `opt_fields` to ask for, so every record comes back whole in the list call.
            what: Names the object being listed in warnings, e.g. `tasks of project 'Q3' (12)`.
            params: Query parameters besides `opt_fields`, `limit` and `offset`.
            plan_statuses: Statuses that mean the plan lacks this endpoint: raised as
                `PlanRequired` for the caller's once-per-run warning, instead of a warning here.

        A 402/403/404 skips this listing with a warning and keeps the run going. An expired
        offset restarts the listing from its first page; records already yielded are not
        yielded again, so replace-disposition tables get no duplicates.
        """
        query = dict(params or {}, limit=PAGE_SIZE, **({"opt_fields": ",".join(fields)} if fields else {}))
        seen: Set[str] = set()
        for attempt in range(MAX_LISTING_RESTARTS + 1):
            try:
                # A fresh dict each attempt: the paginator writes the offset into the one it gets.
                for page in self.paginate(path, params=dict(query), hooks={"response": [_raise_asana_errors]}):
                    rows = [r for r in page if r.get("gid") not in seen] if attempt else list(page)
                    seen.update(r.get("gid") for r in rows)
                    yield rows
                return
            except _OffsetExpired as exc:
                logger.warning(f"Asana expired the page offset while listing {what} ({exc}); listing it again.")
            except _SkipObject as exc:
                if exc.status in plan_statuses:
                    raise PlanRequired(exc.status, exc.message) from None
                logger.warning(f"Skipping {what}: {_SKIP_REASONS[exc.status]} (Asana said {exc.status}: {exc.message}).")
                return
            except (RequestsConnectionError, Timeout) as exc:
                # dlt's session already retried; what is left is a network or base_url problem.
                reason = str(exc).split(": ")[-1].rstrip("\"')")[:200]
                raise AsanaSourceError(
                    f"Could not reach Asana at {self.base_url} after retrying ({type(exc).__name__}: {reason});"
                    " check the network, a proxy, or base_url under [sources.asana_dlt]."
                ) from None
        raise AsanaSourceError(
            f"Asana expired the page offset of {what} {MAX_LISTING_RESTARTS + 1} times in a row;"
            " the run stopped without loading. Retry when Asana is less busy."
        )


def _path_of(response: Response) -> str:
    """The request path without the query string, which may carry user data."""
    url = response.url or ""
    return url.split("?", 1)[0]


def create_client(
    access_token: Optional[str],
    base_url: str,
    limiter: RateLimiter,
    oauth: Optional[Dict[str, Any]] = None,
) -> AsanaClient:
    """Builds the one client a source run shares across all its threads.

    Args:
        access_token: Asana personal access token; only ever placed in the Authorization header.
        base_url: Asana's API root, `https://app.asana.com/api/1.0` or a simulator's.
        limiter: The run's rate limiter, mounted as the session's transport so every attempt,
            retries included, is paced and counted against one quota.
        oauth: An OAuth app's `client_id`, `client_secret` and `refresh_token`, used instead of
            the access token: exchanged at Asana's token endpoint and renewed before expiry.
    """
    session = Client(raise_for_status=False, max_connections=max(limiter.max_concurrency, 10)).session
    mount_rate_limiter(session, limiter)
    # requests reads proxy and CA settings from the environment on every request (7% of a run's
    # CPU); read them once per run instead.
    session.proxies.update(requests.utils.get_environ_proxies(base_url))
    session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    session.trust_env = False
    return AsanaClient(
        base_url=base_url,
        auth=_oauth(oauth, base_url, session) if oauth else BearerTokenAuth(token=access_token),
        paginator=AsanaOffsetPaginator(),
        data_selector="data",
        session=session,
    )


def _oauth(oauth: Dict[str, Any], base_url: str, session: Any) -> Any:
    """dlt's OAuth2 client on Asana's refresh-token grant, sharing the run's paced session."""
    from .auth import AsanaRefreshTokenAuth, token_url_for

    return AsanaRefreshTokenAuth(access_token_url=token_url_for(base_url), session=session, **oauth)
