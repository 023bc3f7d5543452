"""dlt's own floor: the same pages, from memory, through plain `dlt.resource`s.

The cpu scenario compares the source's rows/s with what dlt itself reaches when nothing but
dlt runs: the listings the source requested are fetched once over raw HTTP before the clock
starts, kept in memory, and loaded by one plain resource per table (same table names, same
write dispositions, keys and column hints as the source's) into a fresh DuckDB. Only
`pipeline.run` is timed, exactly as for the source.
"""

import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, Iterator, List

import dlt
import requests

from bench.bounds import kind_of

# Listing kinds and the table their records land in (subtasks are rows of `tasks`).
TABLE_OF_KIND = {
    "workspaces": "workspaces",
    "projects": "projects",
    "sections": "sections",
    "tags": "tags",
    "teams": "teams",
    "users": "users",
    "tasks": "tasks",
    "subtasks": "tasks",
    "stories": "stories",
}
FETCH_THREADS = 16


def _catalog_tables() -> List[Any]:
    """(path pattern, endpoint) of the source's plain list resources (`settings.CATALOG`), so the
    floor loads their listings into the same tables: without them it had fewer tables to load."""
    from asana_dlt.settings import CATALOG

    return [
        (re.compile("^" + re.sub(r"\{[^}]+\}", "([^/]+)", endpoint.path) + "$"), endpoint)
        for endpoint in CATALOG
        if not endpoint.embedded_in  # cut from the parent's records, never requested
    ]


def _table_of(path: str, params: Dict[str, str], kind: str, catalog: List[Any]) -> Any:
    """(table, {link column: parent gid}) of a listing; (None, {}) for what the floor skips."""
    if kind in TABLE_OF_KIND:
        return TABLE_OF_KIND[kind], {}
    if kind == "catalog":
        for pattern, endpoint in catalog:
            found = pattern.match(path)
            if found and (endpoint.parent_param is None or endpoint.parent_param in params):
                parent = params.get(endpoint.parent_param) if endpoint.parent_param else found.group(1)
                # The source writes the parent's gid into `link` (its records do not name it).
                return endpoint.table or endpoint.name, ({endpoint.link: parent} if endpoint.link else {})
    return None, {}

_local = threading.local()


def listings_from_log(records: List[Any]) -> List[Dict[str, Any]]:
    """The distinct listings a run made (path + query without `offset`), in first-seen order.

    Args:
        records: The simulator's `RequestRecord`s of the run.
    """
    seen = set()
    out: List[Dict[str, Any]] = []
    catalog = _catalog_tables()
    for rec in records:
        params = {k: v for k, v in rec.params.items() if k != "offset"}
        table, link = _table_of(rec.path, params, kind_of(rec.path), catalog)
        if rec.method != "GET" or rec.status != 200 or table is None:
            continue  # a refused request (the search that answers a free workspace 402) listed nothing
        key = (rec.path, tuple(sorted(params.items())))
        if key not in seen:
            seen.add(key)
            out.append({"table": table, "path": rec.path, "params": params, "link": link})
    return out


def _session(token: str) -> requests.Session:
    if getattr(_local, "session", None) is None:
        _local.session = requests.Session()
        _local.session.headers["Authorization"] = f"Bearer {token}"
    return _local.session  # type: ignore[no-any-return]


def _fetch_listing(base_url: str, token: str, listing: Dict[str, Any]) -> List[List[Dict[str, Any]]]:
    """Every page of one listing, following `next_page.offset`; retries 429 and 5xx."""
    session = _session(token)
    params = dict(listing["params"])
    pages: List[List[Dict[str, Any]]] = []
    while True:
        for attempt in range(8):
            response = session.get(base_url + listing["path"], params=params, timeout=60)
            if response.status_code != 429 and response.status_code < 500:
                break
            time.sleep(float(response.headers.get("Retry-After") or 0.5 * (attempt + 1)))
        response.raise_for_status()
        body = response.json()
        for record in body["data"]:
            record.update(listing.get("link") or {})
        pages.append(body["data"])
        offset = (body.get("next_page") or {}).get("offset")
        if not offset:
            return pages
        params["offset"] = offset


