"""Tables listed whole, written only when their content changed (in a `Session`, follow mode).

Every run lists the small tables (projects, sections, users, the catalog's) whole and replaces
them: simple, and what Asana deleted disappears. In a process loading every few minutes, writing
thirty unchanged tables again is most of an idle run's cost. So in a session each such table is
fingerprinted per parent (a project's sections, a workspace's users) and written only when a
fingerprint, or the set of parents, differs from what the session last wrote:

- dlt truncates a replace table whose resource yielded nothing, unless its write disposition is
  a function of the item, which dlt cannot evaluate without an item; in a session these
  resources get such dynamic hints (`dynamic_hints`), always answering `replace`.
- A table filled by one call (everything fed by the workspaces' page) decides at the end of
  that call. A parent table whose rows are unchanged still hands its records to its children,
  inside empty `Parents` pages: an empty page writes no row, and dlt passes it on as it is.
- A table filled by many calls (a project's sections, a team's memberships) holds its rows
  until it knows: a part that changed writes everything held and every later part; when the
  last part is in (each parent ends with a `Done` page saying how many records it sent), an
  unchanged table writes nothing.
"""

import hashlib
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Set, Tuple

from dlt.common import json

from .session import Session

Rows = List[Dict[str, Any]]
Feed = Tuple[str, str]  # (the resource that writes the table, the resource that feeds it)


class Parents(List[Dict[str, Any]]):
    """An empty page of a parent resource carrying records its children read but its unchanged
    table does not get."""

    def __init__(self, records: Rows) -> None:
        super().__init__()
        self.records = records


class Done(List[Dict[str, Any]]):
    """The last page of a parent resource in a session: how many records it handed on."""

    def __init__(self, parent: str, records: int) -> None:
        super().__init__()
        self.parent, self.records = parent, records


def records_of(page: Any) -> Rows:
    """The records a page of a parent resource hands to a child: its rows, or those it carries."""
    if isinstance(page, Parents):
        return page.records
    if isinstance(page, Done):
        return []
    return page if isinstance(page, list) else [page]


def fingerprint(rows: Rows) -> str:
    """What a part of a table holds, in a few bytes (rows as Asana listed them, in order)."""
    return hashlib.blake2b(json.dumpb(rows), digest_size=12).hexdigest()


def dynamic_hints(table: str) -> Dict[str, Any]:
    """Hints that keep dlt from truncating a replace table its resource left without rows."""
    return {"table_name": lambda _item: table, "write_disposition": lambda _item: "replace"}


@dataclass
class _Table:
    written: Dict[str, str]  # what the session last wrote: key -> fingerprint
    fingerprints: Dict[str, str] = field(default_factory=dict)
    held: Rows = field(default_factory=list)
    offered: Counter = field(default_factory=Counter)  # parent records offered, per feed
    announced: Dict[Feed, int] = field(default_factory=dict)
    changed: bool = False
    writing: bool = False
    settled: bool = False


