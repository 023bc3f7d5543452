"""Per-task tables filled for every loaded task, whenever they were selected.

`stories`, `attachments` and `time_tracking_entries` list something per task, and a run lists
them only for the tasks it found new or changed. A table selected after the first run, left out
of some runs, or dropped alone would so lack every task that did not change since. The state
says which tables cover which projects (`state.SourceState.gaps`); for a gap, the project's
loaded tasks are read from the warehouse (not from Asana: their rows did not change) and handed
to the tables that lack them, as `Backfill` pages of the `tasks` resource, which load no task
row. Each table then lists them once, as on a full load (batched, within the quota).
"""

from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence

from .warehouse import Warehouse

BACKFILL_PAGE = 100  # tasks per carrier page: a few batch requests of listings each


class Backfill(List[Dict[str, Any]]):
    """An empty page of `tasks` (no row loads) carrying loaded tasks to the tables that lack them.

    Empty, because dlt's maps rebuild a non-empty page; an empty one passes through as it is.

    Attributes:
        tables: The per-task tables that lack these tasks.
        tasks: The tasks: `gid`, `modified_at`, and the project's `workspace`.
    """

    def __init__(self, tables: Sequence[str], tasks: List[Dict[str, Any]]) -> None:
        super().__init__()
        self.tables = tuple(tables)
        self.tasks = tasks

    def for_table(self, table: str) -> List[Dict[str, Any]]:
        """The tasks this page carries for one table (none when the table lacks nothing)."""
        return self.tasks if table in self.tables else []


def backfills(
    warehouse: Warehouse, project: Dict[str, Any], tables: Sequence[str], gone: Callable[[str], bool]
) -> Iterator[Backfill]:
    """The project's loaded tasks (subtasks included), a page at a time, for these tables;
    without the ones this run found deleted (`gone`)."""
    top = warehouse.project_tasks(project["gid"])
    loaded = {**top, **warehouse.descendants(list(top))}
    workspace = project.get("workspace")
    gids = sorted(gid for gid in loaded if not gone(gid))
    for start in range(0, len(gids), BACKFILL_PAGE):
        tasks = [{"gid": gid, "modified_at": loaded[gid], "workspace": workspace} for gid in gids[start : start + BACKFILL_PAGE]]
        yield Backfill(tables, tasks)


def carried(page: Any, table: str) -> Optional[List[Dict[str, Any]]]:
    """The loaded tasks a `Backfill` page carries for `table` (maybe none); None for a page of rows."""
    return page.for_table(table) if isinstance(page, Backfill) else None