def fetch_pages(base_url: str, token: str, listings: List[Dict[str, Any]]) -> Dict[str, List[List[Dict[str, Any]]]]:
    """Fetches all listings concurrently and groups their pages by table.

    Records already seen in a table (a task listed in two projects, a user of two
    workspaces) are dropped, as the source drops them, so both load the same rows.
    """
    from asana_dlt.settings import CATALOG

    embedded = [(e.parent, e.embedded_in, e.table or e.name) for e in CATALOG if e.embedded_in]
    with ThreadPoolExecutor(FETCH_THREADS) as pool:
        fetched = list(pool.map(lambda listing: _fetch_listing(base_url, token, listing), listings))
    cut_out: List[Any] = []  # records the source cuts out of their parent's, as their own listing
    for listing, pages in zip(listings, fetched):
        for parent, field_name, table in embedded:
            if listing["table"] == parent:
                cut = [[item for record in page for item in (record.pop(field_name, None) or [])] for page in pages]
                cut_out.append(({"table": table}, [page for page in cut if page]))
    listings = [*listings, *(listing for listing, _ in cut_out)]
    fetched = [*fetched, *(pages for _, pages in cut_out)]
    tables: Dict[str, List[List[Dict[str, Any]]]] = {}
    seen: Dict[str, set] = {}
    for listing, pages in zip(listings, fetched):
        table = listing["table"]
        known = seen.setdefault(table, set())
        for page in pages:
            fresh = [r for r in page if r.get("gid") not in known]
            known.update(r.get("gid") for r in fresh)
            if fresh:
                tables.setdefault(table, []).append(fresh)
    return tables


def _mirrored_hints(resource: Any) -> Dict[str, Any]:
    """The hints of one of the source's resources, in the form `apply_hints` takes."""
    hints = dict(getattr(resource, "_hints", None) or {})
    if "original_columns" in hints:
        hints["columns"] = hints["original_columns"]
    keep = ("write_disposition", "columns", "primary_key", "merge_key", "nested_hints", "schema_contract")
    return {k: hints[k] for k in keep if hints.get(k) is not None}


def _each(pages: List[List[Dict[str, Any]]]) -> Iterator[List[Dict[str, Any]]]:
    """Yields the pages as they were fetched, one list of records at a time."""
    yield from pages


def plain_source(tables: Dict[str, List[List[Dict[str, Any]]]]) -> Any:
    """One plain resource per table, yielding the in-memory pages, with the source's hints."""
    from asana_dlt import asana_source

    reference = asana_source(access_token="unused", base_url="http://unused")
    resources = []
    for table, pages in tables.items():
        plain = dlt.resource(_each(pages), name=table)
        if table in reference.resources:
            plain.apply_hints(**_mirrored_hints(reference.resources[table]))
        resources.append(plain)

    @dlt.source(name=reference.name, max_table_nesting=reference.max_table_nesting)
    def floor() -> Any:
        return resources

    return floor()


def run_floor(spec: Dict[str, Any], emit: Callable[[Dict[str, Any]], None]) -> None:
    """Fetches the pages once, then times one load per requested loader file format.

    Each format's figures are emitted as soon as its load finishes, so a later format that
    gets killed (insert_values at 100k tasks passes any sane RSS cap) loses only its own.
    """
    import json

    from bench.measure import current_rss_mb, make_pipeline, timed_run

    with open(spec["listings_file"], encoding="utf-8") as handle:
        listings = json.load(handle)
    started = time.perf_counter()
    tables = fetch_pages(spec["base_url"], spec["token"], listings)
    emit(
        {
            "listings": len(listings),
            "pages": sum(len(p) for p in tables.values()),
            "fetch_s": time.perf_counter() - started,
            "rss_with_pages_mb": current_rss_mb(),
        }
    )
    for fmt in spec.get("formats") or [spec.get("loader_format")]:
        name = f"{spec['pipeline_name']}_{fmt or 'default'}"
        run = timed_run(make_pipeline(spec["workdir"], name), plain_source(tables), fmt)
        emit({"runs": {fmt or "default": run}})
