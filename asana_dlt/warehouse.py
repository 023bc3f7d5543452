"""What earlier runs loaded, read back from the destination: the rows only Asana's deletes need.

Asana says a task was deleted, or a reconciliation finds it gone, but not which subtasks and
stories were below it; the warehouse knows. Reads only (every change is written by dlt's merge),
through the pipeline's own SQL client, by batches of gids, so memory stays bounded by one
project's tasks even at 100k tasks and the state carries no list of gids.
"""

import threading
from typing import Any, Dict, Iterable, List, Optional, Sequence, Set, Tuple

import dlt
from dlt.destinations.exceptions import DatabaseUndefinedRelation

from .timestamps import to_asana_time

_BATCH = 500  # gids per query


def _asana_time(value: Any) -> str:
    return to_asana_time(value) if value is not None else ""


def _quoted(gids: Iterable[str]) -> str:
    return ", ".join("'" + str(g).replace("'", "''") + "'" for g in gids)


class Warehouse:
    """What earlier runs loaded, read back from the destination (rows only Asana deleted need it).

    Reads only: every change is written by dlt's merge. Queries go by batches of gids, so memory
    stays bounded by one project's tasks even at 100k tasks.
    """

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self._lock = threading.Lock()
        self._flagged: Dict[str, bool] = {}

    def _select(self, sql: str, tables: Sequence[str]) -> List[Tuple[Any, ...]]:
        pipeline = dlt.current.pipeline()
        with self._lock, pipeline.sql_client() as client:
            names = {t: client.make_qualified_table_name(t) for t in tables}
            try:
                if self.mode == "soft":
                    for table in tables:
                        if table not in self._flagged:
                            with client.execute_query(f"SELECT * FROM {names[table]} WHERE 1 = 0") as cursor:
                                self._flagged[table] = "is_deleted" in {d[0] for d in cursor.description}
                names["live"] = (
                    " AND (x.is_deleted IS NULL OR NOT x.is_deleted)" if self._flagged.get(tables[0]) else ""
                )
                return list(client.execute_sql(sql.format(**names)) or [])
            except DatabaseUndefinedRelation:
                return []  # nothing loaded yet

    def project_tasks(self, project_gid: str) -> Dict[str, str]:
        """`modified_at` of each top-level task loaded as a member of a project."""
        sql = (
            "SELECT x.gid, x.modified_at FROM {tasks} x JOIN {tasks__projects} p ON p._dlt_parent_id = x._dlt_id"
            f" WHERE p.gid = {_quoted([project_gid])} AND x.parent__gid IS NULL" + "{live}"
        )
        return {gid: _asana_time(at) for gid, at in self._select(sql, ("tasks", "tasks__projects"))}

    def descendants(self, gids: Iterable[str], parents: Optional[Dict[str, str]] = None) -> Dict[str, str]:
        """`modified_at` of every loaded subtask below these tasks, at any depth.

        `parents` collects each subtask's parent gid: the tasks a paged reconciliation would list
        subtasks of (`export.py` weighs that cost against an export's), and the trees a delete takes.
        """
        found: Dict[str, str] = {}
        level = list(gids)
        while level:
            children: List[str] = []
            for i in range(0, len(level), _BATCH):
                sql = (f"SELECT x.gid, x.modified_at, x.parent__gid FROM {{tasks}} x WHERE x.parent__gid IN"
                       f" ({_quoted(level[i:i + _BATCH])})" + "{live}")
                for gid, at, parent in self._select(sql, ("tasks",)):
                    if parents is not None:
                        parents[gid] = parent
                    if gid not in found:
                        found[gid] = _asana_time(at)
                        children.append(gid)
            level = children
        return found

    def workspace_tasks(self, workspace_gid: str) -> int:
        """How many tasks (subtasks included) are loaded from a workspace: the size of its export."""
        sql = f"SELECT count(*) FROM {{tasks}} x WHERE x.workspace__gid = {_quoted([workspace_gid])}" + "{live}"
        found = self._select(sql, ("tasks",))
        return int(found[0][0]) if found else 0

    def stories_of(self, task_gids: Iterable[str]) -> Set[str]:
        """Loaded stories of these tasks."""
        gids, found = list(task_gids), set()
        for i in range(0, len(gids), _BATCH):
            sql = f"SELECT x.gid FROM {{stories}} x WHERE x.target__gid IN ({_quoted(gids[i:i + _BATCH])})" + "{live}"
            found.update(row[0] for row in self._select(sql, ("stories",)))
        return found

    def last_known(self, table: str, gids: Iterable[str]) -> List[Dict[str, Any]]:
        """The loaded rows of these gids, child-table lists included, as dlt would read them in.

        Soft deletes replace a row by its tombstone; rebuilding the lists keeps its child-table rows.
        """
        gids = list(gids)
        if not gids:
            return []
        schema = dlt.current.pipeline().default_schema
        nested = [t for t in schema.data_table_names() if t.startswith(table + "__")]
        roots: Dict[str, Dict[str, Any]] = {}
        by_id: Dict[str, Dict[str, Any]] = {}
        for i in range(0, len(gids), _BATCH):
            for row in self._rows(f"SELECT * FROM {{t}} WHERE gid IN ({_quoted(gids[i:i + _BATCH])})", table):
                by_id[row.pop("_dlt_id")] = row
                roots[row["gid"]] = row
        for child in sorted(nested, key=len):  # parents before their children
            parent_name, key = child.rsplit("__", 1)
            ids = list(by_id)
            for i in range(0, len(ids), _BATCH):
                sql = f"SELECT * FROM {{t}} WHERE _dlt_parent_id IN ({_quoted(ids[i:i + _BATCH])}) ORDER BY _dlt_list_idx"
                for row in self._rows(sql, child):
                    parent = by_id.get(row.pop("_dlt_parent_id"))
                    if parent is None or (parent_name != table and "_asana_nested" not in parent):
                        continue
                    row_id = row.pop("_dlt_id")
                    value: Any = row["value"] if set(row) == {"value"} else row
                    parent.setdefault(key, []).append(value)
                    if isinstance(value, dict):
                        value["_asana_nested"] = True
                        by_id[row_id] = value
        for row in by_id.values():
            row.pop("_asana_nested", None)
        return list(roots.values())

    def table_rows(self, table: str) -> List[Dict[str, Any]]:
        """Every loaded row of a small table without child tables (sections), as dlt would read them in."""
        rows = self._rows("SELECT * FROM {t}", table)
        for row in rows:
            row.pop("_dlt_id", None)
        return rows

    def _rows(self, sql: str, table: str) -> List[Dict[str, Any]]:
        pipeline = dlt.current.pipeline()
        with self._lock, pipeline.sql_client() as client:
            try:
                with client.execute_query(sql.format(t=client.make_qualified_table_name(table))) as cursor:
                    names = [d[0] for d in cursor.description]
                    rows = cursor.fetchall()
            except DatabaseUndefinedRelation:
                return []
        keep = {"_dlt_id", "_dlt_parent_id"}
        return [
            {n: v for n, v in zip(names, r) if v is not None and (n in keep or not n.startswith("_dlt"))} for r in rows
        ]