class UnchangedTables:
    """Decides, per run, which tables listed whole are written; shared by the run's threads.

    Args:
        session: What earlier runs of this process wrote.
        feeds: For each table filled by many calls, the (writer, parent) resource pairs that fill it.
        selected: The resources this run loads (dlt's selection), None when unknown.
    """

    def __init__(self, session: Session, feeds: Dict[str, List[Feed]], selected: Callable[[], Optional[Set[str]]]) -> None:
        self.session, self.feeds, self.selected = session, feeds, selected
        self._lock = threading.Lock()
        self._tables: Dict[str, _Table] = {}

    def _table(self, name: str) -> _Table:
        if name not in self._tables:
            self._tables[name] = _Table(self.session.written(name))
        return self._tables[name]

    def whole(self, table: str, parts: Dict[str, Rows]) -> Optional[Rows]:
        """A table filled by one call, by parent key: its rows to write, or None when unchanged."""
        prints = {key: fingerprint(rows) for key, rows in parts.items()}
        self.session.wrote(table, prints)
        if prints == self.session.written(table):
            return None
        return [row for rows in parts.values() for row in rows]

    def part(self, table: str, feed: Feed, key: str, rows: Rows, kept: bool = False) -> Rows:
        """One parent's part of a table filled by many calls: the rows to write now (maybe none).

        `kept`: the rows are the loaded ones (no event says they changed), read back from the
        warehouse in another shape: they count as what was written.
        """
        with self._lock:
            state = self._table(table)
            state.fingerprints[key] = state.written.get(key, "") if kept else fingerprint(rows)
            state.offered[feed] += 1
            if state.writing:
                out = rows
            else:
                state.held.extend(rows)
                state.changed = state.changed or state.written.get(key) != state.fingerprints[key]
                out = []
            return out + self._settle(table, state)

    def done(self, table: str, feed: Feed, records: int) -> Rows:
        """A parent of the table handed on all its records: the rows to write now (maybe none)."""
        with self._lock:
            state = self._table(table)
            state.announced[feed] = records
            return self._settle(table, state)

    def _settle(self, table: str, state: _Table) -> Rows:
        complete = self._complete(table, state)
        if complete and not state.settled:
            state.settled = True
            state.changed = state.changed or set(state.fingerprints) != set(state.written)
            self.session.wrote(table, state.fingerprints)
        if state.changed and not state.writing:
            state.writing = True
            out, state.held = state.held, []
            return out
        if complete and not state.changed:
            state.held = []
        return []

    def _complete(self, table: str, state: _Table) -> bool:
        selected = self.selected()
        for feed in self.feeds.get(table, ()):
            writer, _parent = feed
            if selected is not None and writer not in selected:
                continue
            if feed not in state.announced or state.offered[feed] < state.announced[feed]:
                return False
        return True


def feeds_of(edges: Iterable[Tuple[str, str, str]]) -> Dict[str, List[Feed]]:
    """`{table: [(writer, parent), ...]}` from (writer resource, its table, its parent resource)."""
    found: Dict[str, List[Feed]] = {}
    for writer, table, parent in edges:
        found.setdefault(table, []).append((writer, parent))
    return found


# Parents whose children list once per parent record; in a session they end with a `Done` page.
MANY_CALL_PARENTS = ("projects", "teams", "portfolios", "goals")


def whole_pages(
    gate: Optional[UnchangedTables], table: str, parts: Dict[str, Rows], parent: bool = False, one_by_one: bool = False,
    together: Optional[Callable[[Dict[str, Any]], bool]] = None,
) -> Iterator[Any]:
    """What a resource filling a table in one call yields: its rows (one page, or record by
    record), or in a session, unchanged, nothing; a parent hands its records on either way.

    `together`: with `one_by_one`, the records its children need no request for go down in one
    page after the others: in a session's run for a few changed projects, a thousand quiet ones
    would otherwise cost dlt seconds of passing items to threads that have nothing to do."""
    rows = [row for part in parts.values() for row in part]
    written = rows if gate is None else gate.whole(table, parts)
    if written is not None or parent:
        yield from _pages(written, rows, one_by_one, together)
    if parent and gate is not None and table in MANY_CALL_PARENTS:
        yield Done(table, len(rows))


def _pages(written: Optional[Rows], rows: Rows, one_by_one: bool, together: Optional[Callable[[Dict[str, Any]], bool]]) -> Iterator[Any]:
    """The rows written (or, unchanged, `Parents` pages carrying them), as one page or one by one."""
    if not one_by_one:
        yield written if written is not None else Parents(rows)
        return
    handed = written if written is not None else rows
    grouped: Rows = []
    alone: Rows = []
    for row in handed:
        (grouped if together is not None and together(row) else alone).append(row)
    yield from (alone if written is not None else [Parents([row]) for row in alone])
    if grouped:
        yield grouped if written is not None else Parents(grouped)


def part_rows(gate: Optional[UnchangedTables], table: str, feed: Feed, key: str, rows: Rows, kept: bool = False) -> Rows:
    """One parent's part of a table filled in many calls: the rows to write now."""
    return rows if gate is None else gate.part(table, feed, key, rows, kept)


def done_rows(gate: Optional[UnchangedTables], table: str, feed: Feed, page: Any) -> Rows:
    """After a parent's last part (its `Done` page): the rows of the table still to write."""
    if gate is None or not isinstance(page, Done):
        return []
    return gate.done(table, feed, page.records)
