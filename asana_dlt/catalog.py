"""The one factory that turns the endpoint table in `settings.CATALOG` into dlt transformers.

Every plain list resource (custom fields, memberships, portfolios, goals, status updates, ...)
is the same program with different data: for each record of a parent resource, list one
endpoint with the parent's gid in its path or query, and yield the pages. What varies is
configuration, as in dlt's `rest_api`; what is Asana-specific lives here:

- plan-gated endpoints (402, or 403 for Enterprise) warn once per resource and run, name the
  plan they need, and are not asked again in that workspace: everything else loads;
- per-task resources list only the tasks this run found new or changed, which the `tasks`
  resource already decides (`RunMemory.take_changed`), so an incremental run costs nothing for the rest;
- append-only listings (the audit log) keep one cursor per parent in the resource's state;
- records the parent listing already holds (a project's custom field settings) are cut from the
  parent's records before it loads (`detach`) and cost no request.
"""

import threading
from typing import Any, Dict, Iterator, List, Optional, Sequence, Set, Tuple

import dlt
from dlt.common import logger
from dlt.common.typing import TDataItems
from dlt.extract.resource import DltResource

from .coverage import carried
from .errors import PlanRequired, named
from .export.rows import exported_children
from .helpers import AsanaClient
from .hints import columns, nested
from .memory import RunMemory
from .references import by_gid
from .settings import PAGE_SIZE, PLAN_ENTERPRISE, Endpoint
from .state import SourceState
from .unchanged import MANY_CALL_PARENTS, UnchangedTables, done_rows, part_rows, records_of, whole_pages

# Statuses that mean "your plan lacks this endpoint" rather than "this one object is out of reach":
# Enterprise-only endpoints answer other plans' tokens 403 (402 without any paid plan), the rest 402.
_PLAN_STATUSES: Dict[str, Tuple[int, ...]] = {PLAN_ENTERPRISE: (402, 403)}


class PlanGate:
    """Remembers which resources the account's plan lacks, per workspace, for one run.

    The first listing of a plan-gated resource in a workspace is a probe: the others (a
    hundred tasks' time tracking, say) wait for its answer instead of each meeting a 402.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._states: Dict[Tuple[str, str], Any] = {}  # "open", "closed", or the probe's Event
        self._warned: Set[str] = set()

    def turn(self, key: Tuple[str, str]) -> str:
        """"probe" for the first caller of a key, then "open" or "closed" once it is known."""
        with self._lock:
            state = self._states.get(key)
            if state is None:
                self._states[key] = threading.Event()
                return "probe"
        if isinstance(state, threading.Event):
            state.wait()
            with self._lock:
                state = self._states[key]
        return str(state)

    def settle(self, key: Tuple[str, str], is_open: bool) -> None:
        """Records the probe's answer and lets the waiting listings go."""
        with self._lock:
            probe = self._states.get(key)
            self._states[key] = "open" if is_open else "closed"
        if isinstance(probe, threading.Event):
            probe.set()

    def close(self, endpoint: Endpoint, workspace_gid: str, exc: PlanRequired) -> None:
        """Stops asking in this workspace; the first refusal of a run is logged, once."""
        name = endpoint.table or endpoint.name
        self.settle((endpoint.name, workspace_gid), False)
        with self._lock:
            first = name not in self._warned
            self._warned.add(name)
        if first:
            logger.warning(
                f"Not loading {name}: Asana answered {exc.status} ({exc.message}); it needs {endpoint.plan}."
                " Everything else loads; deselect it to silence this warning."
            )


def _workspace_of(record: Dict[str, Any]) -> str:
    """The workspace a parent record belongs to: plans, hence 402s, are per workspace."""
    if record.get("resource_type") == "workspace":
        return str(record["gid"])
    owner = record.get("workspace") or record.get("organization") or {}
    return str(owner.get("gid", "")) if isinstance(owner, dict) else ""


