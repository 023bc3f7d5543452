"""Cutting an export file's lines into the rows the paged API gives (`tasks`, `stories`,
`attachments`), so both paths land the same tables."""

from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from ..settings import EXPORT_PAGE_SIZE


class ExportedTask(Dict[str, Any]):
    """An exported task row that carries the rows of its child tables (`stories`, `attachments`).

    The row goes to the `tasks` table (the attribute is not a column); dlt hands the same dict
    to the `stories` and `attachments` transformers (its maps rebuild pages, never rows), which
    take their rows from it: nothing is held beyond the task's own lifetime.
    """

    def __init__(self, row: Dict[str, Any], children: Dict[str, List[Dict[str, Any]]], changed: bool = True) -> None:
        super().__init__(row)
        self.children = children
        self.changed = changed  # False: a reconciliation found it as loaded (its row only, no children)


ExportPage = List[ExportedTask]


# What a filter says of one exported task: None leaves it out, False keeps its row only (loaded
# as it is), True keeps its row with stories and attachments (new or changed).
Keep = Callable[[Dict[str, Any], Optional[str]], Optional[bool]]


def rows_of(
    lines: Iterator[Dict[str, Any]], stories_from: Optional[str] = None, keep: Optional[Keep] = None
) -> Iterator[ExportPage]:
    """Cuts export lines into pages of task rows carrying their stories and attachments.

    Subtasks may come as lines of their own or nested in their parent's `subtasks` (Asana does
    not say which); both become task rows. A nested parent the filters left out comes as a stub
    (`gid` and `resource_type` only) and gives no row. Stories of tasks modified before
    `stories_from` are left out, as the paged load leaves them. `keep` (a reconciliation's)
    is asked for each task with its parent's gid.
    """
    page: ExportPage = []
    for line in lines:
        if line.get("resource_type") != "task":
            continue
        stack: List[Tuple[Dict[str, Any], Optional[str]]] = [(line, (line.get("parent") or {}).get("gid"))]
        while stack:
            task, parent = stack.pop()
            stack.extend((sub, task["gid"]) for sub in task.pop("subtasks", None) or ())
            stories = task.pop("stories", None) or []
            attachments = task.pop("attachments", None) or []
            if set(task) <= {"gid", "resource_type"}:
                continue
            changed = True if keep is None else keep(task, parent)
            if changed is None:
                continue
            if not changed:
                attachments = []
            if stories_from is not None and (task.get("modified_at") or "") < stories_from:
                stories = []
            page.append(ExportedTask(task, {"stories": stories, "attachments": attachments}, changed))
        if len(page) >= EXPORT_PAGE_SIZE:
            yield page
            page = []
    if page:
        yield page


def exported_children(page: Any, table: str) -> Optional[List[Dict[str, Any]]]:
    """The rows of a child table carried by a page of exported tasks, or None for a paged-API page."""
    if not isinstance(page, list) or not page or not isinstance(page[0], ExportedTask):
        return None
    if table not in page[0].children:
        return None
    rows: List[Dict[str, Any]] = []
    for task in page:
        rows.extend(task.children.pop(table, None) or ())
    return rows
