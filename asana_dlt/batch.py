"""Many small listings through Asana's batch API: up to 10 first pages in one `POST /batch`.

A full load lists the stories of every task, one listing each, nearly all of them one page long;
its CPU went to the HTTP round trip of each (requests, urllib3, dlt's session), not to the rows.
A batch carries up to 10 of those requests as actions. Asana still counts every action against
the quota and the concurrency limit (`rate_limit.actions_in` paces them so), so the quota cost is
unchanged; the HTTP requests, and their CPU, drop tenfold.

The batch is posted through the same client and retrying session as every other request: a 429
or 5xx of the whole batch is retried by dlt's session. Each action's result is then read as its
direct request would be: 404, 402 and 403 skip that listing with the same warning, 401 stops the
run with the same line, any other failure (a 429 or 5xx of one action, a 400) is repeated as a
direct request, which carries dlt's retries and the error policy of `AsanaClient.pages`. A
result with a `next_page` continues with `AsanaClient.pages` from that offset.
"""

import threading
from typing import Any, Dict, Iterator, List, NamedTuple, Optional, Sequence, Set, Tuple, TypeVar

from dlt.common import logger
from requests import ConnectionError as RequestsConnectionError
from requests import Response, Timeout

from .errors import SKIP_REASONS, AsanaMalformedResponse, AsanaSourceError, auth_error, error_text
from .helpers import AsanaClient, body_of, error_message
from .settings import PAGE_SIZE

MAX_BATCH_SIZE = 10  # Asana: "The maximum number of actions allowed in a single batch request is 10"

_BATCH_HELP = "or set batch_size = 1 under [sources.asana_dlt] in .dlt/config.toml to read without Asana's batch API"


T = TypeVar("T")


def in_batches(client: AsanaClient, items: Sequence[T]) -> Iterator[Sequence[T]]:
    """`items` in groups of one batch request each (`client.batch_size`, at most Asana's 10)."""
    size = max(1, min(client.batch_size, MAX_BATCH_SIZE))
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Listing(NamedTuple):
    """One listing to read whole: its path below the base URL, and how warnings name it."""

    path: str
    what: str


def each_listing(
    client: AsanaClient, listings: Sequence[Listing], fields: Sequence[str]
) -> Iterator[Tuple[Listing, List[Dict[str, Any]]]]:
    """Every record of each listing, listing by listing, in order; `client.batch_size` at a time.

    Args:
        client: The run's client; its `batch_size` says how many listings share a batch (1:
            each is a direct request, as `AsanaClient.pages` makes it).
        listings: Listings of one kind, asked for the same `fields`.
        fields: The `opt_fields` of every listing.

    A listing Asana skipped (404, 402, 403, with a warning) comes back with no records.
    """
    for group in in_batches(client, listings):
        if len(group) == 1:  # a batch of one costs the same request and reads worse in logs
            yield group[0], _direct(client, group[0], fields)
            continue
        for listing, result in zip(group, _post(client, group, fields)):
            yield listing, _read_result(client, listing, result, fields)


class _Group:
    def __init__(self, listings: Sequence[Listing]) -> None:
        self.listings = listings
        self.lock = threading.Lock()
        self.records: Optional[Dict[str, List[Dict[str, Any]]]] = None


class PlannedListings:
    """Listings known in advance but asked for one at a time from parallel transformer calls
    (sections, per project): planned in groups of `client.batch_size`, each group is read in one
    batch request by whichever member asks first, and the others find their records waiting.

    No timer and no waiting for members that never ask: a group is fixed when planned. Read
    records are handed out once and dropped, so only groups being read are held in memory.
    """

    def __init__(self, client: AsanaClient, fields: Sequence[str]) -> None:
        self.client, self.fields = client, fields
        self._groups: Dict[str, _Group] = {}
        self._lock = threading.Lock()

    def plan(self, listings: Sequence[Listing]) -> None:
        """These listings will each be asked for (a listing asked without a plan is read alone)."""
        with self._lock:
            for members in in_batches(self.client, listings):
                group = _Group(members)
                self._groups.update((listing.path, group) for listing in group.listings)

    def records(self, listing: Listing) -> List[Dict[str, Any]]:
        """Every record of one listing, from its group's batch (read now if no member did yet)."""
        with self._lock:
            group = self._groups.pop(listing.path, None)
        if group is None:
            return _direct(self.client, listing, self.fields)
        with group.lock:
            if group.records is None:
                group.records = {done.path: found for done, found in each_listing(self.client, group.listings, self.fields)}
            return group.records.pop(listing.path)


def _direct(client: AsanaClient, listing: Listing, fields: Sequence[str], **continued: Any) -> List[Dict[str, Any]]:
    records: List[Dict[str, Any]] = []
    for page in client.pages(listing.path, fields, listing.what, **continued):
        records.extend(page)
    return records


def _post(client: AsanaClient, group: Sequence[Listing], fields: Sequence[str]) -> List[Dict[str, Any]]:
    """One `POST /batch` for the first pages of these listings; the results, one per action."""
    options = {"limit": PAGE_SIZE, "fields": list(fields)}
    actions = [{"method": "get", "relative_path": listing.path, "options": options} for listing in group]

    try:
        response = client.call(
            "/batch", method="POST", json={"data": {"actions": actions}}, actions=len(actions), check=whole_batch
        )
    except (RequestsConnectionError, Timeout) as exc:
        raise client.unreachable(exc) from None
    body = body_of(response)
    results = body.get("data") if isinstance(body, dict) else None
    if not isinstance(results, list) or len(results) != len(actions) or not all(isinstance(r, dict) for r in results):
        raise AsanaMalformedResponse(
            f"Asana answered POST /batch without one result per action ({group[0].what} and"
            f" {len(group) - 1} more); nothing was loaded. Check base_url (it must end in /api/1.0) and retry, {_BATCH_HELP}."
        )
    return results


def whole_batch(response: Response) -> None:
    """Statuses of the batch request itself: 429 and 5xx go to dlt's retries as `HTTPError`s;
    401 stops the run as any request's would; any other refusal stops it with one line."""
    status = response.status_code
    if status < 400:
        return
    if status == 401:
        raise auth_error(401, error_message(response))
    if status == 429 or status >= 500:
        response.raise_for_status()
    raise AsanaSourceError(f"Asana refused a batch request ({status}: {error_message(response)}); retry later, {_BATCH_HELP}.")


def _read_result(
    client: AsanaClient, listing: Listing, result: Dict[str, Any], fields: Sequence[str]
) -> List[Dict[str, Any]]:
    """One action's result, under the error policy of its direct request."""
    status, body = result.get("status_code"), result.get("body")
    if status == 401:
        raise auth_error(401, error_text(body) or "Not Authorized")
    if status in SKIP_REASONS:
        said = error_text(body)
        logger.warning(f"Skipping {listing.what}: {SKIP_REASONS[status]} (Asana said {status}: {said}).")
        return []
    if status != 200:  # a 429 or 5xx of this action, a 400: its direct request has the retries and the policy
        return _direct(client, listing, fields)
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise AsanaMalformedResponse(
            f"Asana answered {listing.what} in a batch without a 'data' list; nothing was loaded."
            f" Check base_url (it must end in /api/1.0) and retry, {_BATCH_HELP}."
        )
    client.count("Asana pages")
    records = list(data)
    seen: Set[str] = {r["gid"] for r in records if r.get("gid") is not None}
    offset = ((body.get("next_page") or {}) if isinstance(body.get("next_page"), dict) else {}).get("offset")
    if offset:
        records.extend(_direct(client, listing, fields, start_offset=str(offset), seen=seen))
    return records