class Catalog:
    """Builds the catalog's resources for one source run, sharing its client, memory and state.

    Args:
        client: The run's one REST client.
        memory: What this run took; which tasks it found new or changed (per-task resources).
        state: The source's state (the cursors of append-only listings).
        unchanged: In a session, which tables listed whole are written (`unchanged.py`).
    """

    def __init__(
        self, client: AsanaClient, memory: RunMemory, state: SourceState, unchanged: Optional[UnchangedTables] = None
    ) -> None:
        self.client = client
        self.memory = memory
        self.state = state
        self.unchanged = unchanged
        self.gate = PlanGate()
        self._detached: Dict[Tuple[str, str], List[Dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def detach(self, parent: str, records: List[Dict[str, Any]], endpoints: Sequence[Endpoint]) -> List[Dict[str, Any]]:
        """Cuts embedded child records out of a parent's page, for their own tables.

        Called by the parent resource before it yields, so the parent's table never gets them
        as a child table and the child resource finds them without a request.
        """
        embedded = [e for e in endpoints if e.parent == parent and e.embedded_in]
        with self._lock:
            for record in records:
                for endpoint in embedded:
                    self._detached[(endpoint.name, str(record["gid"]))] = record.pop(endpoint.embedded_in, None) or []
        return records

    def build(self, endpoints: Sequence[Endpoint], parents: Dict[str, DltResource]) -> List[DltResource]:
        """One transformer per endpoint; an endpoint may feed a later one (portfolios -> items)."""
        built: List[DltResource] = []
        for endpoint in endpoints:
            resource = self.resource(endpoint, parents[endpoint.parent])
            parents[endpoint.name] = resource
            built.append(resource)
        return built

    def resource(self, endpoint: Endpoint, parent: DltResource) -> DltResource:
        """The dlt transformer of one endpoint, fed by its parent resource."""
        hints = endpoint.fields + endpoint.returned
        typed = columns(hints)
        if endpoint.link:
            typed[endpoint.link] = {"data_type": "text", "nullable": False}
        listing = self._per_task if endpoint.per_task else self._per_parent

        def rows(parent_data: TDataItems) -> Iterator[Any]:
            backfill = carried(parent_data, endpoint.name) if endpoint.per_task else None
            if backfill is not None:  # loaded tasks this table lacks (`coverage.py`)
                for task in backfill:
                    if self.memory.take_backfill(endpoint.name, task["gid"]):
                        yield _collect(self, endpoint, task)
                return
            exported = exported_children(parent_data, endpoint.name) if endpoint.per_task else None
            if exported is not None:  # carried by a page of a full load by export
                if exported:
                    yield exported
                return
            if endpoint.write_disposition == "replace":
                yield from self._whole(endpoint, parent_data)
                return
            for record in records_of(parent_data):
                yield from listing(endpoint, record)

        transformer = dlt.transformer(
            rows,
            data_from=parent,
            name=endpoint.name,
            table_name=endpoint.table or endpoint.name,
            write_disposition=endpoint.write_disposition,  # type: ignore[arg-type]
            primary_key=list(endpoint.primary_key),
            columns=typed,
            nested_hints=nested(hints),
            selected=endpoint.selected,
            parallelized=not endpoint.per_task,
        )
        if endpoint.per_task:  # kept until the task changes: references by gid (references.py)
            transformer.add_map(by_gid)
        return transformer  # type: ignore[no-any-return]

    def _whole(self, endpoint: Endpoint, parent_data: Any) -> Iterator[Any]:
        """A table listed whole: in one call when fed by the workspaces' page, else a part per
        parent record (in a session, written only when changed: `unchanged.py`)."""
        if self.unchanged is not None and not self.unchanged.session.full:
            return  # a session's run for changed tasks: kept as last written until its next full run
        table = endpoint.table or endpoint.name
        records = records_of(parent_data)
        if endpoint.parent not in MANY_CALL_PARENTS:
            parts = {str(r["gid"]): [row for page in self._per_parent(endpoint, r) for row in page] for r in records}
            yield from whole_pages(self.unchanged, table, parts, parent=endpoint.name in MANY_CALL_PARENTS)
            return
        feed = (endpoint.name, endpoint.parent)
        # A full run of a big organization's follow mode lists some parents' parts, keeps the rest
        # (`Session.due`); a part cut from the parent's own record costs nothing and is always read.
        session = self.unchanged.session if self.unchanged is not None and not endpoint.embedded_in else None
        listed: Dict[str, List[Dict[str, Any]]] = {}
        for record in records:
            key = str(record["gid"])
            kept = None if session is None or session.due(table, key) else session.held(table, key)
            if kept is None:
                listed[key] = [row for page in self._per_parent(endpoint, record) for row in page]
            written = part_rows(self.unchanged, table, feed, key, listed.get(key, kept or []), kept=kept is not None)
            if written:
                yield written
        if session is not None:
            session.hold(table, listed, (str(r["gid"]) for r in records))
        rest = done_rows(self.unchanged, table, feed, parent_data)
        if rest:
            yield rest

    def _per_parent(self, endpoint: Endpoint, record: Dict[str, Any]) -> Iterator[List[Dict[str, Any]]]:
        if endpoint.only_organizations and not record.get("is_organization"):
            return
        if endpoint.embedded_in:
            with self._lock:
                rows = self._detached.pop((endpoint.name, str(record["gid"])), [])
            if rows:
                yield rows
            return
        yield from self.listing(endpoint, record)

    def _per_task(self, endpoint: Endpoint, task: Dict[str, Any]) -> Iterator[Any]:
        if self.memory.take_changed(endpoint.name, task["gid"]):
            yield _collect(self, endpoint, task)

    def listing(self, endpoint: Endpoint, record: Dict[str, Any]) -> Iterator[List[Dict[str, Any]]]:
        """The pages of one endpoint for one parent record, linked and gated by plan."""
        workspace = _workspace_of(record)
        key = (endpoint.name, workspace)
        turn = self.gate.turn(key) if endpoint.plan else "open"
        if turn == "closed":
            return
        gid = str(record["gid"])
        path = _fill(endpoint.path, gid)
        params = dict(endpoint.params)
        if endpoint.parent_param:
            params[endpoint.parent_param] = gid
        since = self.state.listing_since(endpoint.name, gid) if endpoint.cursor else None
        if endpoint.cursor and since:
            params[endpoint.cursor[1]] = since
        what = f"{endpoint.table or endpoint.name} of {record.get('resource_type', 'object')} {named(record)}"
        statuses = _PLAN_STATUSES.get(endpoint.plan, (402,)) if endpoint.plan else ()
        newest = since or ""  # the newest record of an append-only listing
        try:
            for page in self.client.pages(path, endpoint.fields, what, params, plan_statuses=statuses):
                if turn == "probe":
                    self.gate.settle(key, True)
                    turn = "open"
                if endpoint.link:
                    for row in page:
                        row[endpoint.link] = gid
                if endpoint.cursor:
                    newest = max([newest, *(str(r.get(endpoint.cursor[0]) or "") for r in page)])
                if page:
                    yield page
                if endpoint.cursor and len(page) < PAGE_SIZE:
                    # A stream (the audit log) offers a next page forever; a short page is its
                    # present end, and the next run resumes from the cursor.
                    break
        except PlanRequired as exc:
            self.gate.close(endpoint, workspace, exc)
            turn = "closed"
            return
        finally:
            if turn == "probe":  # no answer either way (an error, or a listing skipped): don't block others
                self.gate.settle(key, True)
        if endpoint.cursor:
            self.state.listing_read(endpoint.name, gid, newest)


@dlt.defer
def _collect(catalog: Catalog, endpoint: Endpoint, record: Dict[str, Any]) -> List[Dict[str, Any]]:
    """One task's listing, fetched in dlt's worker pool beside other tasks'."""
    collected: List[Dict[str, Any]] = []
    for page in catalog.listing(endpoint, record):
        collected.extend(page)
    return collected


def _fill(path: str, gid: str) -> str:
    """Puts the parent's gid into the path's one `{..._gid}` placeholder, if it has one."""
    start = path.find("{")
    return path if start < 0 else path[:start] + gid + path[path.index("}", start) + 1 :]
